// spindle::wait_group: waits for a changing set of tasks to finish, as Go's
// sync.WaitGroup.
//
//   spindle::wait_group wg;
//   wg.add();                                  // before starting the task
//   spindle::spawn([&] { work(); wg.done(); });
//   wg.wait();                                 // until every add() is done()
//
// add(n) accepts either sign; a counter that would become negative throws
// std::logic_error and changes nothing. The group is reusable: once the
// counter is zero it may be raised again. As in Go, an add() that raises the
// counter from zero must happen before the wait() it is meant to hold back.
// Once wait() has returned the group may be destroyed: the done() that
// released it no longer touches it.
#pragma once

#include <cstddef>
#include <spindle/detail/count_gate.hpp>
#include <stdexcept>

namespace spindle {

class wait_group {
 public:
  constexpr wait_group() noexcept = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  void add(std::ptrdiff_t n = 1) {
    if (!gate_.add(n)) throw std::logic_error("spindle::wait_group: negative counter");
  }
  void done() { add(-1); }
  void wait() { gate_.wait(); }

 private:
  detail::count_gate gate_{0};
};

}  // namespace spindle
