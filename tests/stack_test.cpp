// Fiber stacks at their limits: overflows of every frame size end in the
// named report, never in a neighbouring fiber's stack; a spawn that finds no
// memory for the fiber throws, a fiber that finds none for its stack fails
// alone; stack sizes out of range are refused at construction.
#include "fiber/fiber_allocator.hpp"  // runtime/: the fault-injection seams
#include "fiber/stack_pool.hpp"
#include "test_support.hpp"
#include "unprobed_frames.hpp"

#include <spindle/runtime.hpp>
#include <spindle/sync.hpp>
#include <spindle/this_fiber.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kib = 1024;

// The death tests' stacks: 64 KiB in every build, so the report is exact.
spindle::options one_worker_64k() {
  return spindle::options{.workers = 1, .stack_size = 64 * kib};
}

// The report, for a fiber whose id the test knows: a fresh runtime numbers
// its fibers from 1 in spawn order (the block_on fiber is 1, the first fiber
// it spawns 2). The fiber also says it is about to overflow: the report must
// come after that, from the overflow.
std::string overflow_report(int fiber_id) {
  const std::string id = std::to_string(fiber_id);
  return "fiber " + id +
         " overflows now\n.*spindle: fiber stack overflow \\(stack_size = 64 KiB\\) in fiber " +
         id + "\n";
}

void announce_overflow() {
  std::fprintf(stderr, "fiber %llu overflows now\n",
               static_cast<unsigned long long>(spindle::this_fiber::id()));
}

// The same 12 KiB frames as recurse_unprobed, but compiled like the rest of
// the suite (with -fstack-clash-protection): every page of a frame is touched
// from the top down.
[[gnu::noinline]] int recurse_probed(int depth, int limit) {
  volatile char frame[12 * kib];
  frame[0] = static_cast<char>(depth);
  if (depth == limit) return frame[0];
  return recurse_probed(depth + 1, limit) + frame[0];
}

// Eight 12 KiB frames reach ~34 KiB below a 64 KiB stack: past a one-page
// guard into the stack below, but not through it.
constexpr int past_the_stack = 8;

// One worker. The overflowing fiber (id 2) starts first; then the neighbours start,
// and the stack each takes sits below the ones taken before (the worker's
// stack cache is LIFO, stack_pool.hpp). Each neighbour fills a canary and
// parks; then `overflow` runs. If nothing stopped it, it returns, and the
// neighbours check their canaries: the child then exits normally, having
// failed to die, and says whose stack was overwritten.
template <class Overflow>
void overflow_above_parked_neighbours(Overflow overflow) {
  spindle::runtime rt(one_worker_64k());
  rt.block_on([&] {
    spindle::latch go(1), release(1);
    auto overflowing = spindle::spawn([&] {
      go.wait();
      announce_overflow();
      overflow();
    });
    spindle::this_fiber::yield();  // it takes its stack and waits
    std::vector<spindle::task<bool>> neighbours;
    for (int i = 0; i < 4; ++i) {
      neighbours.push_back(spindle::spawn([&release] {
        volatile unsigned char canary[16 * kib];
        for (std::size_t k = 0; k < sizeof canary; ++k)
          canary[k] = static_cast<unsigned char>(k * 7);
        release.wait();
        for (std::size_t k = 0; k < sizeof canary; ++k)
          if (canary[k] != static_cast<unsigned char>(k * 7)) return false;
        return true;
      }));
    }
    spindle::this_fiber::yield();  // they take their stacks and park
    go.count_down();
    overflowing.join();
    release.count_down();
    for (auto& n : neighbours)
      if (!n.join()) std::fputs("a neighbour's stack was overwritten\n", stderr);
  });
}

TEST(StackOverflowDeathTest, TwelveKiBFramesHitTheGuardNotTheNeighbour) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(overflow_above_parked_neighbours([] { recurse_probed(0, past_the_stack); }),
              testing::KilledBySignal(SIGABRT), overflow_report(2));
}

TEST(StackOverflowDeathTest, UnprobedTwelveKiBFramesHitTheGuardNotTheNeighbour) {
  // Code built without -fstack-clash-protection skips pages: the guard region
  // itself must be deeper than such a frame.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      overflow_above_parked_neighbours([] { spindle::test::recurse_unprobed(0, past_the_stack); }),
      testing::KilledBySignal(SIGABRT), overflow_report(2));
}

