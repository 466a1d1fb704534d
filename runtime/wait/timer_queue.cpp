#include "wait/timer_queue.hpp"

#include <mutex>

namespace spindle::detail {

bool timer_queue::add(timer_entry& e) {
  std::lock_guard<spinlock> g(lock_);
  heap_.push_back({e.deadline.time_since_epoch().count(), &e});
  e.heap_index = heap_.size() - 1;
  sift_up(e.heap_index);
  bool earliest = heap_.front().entry == &e;
  if (earliest) publish_next();
  return earliest;
}

void timer_queue::cancel(timer_entry& e) noexcept {
  std::lock_guard<spinlock> g(lock_);
  if (e.heap_index == timer_entry::not_queued) return;
  remove_at(e.heap_index);
  publish_next();
}

std::size_t timer_queue::fire_due(clock::time_point now) {
  if (next_deadline() > now) return 0;
  const clock::rep due_by = now.time_since_epoch().count();
  // Claimed waiters are unparked after the lock is released (an unpark may
  // wake a worker); a claimed waiter cannot go away before its unpark.
  waiter* due[64];
  std::size_t n = 0, total = 0;
  for (;;) {
    {
      std::lock_guard<spinlock> g(lock_);
      while (n < std::size(due) && !heap_.empty() && heap_.front().when <= due_by) {
        timer_entry* e = heap_.front().entry;
        remove_at(0);
        if (e->owner->try_claim(wake::timed_out)) due[n++] = e->owner;
      }
      publish_next();
    }
    for (std::size_t i = 0; i < n; ++i) due[i]->unpark();
    total += n;
    if (n < std::size(due)) return total;
    n = 0;
  }
}

void timer_queue::remove_at(std::size_t i) noexcept {
  heap_[i].entry->heap_index = timer_entry::not_queued;
  const slot last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  place(i, last);
  sift_down(i);
  sift_up(last.entry->heap_index);
}

void timer_queue::sift_up(std::size_t i) noexcept {
  const slot e = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 4;
    if (heap_[parent].when <= e.when) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, e);
}

void timer_queue::sift_down(std::size_t i) noexcept {
  const slot e = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    for (std::size_t c = first + 1; c < first + 4 && c < n; ++c)
      if (heap_[c].when < heap_[best].when) best = c;
    if (heap_[best].when >= e.when) break;
    place(i, heap_[best]);
    i = best;
  }
  place(i, e);
}

}  // namespace spindle::detail
