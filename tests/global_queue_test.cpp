// The runtime's global (injection) queue when memory runs out: fibers pushed
// while the queue cannot allocate are kept (spilled), not dropped, and every
// one of them comes out exactly once; spawns from a plain thread in that
// state all run.
#include "sched/global_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <spindle/runtime.hpp>
#include <thread>
#include <vector>

namespace {

using spindle::detail::global_queue;

// A control block that never runs: the queue only moves pointers.
struct inert_fiber final : spindle::detail::fiber {
  void run_body() override {}
  void discard_body() noexcept override {}
};

// Sets global_queue::refuse_allocations for the life of the object.
struct refusing {
  refusing() { global_queue::refuse_allocations = true; }
  ~refusing() { global_queue::refuse_allocations = false; }
};

TEST(GlobalQueue, FibersPushedWithoutMemoryAreKeptAndComeOutOnce) {
  std::vector<inert_fiber> fibers(1000);
  global_queue q;
  std::thread producer([&] {  // a fresh thread: a producer the queue must allocate
    refusing no_memory;
    for (std::size_t i = 0; i < 500; ++i) q.push(&fibers[i]);
    spindle::detail::fiber* batch[10];
    for (std::size_t i = 500; i < 1000; i += 10) {
      for (std::size_t k = 0; k < 10; ++k) batch[k] = &fibers[i + k];
      q.push_bulk(batch, 10);
    }
  });
  producer.join();
  EXPECT_EQ(q.size_approx(), 1000u);
  std::set<spindle::detail::fiber*> seen;
  spindle::detail::fiber* out[64];
  while (std::size_t n = q.try_pop_bulk(out, 64)) {
    for (std::size_t i = 0; i < n; ++i) EXPECT_TRUE(seen.insert(out[i]).second);
  }
  spindle::detail::fiber* one = nullptr;
  EXPECT_FALSE(q.try_pop(one));
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(q.size_approx(), 0u);
}

TEST(GlobalQueue, SpawnsFromAThreadWithoutQueueMemoryAllRun) {
  spindle::runtime rt(spindle::options{.workers = 2});
  std::atomic<int> ran{0};
  std::vector<spindle::task<void>> tasks;
  std::thread spawner([&] {
    refusing no_memory;
    for (int i = 0; i < 2000; ++i) tasks.push_back(rt.spawn([&ran] { ran.fetch_add(1); }));
  });
  spawner.join();
  for (auto& t : tasks) t.join();
  EXPECT_EQ(ran.load(), 2000);
}

}  // namespace
