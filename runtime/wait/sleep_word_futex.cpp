// sleep_word on Linux: FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC
// deadline, which is steady_clock's clock, so no conversion drifts.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "wait/sleep_word.hpp"

namespace spindle::detail {
namespace {

int* address_of(std::atomic<int>& word) noexcept {
  static_assert(sizeof(std::atomic<int>) == sizeof(int) && std::atomic<int>::is_always_lock_free);
  return reinterpret_cast<int*>(&word);
}

}  // namespace

void sleep_while(std::atomic<int>& word, int value, clock::time_point deadline) noexcept {
  timespec until{};
  timespec* timeout = nullptr;
  if (deadline != no_deadline) {
    const auto ns = std::max<clock::rep>(deadline.time_since_epoch().count(), 0);
    until.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    until.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    timeout = &until;
  }
  // EAGAIN (the word changed), ETIMEDOUT and EINTR all mean: re-check.
  ::syscall(SYS_futex, address_of(word), FUTEX_WAIT_BITSET_PRIVATE, value, timeout, nullptr,
            FUTEX_BITSET_MATCH_ANY);
}

void wake_one(std::atomic<int>& word) noexcept {
  ::syscall(SYS_futex, address_of(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace spindle::detail
