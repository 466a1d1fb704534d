// future_state<T>: the shared state of one promise/future pair.
//
// Life of a state: a setter claims the right to set the result
// (claim_result), writes value or error, then publish()es: ready_
// becomes true, blocked waiters are woken and continuations run. Everything
// written before publish is read only after ready() is seen true (acquire),
// or after a wait that publish ended, so value and error need no lock.
//
// Ownership: std::shared_ptr, held by the promise, the future, and whatever
// combines futures (when_all, when_any). publish() is only called by a holder
// of a reference, so the state outlives the wake-ups it does.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <optional>
#include <spindle/detail/spinlock.hpp>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

// A callback run once when a state becomes ready, without any lock held, on
// the thread or fiber that published it. It is how when_all and when_any wait
// for many futures without a fiber each. Owned by whoever attached it; it may
// destroy itself in on_ready().
class future_continuation {
 public:
  virtual void on_ready() noexcept = 0;

 protected:
  ~future_continuation() = default;

 private:
  friend class future_state_base;
  // Guarded by the state's lock while attached (unchecked: a lock of
  // another object, which an attribute here cannot name).
  future_continuation* next_ = nullptr;
};

class future_state_base {
 public:
  future_state_base() = default;
  future_state_base(const future_state_base&) = delete;
  future_state_base& operator=(const future_state_base&) = delete;

  bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }

  // True for one caller only: that caller then sets the result and calls
  // publish(), or, if storing the result threw, gives the claim back.
  bool claim_result() noexcept { return !claimed_.exchange(true, std::memory_order_acq_rel); }
  void unclaim() noexcept { claimed_.store(false, std::memory_order_release); }

  // Makes the result visible: wakes every waiter, then runs every continuation.
  void publish() noexcept;

  // Waits until ready() or the deadline (no_deadline: none);
  // returns ready(). Never returns false before the deadline.
  bool wait_until(clock::time_point deadline);

  // Attaches c to run when the state becomes ready; false (c not attached)
  // if it is ready already, in which case the caller runs it itself.
  bool attach(future_continuation& c) noexcept;

  std::exception_ptr error;  // written by the claimer before publish()

 private:
  spinlock lock_;
  wait_queue waiters_ SPINDLE_GUARDED_BY(lock_);
  future_continuation* continuations_ SPINDLE_GUARDED_BY(lock_) = nullptr;
  std::atomic<bool> claimed_{false};
  std::atomic<bool> ready_{false};  // set under lock_, read without it
};

// What a state holds for future<T>: the value itself, or for future<T&> a
// reference_wrapper (which converts back to T& on the way out).
template <class T>
struct future_value {
  using type = T;
};
template <class T>
struct future_value<T&> {
  using type = std::reference_wrapper<T>;
};

template <class T>
class future_state : public future_state_base {
 public:
  std::optional<typename future_value<T>::type> value;  // written by the claimer before publish()
};

template <>
class future_state<void> : public future_state_base {};

}  // namespace spindle::detail
