// socket_ops: the socket system calls whose spelling differs between Linux
// and macOS/BSD, and how the error_code overloads are made from the throwing
// calls. Errors are thrown through io/errors.hpp, as every IO call does.
//
// Every descriptor spindle creates is non-blocking and close-on-exec from the
// start (atomically where the platform can: SOCK_NONBLOCK | SOCK_CLOEXEC,
// accept4), and never raises SIGPIPE (MSG_NOSIGNAL on every send where it
// exists, SO_NOSIGPIPE on the socket where it does not).
#pragma once

#include <sys/socket.h>

#include <spindle/cancelled.hpp>
#include <spindle/net/endpoint.hpp>
#include <system_error>

#include "io/errors.hpp"

namespace spindle::detail {

// Runs f(), storing a std::system_error it throws in `ec` instead (cleared
// first); other exceptions propagate. How every error_code overload of the
// socket calls is made from the throwing form: one IO path, not two.
template <class F>
void into_error_code(std::error_code& ec, F&& f) {
  ec.clear();
  try {
    f();
  } catch (const spindle::cancelled&) {
    throw;  // cancellation is not a socket error: every wait throws it
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

// A socket address as the kernel returns it (getsockname, getpeername,
// recvfrom): room for any family, and the length it filled.
struct socket_address {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;

  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage); }
  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  // As an endpoint type (net::endpoint, net::unix_endpoint).
  template <class Endpoint>
  Endpoint as() const {
    return Endpoint::from_sockaddr(get(), len);
  }
};

// getsockname / getpeername; throw std::system_error.
socket_address local_address_of(int fd, const char* what);
socket_address peer_address_of(int fd, const char* what);

template <class Endpoint>
Endpoint local_endpoint_of(int fd, const char* what) {
  return local_address_of(fd, what).as<Endpoint>();
}
template <class Endpoint>
Endpoint peer_endpoint_of(int fd, const char* what) {
  return peer_address_of(fd, what).as<Endpoint>();
}

// socketpair() of two connected non-blocking, close-on-exec sockets, into
// `fds`; throws std::system_error.
void open_socket_pair(int family, int type, int (&fds)[2], const char* what);

}  // namespace spindle::detail
