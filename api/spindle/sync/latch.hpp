// spindle::latch: a single-use countdown for fibers and threads, as std::latch.
//
//   spindle::latch done(n);
//   ... each of n workers: done.count_down();
//   done.wait();                       // until the count reaches zero
//
// Checks: a negative initial count or a negative count_down() argument throws
// std::invalid_argument; counting down past zero throws std::logic_error and
// changes nothing. Once wait() has returned the latch may be destroyed: the
// count_down() that released it no longer touches it.
#pragma once

#include <cstddef>
#include <spindle/detail/count_gate.hpp>
#include <stdexcept>

namespace spindle {

class latch {
 public:
  explicit latch(std::ptrdiff_t count) : gate_(checked(count)) {}
  latch(const latch&) = delete;
  latch& operator=(const latch&) = delete;

  void count_down(std::ptrdiff_t n = 1) {
    if (n < 0) throw std::invalid_argument("spindle::latch::count_down: negative count");
    if (!gate_.add(-n)) {
      throw std::logic_error("spindle::latch::count_down: more than the remaining count");
    }
  }
  bool try_wait() const noexcept { return gate_.is_zero(); }
  void wait() { gate_.wait(); }
  void arrive_and_wait(std::ptrdiff_t n = 1) {
    count_down(n);
    wait();
  }

 private:
  static std::ptrdiff_t checked(std::ptrdiff_t count) {
    if (count < 0) throw std::invalid_argument("spindle::latch: negative count");
    return count;
  }

  detail::count_gate gate_;
};

}  // namespace spindle
