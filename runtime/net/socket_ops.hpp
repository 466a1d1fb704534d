// socket_ops: the socket system calls whose spelling differs between Linux
// and macOS/BSD, and the error helper every socket call throws through.
//
// Every descriptor spindle creates is non-blocking and close-on-exec from the
// start (atomically where the platform can: SOCK_NONBLOCK | SOCK_CLOEXEC,
// accept4), and never raises SIGPIPE (MSG_NOSIGNAL on every send where it
// exists, SO_NOSIGPIPE on the socket where it does not).
#pragma once

#include <sys/socket.h>

#include <spindle/net/endpoint.hpp>
#include <string>
#include <system_error>

namespace spindle::detail {

// The calling thread's errno, looked up afresh. Read errno through this in
// any function that can suspend: a fiber may resume on another thread, and
// glibc declares __errno_location() const, so the compiler may keep the
// first thread's errno address across a wait (or hoist it out of a retry
// loop) and read another thread's errno. Out of line, so it cannot be.
int last_error() noexcept;

// Throws std::system_error(err, std::generic_category(), what).
[[noreturn]] void throw_errno(int err, const char* what);
[[noreturn]] void throw_errno(int err, const std::string& what);

// Runs f(), storing a std::system_error it throws in `ec` instead (cleared
// first); other exceptions propagate. How every error_code overload of the
// socket calls is made from the throwing form: one IO path, not two.
template <class F>
void into_error_code(std::error_code& ec, F&& f) {
  ec.clear();
  try {
    f();
  } catch (const std::system_error& e) {
    ec = e.code();
  }
}

// A new non-blocking, close-on-exec socket; throws std::system_error.
int open_socket(int family, int type, const char* what);

// Accepts one pending connection as a non-blocking, close-on-exec socket;
// -1 with errno set when there is none or accept failed.
int accept_socket(int listen_fd) noexcept;

// The flags for send()/sendto().
#ifdef MSG_NOSIGNAL
inline constexpr int send_flags = MSG_NOSIGNAL;
#else
inline constexpr int send_flags = 0;  // SO_NOSIGPIPE is set on the socket instead
#endif

// setsockopt of an int option; throws std::system_error.
void set_int_option(int fd, int level, int name, int value, const char* what);

// getsockname / getpeername; throw std::system_error.
net::endpoint local_endpoint_of(int fd, const char* what);
net::endpoint peer_endpoint_of(int fd, const char* what);

}  // namespace spindle::detail
