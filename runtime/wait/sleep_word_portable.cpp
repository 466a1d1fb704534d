// sleep_word where there is no futex (macOS, the BSDs): a fixed table of
// mutexes and condition variables, the word's address picking one, as
// libstdc++ does for std::atomic::wait. Words that share a slot share its
// condition variable, so a wake notifies all of its sleepers (each re-checks
// its own word).
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "wait/sleep_word.hpp"

namespace spindle::detail {
namespace {

struct slot {
  std::mutex m;
  std::condition_variable cv;
};

slot& slot_of(const void* word) noexcept {
  static slot table[16];
  return table[(reinterpret_cast<std::uintptr_t>(word) >> 6) % 16];
}

}  // namespace

void sleep_while(std::atomic<int>& word, int value, clock::time_point deadline) noexcept {
  slot& s = slot_of(&word);
  std::unique_lock<std::mutex> g(s.m);
  // Read under the slot's lock, which wake_one takes after the change: if
  // this sees the old value, the waker's notify finds it inside wait().
  if (word.load(std::memory_order_acquire) != value) return;
  if (deadline == no_deadline) {
    s.cv.wait(g);
  } else {
    s.cv.wait_until(g, deadline);
  }
}

void wake_one(std::atomic<int>& word) noexcept {
  slot& s = slot_of(&word);
  { std::lock_guard<std::mutex> g(s.m); }
  s.cv.notify_all();
}

}  // namespace spindle::detail
