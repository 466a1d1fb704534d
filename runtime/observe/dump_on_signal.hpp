// dump_on_signal: options::dump_signal. A signal_set catches the signal (the
// handler only writes to the signal hub's pipe: async-signal-safe), and a
// thread of its own, "spindle-dump", waits on the set and writes
// runtime::dump() to stderr with one write(2) per chunk. A plain thread
// rather than a fiber, so that the dump still comes when every worker is
// stuck in a fiber that never yields.
#pragma once

#include <spindle/signal_set.hpp>
#include <thread>

namespace spindle::detail {

class runtime_core;

class dump_on_signal {
 public:
  // Throws std::invalid_argument for a signal a signal_set cannot catch, and
  // what starting the thread throws.
  dump_on_signal(runtime_core& rt, int signo);
  // Stops the thread: closes the set's channel, which ends its wait.
  ~dump_on_signal();
  dump_on_signal(const dump_on_signal&) = delete;
  dump_on_signal& operator=(const dump_on_signal&) = delete;

 private:
  void run();

  runtime_core& rt_;
  signal_set set_;
  std::thread thread_;
};

}  // namespace spindle::detail
