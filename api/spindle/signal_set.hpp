// spindle::signal_set: POSIX signals as something a fiber (or a thread)
// waits for.
//
//   spindle::signal_set sigs{SIGINT, SIGTERM};
//   int signo = sigs.wait();                    // suspends only this fiber
//   std::optional<int> s = sigs.wait_for(2s);   // nullopt if none came in time
//   std::optional<int> t = sigs.try_wait();     // never waits
//
// While a set exists, the signals it names are caught: instead of their
// disposition (the default action: usually ending the process) each
// occurrence is delivered to every live set that names it, and wait() returns
// its number. When the last set naming a signal is destroyed, the disposition
// that signal had before the first such set (default, ignore, or a handler of
// the application's) is restored. Sets may be created and destroyed from any
// thread or fiber, before, during or after any runtime.
//
// Semantics:
//  * wait() suspends only the calling fiber (its worker runs other fibers
//    meanwhile); on a plain thread it blocks the thread. wait_for/wait_until
//    take any std::chrono duration or time point, saturating at the extremes
//    as every timed wait of spindle does (NaN: std::invalid_argument), and
//    never return nullopt early (steady_clock). try_wait() returns a pending
//    signal or nullopt at once.
//  * A set holds each of its signals pending at most once, as the kernel
//    does: occurrences of a signal that is already pending in the set (caught
//    but not yet returned by a wait) coalesce with it. Different signals are
//    returned in the order they were caught. Each set keeps its own pending
//    signals: two sets naming SIGTERM both receive every SIGTERM.
//  * Several fibers or threads may wait on one set; each pending signal goes
//    to one of them.
//  * Catching installs a handler with SA_RESTART, so system calls that the
//    signal interrupts on other threads are restarted rather than failing
//    with EINTR. A signal that every thread of the process blocks (sigmask)
//    stays pending in the kernel and never reaches a set.
//
// Checks: the constructor throws std::invalid_argument naming the problem for
// an empty set, a number that is not a signal of this system, SIGKILL or
// SIGSTOP (they cannot be caught), and SIGSEGV, SIGBUS, SIGFPE or SIGILL
// (synchronous faults: a handler that returns would fault again); it throws
// std::system_error if the process-wide machinery cannot be set up (no
// descriptor for its pipe, no thread). A signal named twice counts once. On
// a throw nothing has changed: no disposition, no other set.
//
// Destruction: destroy a set only once no fiber or thread is inside wait()
// on it. Signals still pending in it are discarded. The destructor restores
// the disposition of each signal no other set names. Creating the first set
// and destroying the last start and join the hub thread: the calling thread
// (a worker, in a fiber) blocks for that moment, as creating a thread does.
//
// How it works (docs/DESIGN.md, "Signals"): one process-wide hub. The handler
// only writes the signal's number into a non-blocking pipe; a hub thread
// ("spindle-sig", running while any set exists) reads it and hands the number
// to every set that names the signal, through the set's channel, which wakes
// a waiting fiber or thread like any channel does. The hub belongs to no
// runtime, so a set works in any number of runtimes and outside all of them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <spindle/channel.hpp>

namespace spindle {

namespace detail {
class signal_hub;
class dump_on_signal;
}

class signal_set {
 public:
  // Catches `signals` (see above for what throws).
  signal_set(std::initializer_list<int> signals);
  explicit signal_set(std::span<const int> signals);
  // Restores the disposition of the signals no other set names.
  ~signal_set();
  signal_set(const signal_set&) = delete;
  signal_set& operator=(const signal_set&) = delete;

  // Waits for a signal of the set and returns its number.
  int wait() { return taken(*ready_.recv()); }
  // A pending signal, or nullopt; never waits.
  std::optional<int> try_wait() { return taken(ready_.try_recv()); }
  template <class Rep, class Period>
  std::optional<int> wait_for(const std::chrono::duration<Rep, Period>& d) {
    return taken(ready_.recv_for(d));
  }
  template <class Clock, class Duration>
  std::optional<int> wait_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return taken(ready_.recv_until(tp));
  }

 private:
  friend class detail::signal_hub;
  friend class detail::dump_on_signal;  // waits on ready_ from its own thread, closes it to stop

  // Bit signo - 1 of a mask: signals run from 1 to at most 64 (checked in
  // runtime/signal/signal_set.cpp against the system's NSIG).
  static constexpr std::uint64_t bit(int signo) noexcept { return std::uint64_t{1} << (signo - 1); }

  // Validates `signals` and returns their mask; throws std::invalid_argument.
  static std::uint64_t checked_mask(std::span<const int> signals);

  // Called by the hub thread, under the hub's lock, for each occurrence of a
  // signal the set names: makes it pending unless it already is.
  void deliver(int signo) noexcept;

  // The waiting side's half of the hand-over: the signal leaves the pending
  // mask only once a waiter has taken it from the channel, so an occurrence
  // that arrives meanwhile coalesces with the one being returned.
  int taken(int signo) noexcept {
    pending_.fetch_and(~bit(signo), std::memory_order_acq_rel);
    return signo;
  }
  std::optional<int> taken(std::optional<int> signo) noexcept {
    if (signo) taken(*signo);
    return signo;
  }

  // The signals the set names; constant after construction.
  const std::uint64_t listens_;
  // Signals caught and not yet taken by a waiter. Set by the hub thread
  // (deliver), cleared by the waiter that took the signal (taken).
  std::atomic<std::uint64_t> pending_{0};
  // One entry per pending signal, in the order they were caught. The capacity
  // is the number of signals named, and a signal enters only when its pending
  // bit goes from 0 to 1, so a send never finds the channel full.
  channel<int> ready_;
};

}  // namespace spindle
