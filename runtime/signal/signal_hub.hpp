// signal_hub: the process-wide half of spindle::signal_set — which sets
// exist, which signals are caught and what their dispositions were, and the
// hub thread that hands each caught signal to the sets.
//
// One hub serves the process. The first set starts it: a signal_pipe and a
// thread "spindle-sig" that blocks reading the pipe. For every signal read
// it calls deliver() on each live set that names the signal. The last set to
// go stops it (the thread ends and is joined, the pipe closes); the next set
// starts it again.
//
// The hub thread is no runtime's: a set may exist before, after and across
// any number of runtimes, and be waited on from plain threads; deliver()
// goes through the set's channel, which wakes a fiber of any runtime or a
// thread alike. (A reactor-read signalfd or pipe would tie every set to one
// runtime, and signalfd would need the signals blocked in every thread of
// the process, which a library cannot arrange: a thread that does not block
// one would still get its default action.)
//
// Locks: lifecycle_ serialises attach and detach (the listener counts, the
// saved dispositions, the pipe and the thread); the hub thread never takes
// it, so detach may join the thread while holding it. sets_lock_ guards the
// list of sets: the hub thread holds it while it delivers, so once detach
// has removed a set no delivery to it is under way or can start. Neither
// lock is ever taken in the signal handler. Order: lifecycle_, then
// sets_lock_.
#pragma once

#include <signal.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "signal/signal_pipe.hpp"

namespace spindle {
class signal_set;
}

namespace spindle::detail {

class signal_hub {
 public:
  // Starts catching the set's signals and delivering them to it. Throws what
  // starting the hub or catching a signal throws; then nothing has changed.
  static void attach(signal_set& s);
  // Stops delivering to the set; restores the disposition of each of its
  // signals that no other set names; stops the hub if it was the last set.
  static void detach(signal_set& s) noexcept;

 private:
  static signal_hub& instance();

  // Takes one listener of each signal in `mask` off the counts, restoring a
  // disposition whose count reaches zero. Under lifecycle_.
  void release(std::uint64_t mask) noexcept;
  // Removes the set from the list and stops the hub if it was the last one.
  // Under lifecycle_.
  void remove(signal_set& s) noexcept;
  // The hub thread's body.
  void run();
  void deliver(int signo);

  std::mutex lifecycle_;
  // Guarded by lifecycle_: how many sets name each signal, and the
  // disposition each caught signal had before the first of them.
  int listeners_[NSIG] = {};
  struct sigaction previous_[NSIG] = {};
  // Guarded by lifecycle_; both exist exactly while sets_ is not empty.
  std::optional<signal_pipe> pipe_;
  std::thread thread_;

  std::mutex sets_lock_;
  // The live sets. Changed under both locks; read under either.
  std::vector<signal_set*> sets_;
};

}  // namespace spindle::detail
