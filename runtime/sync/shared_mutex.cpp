// spindle::shared_mutex: the contended paths (design and state bits in
// api/spindle/sync/shared_mutex.hpp).
//
// Every handoff happens under spin_, in one CAS that both gives the lock away
// and updates the waiting flags, so the invariants in the header hold at every
// instant anybody can observe without spin_. While spin_ is held the only
// changes others can make to state_ are fast-path ones: a writer taking a free
// lock (state 0), and readers entering (neither `writer` nor `writer_waiting`
// set) or leaving (not the last one while a writer waits).
//
// Destruction: as for spindle::mutex, everything an unlock does after giving
// the lock away happens under spin_, and ~shared_mutex() acquires spin_ once.
#include <mutex>
#include <spindle/detail/wake_list.hpp>
#include <spindle/sync/shared_mutex.hpp>
#include <system_error>

#include "sync/spin.hpp"

namespace spindle {

shared_mutex::~shared_mutex() {
  spin_.lock();
  spin_.unlock();
}

void shared_mutex::throw_not_owner() {
  throw std::system_error(std::make_error_code(std::errc::operation_not_permitted),
                          "spindle::shared_mutex::unlock: the caller does not hold it exclusively");
}

void shared_mutex::throw_not_shared() {
  throw std::system_error(std::make_error_code(std::errc::operation_not_permitted),
                          "spindle::shared_mutex::unlock_shared: nobody holds it shared");
}

bool shared_mutex::try_lock_until_steady(detail::clock::time_point deadline) {
  const detail::owner_id me = detail::caller_id();
  std::uint32_t s = 0;
  if (!state_.compare_exchange_strong(s, writer, std::memory_order_acquire,
                                      std::memory_order_relaxed) &&
      !lock_slow(me, deadline)) {
    return false;
  }
  owner_.store(me, std::memory_order_relaxed);
  return true;
}

bool shared_mutex::lock_slow(detail::owner_id me, detail::clock::time_point deadline) {
  // A timed lock by the owner is left to time out, as with any other holder.
  if (deadline == detail::no_deadline && owner_.load(std::memory_order_relaxed) == me) {
    throw std::system_error(std::make_error_code(std::errc::resource_deadlock_would_occur),
                            "spindle::shared_mutex::lock: the caller already holds it");
  }
  auto take_free = [this] {
    std::uint32_t s = 0;
    return state_.compare_exchange_weak(s, writer, std::memory_order_acquire,
                                        std::memory_order_relaxed);
  };
  if (detail::spin_until(detail::lock_spin, take_free)) return true;

  detail::waiter w;
  detail::wait_node node(w);
  {
    std::lock_guard<detail::spinlock> g(spin_);
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (s == 0) {
        if (state_.compare_exchange_weak(s, writer, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          return true;
        }
        continue;
      }
      if (state_.compare_exchange_weak(s, s | writer_waiting, std::memory_order_relaxed)) break;
    }
    writers_.push_back(node);
  }
  // Timed out: withdraw, and admit the readers that queued behind us.
  return w.park({detail::wait_kind::shared_mutex, this}, deadline, [&] {
    detail::wake_list wake;
    std::lock_guard<detail::spinlock> g(spin_);
    writers_.erase_if_linked(node);
    if (writers_.empty()) {
      // Readers may have queued only because we were waiting: unless a writer
      // holds the lock (its unlock will admit them), admit them now. `writer`
      // cannot change here while readers_ is non-empty: its unlock needs spin_.
      // The CAS acquires the last writer's release, which the readers we
      // admit (through unpark) must see.
      std::uint32_t s = state_.load(std::memory_order_relaxed);
      const std::uint32_t admitted =
          (s & writer) ? 0 : static_cast<std::uint32_t>(detail::claim_all(readers_, wake));
      const std::uint32_t clear = writer_waiting | (readers_.empty() ? readers_waiting : 0);
      while (!state_.compare_exchange_weak(s, (s & ~clear) + admitted * one_reader,
                                           std::memory_order_acq_rel, std::memory_order_relaxed)) {
      }
    }
  }) == detail::wake::notified;  // notified: handed the lock
}

bool shared_mutex::lock_shared_slow(detail::clock::time_point deadline) {
  if (detail::spin_until(detail::lock_spin, [this] { return try_lock_shared(); })) return true;

  detail::waiter w;
  detail::wait_node node(w);
  {
    std::lock_guard<detail::spinlock> g(spin_);
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (!(s & (writer | writer_waiting))) {
        if (state_.compare_exchange_weak(s, s + one_reader, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          return true;
        }
        continue;
      }
      if (state_.compare_exchange_weak(s, s | readers_waiting, std::memory_order_relaxed)) break;
    }
    readers_.push_back(node);
  }
  return w.park({detail::wait_kind::shared_mutex, this}, deadline, [&] {
    std::lock_guard<detail::spinlock> g(spin_);
    readers_.erase_if_linked(node);
    if (readers_.empty()) state_.fetch_and(~readers_waiting, std::memory_order_relaxed);
  }) == detail::wake::notified;  // notified: admitted, counted in by the waker
}

void shared_mutex::unlock_slow() {
  detail::wake_list wake;
  std::lock_guard<detail::spinlock> g(spin_);
  // We hold `writer`, so nobody else changes state_ now.
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  // Phase-fair: every reader waiting now goes first, together.
  const auto admitted = static_cast<std::uint32_t>(detail::claim_all(readers_, wake));
  std::uint32_t next = (s & ~(writer | readers_waiting)) + admitted * one_reader;
  if (admitted == 0) {
    if (detail::wait_node* n = writers_.claim_front()) {
      next |= writer;  // handed over: it stays locked
      wake.push(*n);
    }
    if (writers_.empty()) next &= ~writer_waiting;
  }
  state_.store(next, std::memory_order_release);
}

void shared_mutex::unlock_shared_slow() {
  detail::wake_list wake;
  std::lock_guard<detail::spinlock> g(spin_);
  // Acquire: if we turn out to be the last reader, the writer we hand over to
  // must see what every other reader did before leaving (their releases).
  std::uint32_t s = state_.load(std::memory_order_acquire);
  // Other readers may have left meanwhile (we may have become the last), or a
  // timed-out writer may have cleared `writer_waiting`.
  while ((s & writer_waiting) == 0 || s >= 2 * one_reader) {
    if (state_.compare_exchange_weak(s, s - one_reader, std::memory_order_release,
                                     std::memory_order_acquire)) {
      return;
    }
  }
  // We are the last reader and writers wait: nobody else can change state_.
  std::uint32_t next = s - one_reader;
  if (detail::wait_node* n = writers_.claim_front()) {
    next |= writer;
    wake.push(*n);
  } else {
    // Every waiting writer has timed out: admit the readers they held back.
    next += static_cast<std::uint32_t>(detail::claim_all(readers_, wake)) * one_reader;
    next &= ~readers_waiting;
  }
  if (writers_.empty()) next &= ~writer_waiting;
  state_.store(next, std::memory_order_release);
}

}  // namespace spindle
