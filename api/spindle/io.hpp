// spindle::io: readiness waits for any non-blocking descriptor, so that code
// spindle does not own (a database client, a pipe, a terminal) can be driven
// from fibers:
//
//   fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
//   while (read(fd, buf, n) < 0 && errno == EAGAIN) {
//     if (!spindle::io::wait_readable(fd, 5s)) throw timeout_error();
//   }
//
// In a fiber only the fiber waits (the descriptor is registered with the
// runtime's reactor while waits on it are in progress; several fibers may
// wait on one descriptor at once, each returns when it is ready); on a plain
// thread the call is poll(2). Either way the answer is poll's: a descriptor
// that is ready when the wait starts is reported at once, and a regular file
// is always ready. A readiness report means the next system call will not
// block or will report an error; it may also be spurious, so always retry
// the call and wait again on EAGAIN. Errors throw std::system_error with the
// errno value as a std::generic_category() code; a wait on the descriptor of
// a spindle socket that is closed meanwhile throws
// std::errc::operation_canceled. The descriptor must stay open during the wait.
#pragma once

#include <chrono>
#include <spindle/detail/deadline.hpp>

namespace spindle::io {

// Wait at most `timeout` (rounded up; never returns false early); true when
// ready, false on timeout. A `timeout` <= 0 polls once; one beyond
// steady_clock's range waits without limit; NaN throws std::invalid_argument.
bool wait_readable_for(int fd, detail::clock::duration timeout);
bool wait_writable_for(int fd, detail::clock::duration timeout);

template <class Rep, class Period>
bool wait_readable(int fd, const std::chrono::duration<Rep, Period>& timeout) {
  return wait_readable_for(fd, detail::to_clock_duration(timeout));
}

template <class Rep, class Period>
bool wait_writable(int fd, const std::chrono::duration<Rep, Period>& timeout) {
  return wait_writable_for(fd, detail::to_clock_duration(timeout));
}

// Without a time limit.
void wait_readable(int fd);
void wait_writable(int fd);

}  // namespace spindle::io
