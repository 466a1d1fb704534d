// spindle::mutex: mutual exclusion for fibers and threads (Lockable and
// TimedLockable, so std::lock_guard, std::unique_lock and std::scoped_lock
// work with it).
//
// Blocking suspends only the calling fiber; a plain thread blocks. As with
// std::mutex, the fiber (or thread) that locked it must unlock it: unlock() by
// anyone else throws std::system_error(errc::operation_not_permitted), and
// lock() by the owner throws errc::resource_deadlock_would_occur instead of
// hanging (a timed lock by the owner simply times out). A mutex may be
// destroyed as soon as no caller is inside it -- in particular by whoever
// locked it after another party unlocked it.
//
// Design (Go's sync.Mutex, adapted to an intrusive wait queue):
//  * Uncontended lock and unlock are one CAS each on `state_`.
//  * Barging: a locker that finds the mutex free takes it, even if others are
//    queued. Contended lockers spin first (a critical section is usually
//    shorter than a park/unpark round trip), with long pauses between looks and
//    only while the holder is running on another worker; a holder that is
//    suspended cannot release, so they then park at once. One that keeps
//    the lock for ~55 us while shown running has most likely had its OS
//    thread preempted: the spinner then sleeps 50 us (twice at most) to let
//    the kernel run it (docs/DESIGN.md, "Every spin").
//  * An unlock wakes at most one waiter, and none while another party is
//    already on its way to the lock (`woken`): a spinner, or an earlier
//    waiter that has not run yet. The woken waiter competes like a newcomer;
//    if it loses it parks again at the head of the line (`heir_`).
//  * Starvation: an heir that has lost `starve_losses` times or waited
//    longer than `starve_after` parks as *starving* (`handoff`): the next
//    unlock hands the mutex directly to it and nobody can barge meanwhile. So
//    every waiter gets the lock within a bounded number of wake-ups after it
//    reaches the head of the FIFO queue, while the common case keeps the
//    throughput of barging.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <spindle/detail/caller_id.hpp>
#include <spindle/detail/deadline.hpp>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle {

class condition_variable;
namespace detail {
struct mutex_inspect;
}

class mutex {
 public:
  constexpr mutex() noexcept = default;
  // Waits until an unlock() still inside its slow path has left (see unlock_slow).
  ~mutex();
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() {
    const detail::owner_id me = detail::caller_id();
    std::uint32_t s = 0;
    if (!state_.compare_exchange_strong(s, locked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      lock_slow(me, detail::no_deadline);
    }
    owner_.store(me, std::memory_order_relaxed);
  }

  bool try_lock() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    while (!(s & locked)) {
      if (state_.compare_exchange_weak(s, s | locked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        owner_.store(detail::caller_id(), std::memory_order_relaxed);
        return true;
      }
    }
    return false;
  }

  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return try_lock_until_steady(detail::deadline_after(d));
  }

  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& tp) {
    return try_lock_until_steady(detail::to_deadline(tp));
  }

  void unlock() {
    const detail::owner_id me = detail::caller_id();
    if (owner_.load(std::memory_order_relaxed) != me) throw_not_owner();
    owner_.store(detail::no_owner, std::memory_order_relaxed);
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    do {
      if (needs_waking(s)) return unlock_slow();
    } while (!state_.compare_exchange_weak(s, s & ~locked, std::memory_order_release,
                                           std::memory_order_relaxed));
  }

 private:
  friend class condition_variable;
  friend struct detail::mutex_inspect;  // the dump reads owner_ (runtime/observe/dump.cpp)

  // state_ bits. `locked` and `woken` may change without spin_; `waiters` and
  // `handoff` change only under spin_. Invariant: handoff implies locked (the
  // mutex passes straight from the unlocker to the heir).
  static constexpr std::uint32_t locked = 1;   // somebody owns the mutex
  static constexpr std::uint32_t woken = 2;    // a party is on its way to the lock:
                                               // unlock need not wake another
  static constexpr std::uint32_t waiters = 4;  // heir_ or queue_ is non-empty
  static constexpr std::uint32_t handoff = 8;  // heir_ is starving: the next
                                               // unlock hands the mutex to it

  static bool needs_waking(std::uint32_t s) noexcept {
    return (s & handoff) || ((s & waiters) && !(s & woken));
  }

  bool held_by(detail::owner_id me) const noexcept {
    return owner_.load(std::memory_order_relaxed) == me;
  }

  bool try_lock_until_steady(detail::clock::time_point deadline);
  // Returns false only once `deadline` has passed.
  bool lock_slow(detail::owner_id me, detail::clock::time_point deadline);
  // s (just loaded) shows the mutex free: one CAS to take it, giving back
  // `woken` if the caller holds it. false: s is reloaded, look again.
  bool take_free(std::uint32_t& s, bool has_woken) noexcept;
  void unlock_slow();
  // Under spin_: the next waiter to wake, heir first; null if none is left.
  detail::wait_node* claim_next() noexcept SPINDLE_REQUIRES(spin_);
  // Under spin_: takes a departing (timed-out or cancelled) waiter out.
  void remove(detail::wait_node& n) noexcept SPINDLE_REQUIRES(spin_);
  [[noreturn]] static void throw_not_owner();

  std::atomic<std::uint32_t> state_{0};
  // Who holds the mutex; written by the owner only (relaxed: the acquire and
  // release on state_ order it), read by unlock() for the ownership check.
  std::atomic<detail::owner_id> owner_{detail::no_owner};
  detail::spinlock spin_;
  // Guarded by spin_. heir_ is a waiter that was woken, lost the race and
  // parked again: it is woken (or handed the mutex) before anyone in queue_.
  // At most one exists, because only the holder of `woken` ever becomes heir
  // and the next wake-up takes the heir first.
  detail::wait_node* heir_ SPINDLE_GUARDED_BY(spin_) = nullptr;
  detail::wait_queue queue_ SPINDLE_GUARDED_BY(spin_);
};

}  // namespace spindle
