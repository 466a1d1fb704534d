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
// errno value as a std::generic_category() code.
//
// What ends a wait: the descriptor becoming ready (or reporting an error or a
// hang-up); the timeout; and, in a fiber, its runtime shutting down
// (~runtime() unwinds it) or a close() of a spindle socket that owns the
// descriptor and is registered with the same runtime, having waited there
// itself (std::errc::operation_canceled). Nothing else: closing the
// descriptor does NOT end a wait, as epoll drops a closed descriptor without
// a word and poll(2) does not see a close() made on another thread; the wait
// lasts until its timeout, or for ever. Keep the descriptor open until the
// wait returns (its number could also be given to another socket meanwhile).
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
