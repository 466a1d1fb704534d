// The park protocol of idle workers; see parker.hpp.
#include "sched/parker.hpp"

#include <utility>

#include "fiber/sanitizers.hpp"
#include "io/reactor.hpp"
#include "io/uring/io_ring.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"
#include "wait/sleep_word.hpp"

namespace spindle::detail {

void parker::park(worker& w) {
  int expected = notified;
  if (state_.compare_exchange_strong(expected, empty, std::memory_order_acq_rel)) return;
  if (w.rt.stopping()) return;

  if (!w.rt.driver_.busy.exchange(true, std::memory_order_acquire)) {
    park_driver(w);
  } else {
    park_asleep(w);
  }
  if (!w.rt.timers_.empty()) w.rt.timers_.fire_due(clock::now());
}

// Block in the reactor until IO, the nearest timer, or unpark(); the caller
// holds the driver seat, which this gives back.
void parker::park_driver(worker& w) {
  runtime_core& rt = w.rt;
  int expected = empty;
  if (state_.compare_exchange_strong(expected, parked_driver, std::memory_order_acq_rel)) {
    rt.driver_.sleeping.store(true, std::memory_order_seq_cst);
    full_fence();
    // Fibers woken here are this worker's to run; the others are told by
    // find_work once this worker counts as unparked again.
    if (ring_) {
      // The reactor's readiness wakes the ring (reactor::wake() too: its
      // eventfd is in the epoll set); then one non-blocking poll takes it.
      bool readable = ring_->take_reactor_signal();
      if (!readable) {
        ring_->sleep(rt.timers_.next_deadline(), true);
        readable = ring_->take_reactor_signal();
      }
      if (readable) poll_io(w, clock::time_point{});
    } else {
      poll_io(w, rt.timers_.next_deadline());  // no_deadline when no timer is queued
    }
    rt.driver_.sleeping.store(false, std::memory_order_relaxed);
  }
  state_.store(empty, std::memory_order_release);
  rt.driver_.busy.store(false, std::memory_order_release);
}

// Someone else drives the reactor: sleep on the park word, but never past
// the nearest timer, in case the driver is busy running fibers.
void parker::park_asleep(worker& w) {
  runtime_core& rt = w.rt;
  int expected = empty;
  if (state_.compare_exchange_strong(expected, parked_asleep, std::memory_order_acq_rel)) {
    const clock::time_point deadline = rt.timers_.next_deadline();  // no_deadline: no timer
    if (ring_) {
      ring_->sleep(deadline, false);  // once: a completion ends it too, and its fiber runs next
    } else {
      do {
        sleep_while(state_, parked_asleep, deadline);
      } while (state_.load(std::memory_order_acquire) == parked_asleep &&
               (deadline == no_deadline || clock::now() < deadline));
    }
  }
  state_.store(empty, std::memory_order_release);
}

void parker::unpark() noexcept {
  switch (state_.exchange(notified, std::memory_order_acq_rel)) {
    case parked_asleep:
      // After the exchange: no lost wake (sleep_word.hpp; the ring's eventfd
      // keeps a count until its read is armed).
      if (ring_) ring_->wake();
      else wake_one(state_);
      break;
    case parked_driver:
      reactor_.wake();
      break;
    default:
      break;  // running, or already notified: its next park() returns at once
  }
}

void parker::poll_io(worker& w, clock::time_point deadline) noexcept {
  worker_counters::bump(w.counters.io_polls);
  w.polling = true;
  w.rt.reactor_->poll(deadline, static_cast<int>(run_queue::capacity - w.local.size()));
  w.polling = false;
}

void parker::poll_io_nonblocking(worker& w) noexcept {
  runtime_core& rt = w.rt;
  if (rt.reactor_->attached() == 0 || rt.driver_.busy.load(std::memory_order_relaxed)) return;
  if (rt.driver_.busy.exchange(true, std::memory_order_acquire)) return;
  poll_io(w, clock::time_point{});  // a deadline in the past: do not block
  rt.driver_.busy.store(false, std::memory_order_release);
  if (std::exchange(w.polled_work, false)) rt.notify_work();
}

void parker::on_earlier_deadline(runtime_core& rt) noexcept {
  full_fence();
  if (rt.driver_.sleeping.load(std::memory_order_seq_cst)) {
    rt.reactor_->wake();
    return;
  }
  int i = rt.idle_.any_sleeper();
  if (i >= 0) rt.workers_[static_cast<std::size_t>(i)]->unpark();
}

}  // namespace spindle::detail
