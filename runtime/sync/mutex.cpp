// spindle::mutex: the contended paths (see api/spindle/sync/mutex.hpp for the
// design and the meaning of the state bits).
//
// Who may change what:
//   locked   set by whoever wins a CAS while it is clear (or kept set by a
//            handoff); cleared by the owner's unlock.
//   woken    set by a CAS while it is clear, by a spinner or by an unlocker
//            that wakes a waiter (on that waiter's behalf); cleared only by its
//            holder, in the CAS that takes the lock or, under spin_, in the CAS
//            that parks it. Hence an unlock that sees `woken` may skip the
//            wake-up: the holder either gets the lock (and will unlock it) or
//            parks while the lock is held (and that holder's unlock will see
//            `waiters` without `woken`).
//   waiters, handoff, heir_, queue_   only under spin_.
//
// Destruction: an unlock that must wake somebody releases the lock while it
// holds spin_, and touches nothing of the mutex after spin_.unlock(). A barger
// that takes the lock in that window and destroys the mutex first passes
// through ~mutex(), which acquires spin_ and so waits for that unlock to leave.
#include <mutex>
#include <spindle/detail/wake_list.hpp>
#include <spindle/sync/mutex.hpp>
#include <system_error>

#include "sync/spin.hpp"

namespace spindle {

namespace {

// An heir turns starving after losing this many races, or after this long.
constexpr int starve_losses = 2;
constexpr auto starve_after = std::chrono::milliseconds(1);

// wait_node::tag values: how an unlocker woke the waiter.
constexpr std::size_t woken_to_retry = 0;
constexpr std::size_t handed_the_lock = 1;

}  // namespace

mutex::~mutex() {
  spin_.lock();
  spin_.unlock();
}

void mutex::throw_not_owner() {
  throw std::system_error(std::make_error_code(std::errc::operation_not_permitted),
                          "spindle::mutex::unlock: the caller does not hold the mutex");
}

bool mutex::try_lock_until_steady(detail::clock::time_point deadline) {
  const detail::owner_id me = detail::caller_id();
  std::uint32_t s = 0;
  if (!state_.compare_exchange_strong(s, locked, std::memory_order_acquire,
                                      std::memory_order_relaxed) &&
      !lock_slow(me, deadline)) {
    return false;
  }
  owner_.store(me, std::memory_order_relaxed);
  return true;
}

bool mutex::take_free(std::uint32_t& s, bool has_woken) noexcept {
  const std::uint32_t next = (s | locked) & ~(has_woken ? woken : 0);
  return state_.compare_exchange_weak(s, next, std::memory_order_acquire,
                                      std::memory_order_relaxed);
}

bool mutex::lock_slow(detail::owner_id me, detail::clock::time_point deadline) {
  // A timed lock by the owner is left to time out, as with any other holder.
  if (deadline == detail::no_deadline && held_by(me)) {
    throw std::system_error(std::make_error_code(std::errc::resource_deadlock_would_occur),
                            "spindle::mutex::lock: the caller already holds the mutex");
  }
  bool has_woken = false;  // we hold the `woken` bit and must clear it
  bool is_heir = false;    // we were woken from the queue: park again as heir
  int losses = 0;          // races lost after being woken
  detail::clock::time_point first_parked{};
  int naps = 0;  // CPU given up for a preempted holder (spin.hpp)

  for (;;) {
    // Spin while the holder runs: take the lock the moment it is free. For
    // the first few looks, hold `woken` so that an unlock does not wake a
    // parked waiter we would race with; then give it back, so that spinners
    // that keep coming cannot keep the queue asleep (its head must get its
    // turns to become the starving heir). A woken waiter keeps the `woken` an
    // unlocker gave it until it parks again as the heir: at most one heir
    // exists because only the holder of `woken` ever becomes one. A suspended
    // holder cannot release: park at once.
    bool napped = false;
    for (int i = 0; i < detail::spin_backoff::checks; ++i) {
      if (i == detail::spin_backoff::woken_checks && has_woken && !is_heir) {
        state_.fetch_and(~woken, std::memory_order_relaxed);
        has_woken = false;
      }
      std::uint32_t s = state_.load(std::memory_order_relaxed);
      if (!(s & locked)) {
        if (take_free(s, has_woken)) return true;
        continue;
      }
      if (s & handoff) break;  // the mutex is promised to the heir: queue up
      if (i < detail::spin_backoff::woken_checks && !has_woken && (s & waiters) && !(s & woken) &&
          state_.compare_exchange_weak(s, s | woken, std::memory_order_relaxed)) {
        has_woken = true;
      }
      if (!detail::owner_running(owner_.load(std::memory_order_relaxed))) break;
      if (i == detail::spin_backoff::nap_after && naps < detail::preempted_holder_naps) {
        // ~55 us and the holder has not let go: it is probably preempted.
        ++naps;
        detail::nap_for_preempted_holder();
        napped = true;
        break;
      }
      detail::spin_backoff::pause();
    }
    if (napped) continue;  // look again, with a fresh budget

    // Park. The CAS that publishes `waiters` (and gives up `woken`) requires
    // `locked`, so the holder's unlock is bound to see us.
    bool starving = false;
    if (is_heir) {
      starving = losses >= starve_losses || detail::clock::now() - first_parked >= starve_after;
    } else {
      first_parked = detail::clock::now();  // read outside spin_: it is a call
    }
    detail::waiter w;
    detail::wait_node node(w, nullptr, woken_to_retry);
    {
      std::lock_guard<detail::spinlock> g(spin_);
      std::uint32_t s = state_.load(std::memory_order_relaxed);
      for (;;) {
        if (!(s & locked)) {
          if (take_free(s, has_woken)) return true;
          continue;
        }
        std::uint32_t next = (s | waiters | (starving ? handoff : 0)) & ~(has_woken ? woken : 0);
        if (state_.compare_exchange_weak(s, next, std::memory_order_relaxed)) break;
      }
      if (is_heir) {
        heir_ = &node;  // empty: see the invariant on heir_
      } else {
        queue_.push_back(node);
      }
    }
    has_woken = false;

    const detail::wake r = w.park({detail::wait_kind::mutex, this}, deadline, [&] {
      std::lock_guard<detail::spinlock> g(spin_);
      remove(node);
    });
    if (r != detail::wake::notified) return false;  // timed out
    if (node.tag == handed_the_lock) return true;
    has_woken = true;  // the unlocker set `woken` on our behalf
    is_heir = true;
    ++losses;
  }
}

void mutex::unlock_slow() {
  detail::wake_list wake;
  std::lock_guard<detail::spinlock> g(spin_);
  // Under spin_ only `woken` can change under us (a spinner may set it); we
  // hold `locked`, and everything else needs spin_.
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  if (s & handoff) {
    if (detail::wait_node* n = claim_next()) {
      n->tag = handed_the_lock;
      owner_.store(detail::handed_over, std::memory_order_relaxed);  // spinners park
      std::uint32_t clear = handoff | (heir_ || !queue_.empty() ? 0 : waiters);
      state_.fetch_and(~clear, std::memory_order_release);
      wake.push(*n);
      return;
    }
    // The heir timed out and every other waiter too: nobody to hand it to.
    state_.fetch_and(~(handoff | waiters), std::memory_order_relaxed);
    s &= ~(handoff | waiters);
  }
  for (;;) {
    if (!(s & waiters) || (s & woken)) {
      if (state_.compare_exchange_weak(s, s & ~locked, std::memory_order_release,
                                       std::memory_order_relaxed)) {
        return;
      }
      continue;
    }
    if (state_.compare_exchange_weak(s, s | woken, std::memory_order_relaxed)) break;
  }
  // We hold `woken` now; it passes to the waiter we wake, or is dropped.
  detail::wait_node* n = claim_next();
  std::uint32_t clear = locked | (n ? 0 : woken) | (heir_ || !queue_.empty() ? 0 : waiters);
  state_.fetch_and(~clear, std::memory_order_release);
  if (n) wake.push(*n);
}

detail::wait_node* mutex::claim_next() noexcept {
  if (detail::wait_node* h = heir_) {
    heir_ = nullptr;
    if (h->w->try_claim(detail::wake::notified)) return h;
  }
  return queue_.claim_front();
}

void mutex::remove(detail::wait_node& n) noexcept {
  std::uint32_t clear = 0;
  if (heir_ == &n) {
    heir_ = nullptr;
    clear |= handoff;  // whatever was promised to it is not owed to anyone else
  } else {
    queue_.erase_if_linked(n);
  }
  if (!heir_ && queue_.empty()) clear |= waiters | handoff;
  if (clear) state_.fetch_and(~clear, std::memory_order_relaxed);
}

}  // namespace spindle
