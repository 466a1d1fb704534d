// Helpers shared by the synchronisation test suites.
#pragma once

#include <atomic>
#include <memory>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <utility>

namespace spindle::test {

// Spawns f as a fiber of its own and returns once that fiber has started.
// join() may run a task that has not started yet inline, on the joiner's
// stack and under the joiner's identity; tests about who owns a mutex need
// the child to be a different fiber, so they spawn it with this.
template <class F>
auto spawn_started(F f) {
  auto started = std::make_shared<std::atomic<bool>>(false);
  auto t = spindle::spawn([started, f = std::move(f)]() mutable {
    started->store(true);
    return f();
  });
  while (!started->load()) spindle::this_fiber::yield();
  return t;
}

}  // namespace spindle::test
