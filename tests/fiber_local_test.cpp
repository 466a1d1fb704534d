// spindle::fiber_local: one instance per fiber that follows the fiber across
// workers, made on first use, destroyed (newest first) before the fiber
// counts as finished -- also on the inline-join path -- and per thread
// outside fibers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <spindle/fiber_local.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

// Counts live instances and records the order of destruction.
struct tracked {
  static inline std::atomic<int> alive{0};
  std::string name = "unset";
  std::vector<std::string>* log = nullptr;
  tracked() { ++alive; }
  explicit tracked(std::string n, std::vector<std::string>* l = nullptr)
      : name(std::move(n)), log(l) {
    ++alive;
  }
  tracked(tracked&& o) noexcept : name(std::move(o.name)), log(std::exchange(o.log, nullptr)) {
    ++alive;
  }
  ~tracked() {
    --alive;
    if (log) log->push_back(name);
  }
};

TEST(FiberLocal, EachFiberHasItsOwnInstanceAcrossSuspensions) {
  spindle::runtime rt(spindle::test::two_workers());
  spindle::fiber_local<int> counter;
  rt.block_on([&] {
    std::vector<spindle::task<int>> ts;
    for (int i = 0; i < 50; ++i) {
      ts.push_back(spindle::spawn([&counter, i] {
        *counter = i;
        for (int k = 0; k < 20; ++k) {
          spindle::this_fiber::yield();  // may move to the other worker
          if (k % 5 == 0) spindle::this_fiber::sleep_for(100us);
          ++*counter;
        }
        return *counter;
      }));
    }
    for (int i = 0; i < 50; ++i) EXPECT_EQ(ts[static_cast<std::size_t>(i)].join(), i + 20);
    EXPECT_EQ(*counter, 0);  // the joining fiber's own, untouched instance
  });
}

TEST(FiberLocal, InstancesAreDestroyedNewestFirstBeforeJoinReturns) {
  for (std::size_t workers : {1u, 2u}) {
    spindle::runtime rt(spindle::options{.workers = workers});
    std::vector<std::string> log;
    spindle::fiber_local<tracked> a([&log] { return tracked("a", &log); });
    spindle::fiber_local<tracked> b([&log] { return tracked("b", &log); });
    rt.block_on([&] {
      // Not yet started when joined on one worker: join runs it inline.
      auto t = spindle::spawn([&] {
        EXPECT_EQ(a->name, "a");
        EXPECT_EQ(b->name, "b");
      });
      t.join();
      EXPECT_EQ(log, (std::vector<std::string>{"b", "a"})) << workers << " workers";
    });
    EXPECT_EQ(tracked::alive.load(), 0);
  }
}

TEST(FiberLocal, DestroyedWhenTheBodyThrowsToo) {
  spindle::runtime rt(spindle::test::two_workers());
  spindle::fiber_local<tracked> v;
  auto t = rt.spawn([&] {
    v->name = "set";
    throw std::runtime_error("boom");
  });
  EXPECT_THROW(t.join(), std::runtime_error);
  EXPECT_EQ(tracked::alive.load(), 0);
}

TEST(FiberLocal, OutlivesItsFiberLocalObject) {
  spindle::runtime rt(spindle::test::two_workers());
  spindle::task<void> t;
  std::atomic<bool> release{false};
  {
    spindle::fiber_local<tracked> v;
    std::atomic<bool> touched{false};
    t = rt.spawn([&v, &touched, &release] {
      v->name = "still here";
      touched = true;
      while (!release) spindle::this_fiber::sleep_for(1ms);
    });
    while (!touched) std::this_thread::sleep_for(1ms);
  }  // the fiber_local goes; the fiber's instance stays with the fiber
  EXPECT_EQ(tracked::alive.load(), 1);
  release = true;
  t.join();
  EXPECT_EQ(tracked::alive.load(), 0);
}

TEST(FiberLocal, PlainThreadsHaveTheirOwnInstance) {
  spindle::fiber_local<tracked> v;
  v->name = "main thread";
  std::thread th([&v] {
    EXPECT_EQ(v->name, "unset");
    v->name = "other";
  });
  th.join();
  EXPECT_EQ(v->name, "main thread");
}

}  // namespace
