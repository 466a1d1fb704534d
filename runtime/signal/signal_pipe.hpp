// signal_pipe: the async-signal-safe half of spindle::signal_set — the
// handler that catches a signal, and the pipe through which it tells the hub
// thread (signal_hub.hpp) about it.
//
// The handler does only what a handler may (async-signal-safe): lock-free
// atomics and one write(2) to a non-blocking pipe, keeping errno. It writes
// the signal's number as one byte, and only when that signal's `raised` flag
// goes from false to true; next() clears the flag when it reads the byte. So
// each signal has at most one unread byte (the pipe never fills, whatever
// the signal rate), a burst of one signal costs one byte, and different
// signals reach the hub in the order they were caught.
//
// Lifetime: at most one signal_pipe exists at a time (the hub's; it owns the
// handler's global state). The handler can run on any thread at any moment,
// also just after the last disposition was restored (a delivery already
// under way). So the destructor first withdraws the write end from the
// handler, then waits until no handler is between reading it and writing to
// it, and only then closes: a late handler never writes into a closed, or a
// reused, descriptor.
#pragma once

#include <signal.h>

namespace spindle::detail {

class signal_pipe {
 public:
  // Installs the handler for `signo` (SA_RESTART) and returns the previous
  // disposition in `previous`. Throws std::invalid_argument if the system
  // refuses to let `signo` be caught (e.g. the C library's reserved
  // real-time signals), std::system_error for another failure. Until a pipe
  // exists the handler drops what it catches.
  static void catch_signal(int signo, struct sigaction& previous);
  // Puts back what catch_signal saved.
  static void restore(int signo, const struct sigaction& previous) noexcept;

  // Opens the pipe (close-on-exec; the write end non-blocking) and hands the
  // write end to the handler. Throws std::system_error if pipe(2) fails.
  signal_pipe();

  // Blocks until a signal was caught or stop() was called; returns the
  // signal's number, or 0 for stop. Only one thread reads (the hub's).
  int next() noexcept;
  // Makes next() return 0 once the signals caught before it are read.
  void stop() noexcept;

  // Withdraws the write end from the handler, waits for handlers still
  // writing to it, and closes the pipe (see above).
  ~signal_pipe();
  signal_pipe(const signal_pipe&) = delete;
  signal_pipe& operator=(const signal_pipe&) = delete;

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

}  // namespace spindle::detail