[[gnu::noinline]] int one_frame_of_256k() {
  volatile char frame[256 * kib];
  frame[0] = 1;
  return frame[0];
}

TEST(StackOverflowDeathTest, FrameLargerThanTheGuardIsCaughtByItsProbes) {
  // A 256 KiB frame in a 64 KiB stack reaches past any guard region: only
  // -fstack-clash-protection (on for this suite, as for the library) makes it
  // touch the guard on its way down.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(overflow_above_parked_neighbours([] { one_frame_of_256k(); }),
              testing::KilledBySignal(SIGABRT), overflow_report(2));
}

struct overflows_when_destroyed {
  ~overflows_when_destroyed() {
    announce_overflow();
    recurse_probed(0, 1000);
  }
};

TEST(StackOverflowDeathTest, OverflowWhileTheRuntimeUnwindsFibersIsReported) {
  // ~runtime() unwinds parked fibers on the destroying thread, which is no
  // worker: the report needs an alternate signal stack there too.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        spindle::runtime rt(one_worker_64k());
        spindle::latch started(1);
        rt.spawn([&started] {
            overflows_when_destroyed o;
            started.count_down();
            spindle::this_fiber::sleep_for(1h);
          }).detach();
        started.wait();
      },
      testing::KilledBySignal(SIGABRT), overflow_report(1));
}

TEST(StackOptions, SizesBeyondTheMaximumAreRejected) {
  constexpr std::size_t huge[] = {
      std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max() - 4095,
      std::numeric_limits<std::size_t>::max() / 2, (std::size_t{1} << 30) + 1};
  for (std::size_t size : huge) {
    try {
      spindle::runtime rt(spindle::options{.workers = 1, .stack_size = size});
      ADD_FAILURE() << "stack_size " << size << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), "spindle::options::stack_size: " + std::to_string(size) +
                                           " bytes is more than the maximum of 1073741824 (1 GiB)");
    }
  }
}

TEST(StackOptions, TheMaximumSizeWorks) {
  spindle::runtime rt(spindle::options{.workers = 1, .stack_size = std::size_t{1} << 30});
  EXPECT_EQ(rt.block_on([] { return recurse_probed(0, 64); }), 64 * 65 / 2);
}

// Out of memory for stacks, injected: while set, the pool maps no new slab
// (the seam is process-wide; these tests run one runtime at a time).
void refuse_new_stack_slabs(spindle::runtime&, bool refuse) {
  spindle::detail::refuse_new_stack_slabs = refuse;
}

TEST(StackMemory, AFiberWithoutAStackFailsItsJoinWithBadAlloc) {
  spindle::runtime rt(spindle::options{.workers = 1});
  refuse_new_stack_slabs(rt, true);
  bool ran = false;
  EXPECT_THROW(rt.block_on([&ran] { ran = true; }), std::bad_alloc);
  EXPECT_FALSE(ran);
  // The worker is still there and runs the next fiber once memory is back.
  refuse_new_stack_slabs(rt, false);
  EXPECT_EQ(rt.block_on([] { return 42; }), 42);
}

TEST(StackMemory, OnlyTheFibersThatFindNoStackFail) {
  // 200 fibers that each hold their stack until all have started, and one
  // slab of stacks: the fibers that find none fail with bad_alloc before
  // running; the others run to completion, their waits undisturbed by the
  // failures that happen while they switch away.
  constexpr int n = 200;
  for (std::size_t workers : {1, 2}) {
    spindle::runtime rt(spindle::options{.workers = workers, .stack_size = 64 * kib});
    rt.block_on([] {});  // maps the first slab
    refuse_new_stack_slabs(rt, true);
    auto ran = std::make_unique<std::atomic<bool>[]>(n);
    int returned = 0, failed = 0;
    rt.block_on([&] {
      spindle::latch release(1);
      std::vector<spindle::task<int>> ts;
      for (int i = 0; i < n; ++i) {
        ts.push_back(spindle::spawn([&ran, &release, i] {
          ran[i] = true;
          release.wait();
          return i;
        }));
      }
      // Every fiber either holds a stack or has failed before any lets go.
      auto all_started_or_failed = [&] {
        for (int i = 0; i < n; ++i)
          if (!ran[i] && !ts[i].done()) return false;
        return true;
      };
      while (!all_started_or_failed()) spindle::this_fiber::yield();
      release.count_down();
      for (int i = 0; i < n; ++i) {
        try {
          EXPECT_EQ(ts[i].join(), i);
          ++returned;
        } catch (const std::bad_alloc&) {
          EXPECT_FALSE(ran[i]) << "fiber " << i << " ran, then saw another fiber's bad_alloc";
          ++failed;
        }
      }
    });
    EXPECT_EQ(returned + failed, n) << workers << " worker(s)";
    EXPECT_GE(returned, 1) << workers << " worker(s)";
    EXPECT_GE(failed, 1) << workers << " worker(s)";
    if (workers == 1) {
      // One 5 MiB slab holds 64 stacks of 64 KiB, each above a 16 KiB guard
      // (stack_pool.cpp); the block_on fiber holds one of them.
      EXPECT_EQ(returned, 63);
    }
    refuse_new_stack_slabs(rt, false);
    EXPECT_EQ(rt.block_on([] { return 7; }), 7) << workers << " worker(s)";
  }
}

TEST(StackMemory, ADetachedFiberWithoutAStackIsReported) {
  spindle::runtime rt(spindle::options{.workers = 1});
  refuse_new_stack_slabs(rt, true);
  testing::internal::CaptureStderr();
  auto t = rt.spawn([] {});
  const auto id = t.id();
  t.detach();
  // One worker takes fibers from a thread in spawn order: once the next one
  // has failed, the detached one has been reported.
  EXPECT_THROW(rt.block_on([] {}), std::bad_alloc);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(
      err.find("spindle: detached fiber " + std::to_string(id) + " terminated by an exception: "),
      std::string::npos)
      << err;
  EXPECT_NE(err.find("bad_alloc"), std::string::npos) << err;
  refuse_new_stack_slabs(rt, false);
  EXPECT_EQ(rt.block_on([] { return 8; }), 8);
}

// A fiber of the pool's 320-byte class: a refill takes 64 blocks (20 KiB),
// which does not divide a 2 MiB chunk, so a chunk runs out in the middle of a
// refill (fiber_allocator.cpp).
struct returns_its_index {
  int i;
  std::array<char, 64> ballast{};
  int operator()() const { return i; }
};
using fiber_of_320_bytes =
    spindle::detail::fiber_impl<int, decltype(spindle::detail::bind_decayed(
                                         std::declval<returns_its_index>()))>;
static_assert(sizeof(fiber_of_320_bytes) > 256 && sizeof(fiber_of_320_bytes) <= 320);

TEST(FiberMemory, SpawnWithoutMemoryForTheFiberThrowsAndThePoolCarriesOn) {
  if (spindle::test::sanitized)
    GTEST_SKIP() << "AddressSanitizer and ThreadSanitizer builds take fibers from operator new, "
                    "not from the pool whose chunks this test refuses";
  spindle::runtime rt(spindle::options{.workers = 1});
  EXPECT_EQ(rt.spawn(returns_its_index{-1}).join(), -1);  // the pool has a chunk
  constexpr int most = 200'000;  // far more than the pool's free blocks and its chunk hold
  std::vector<spindle::task<int>> ts;
  ts.reserve(most);
  int refused = 0;
  spindle::detail::refuse_new_fiber_chunks = true;
  for (int i = 0; i < most && refused == 0; ++i) {
    try {
      ts.push_back(rt.spawn(returns_its_index{i}));
    } catch (const std::bad_alloc&) {
      ++refused;
    }
  }
  spindle::detail::refuse_new_fiber_chunks = false;
  ASSERT_EQ(refused, 1);
  ASSERT_GT(ts.size(), 0u);
  // The calling thread's block cache must still match its count: spawns that
  // drain it, then joins that free every block on this thread (the fibers
  // have long finished and the worker dropped its references: one worker
  // runs the block_on fiber after them) and fill the cache past its spill
  // limit. A cache holding blocks it did not count crashed in the spill.
  for (int i = 0; i < 1000; ++i) ts.push_back(rt.spawn(returns_its_index{i}));
  rt.block_on([] {});
  for (std::size_t k = 0; k < ts.size() - 1000; ++k) EXPECT_EQ(ts[k].join(), static_cast<int>(k));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(ts[ts.size() - 1000 + i].join(), i);
}

}  // namespace
