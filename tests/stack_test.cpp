// Fiber stacks at their limits: overflows of every frame size end in the
// named report, never in a neighbouring fiber's stack; stack sizes out of
// range are refused at construction.
#include "test_support.hpp"
#include "unprobed_frames.hpp"

#include <spindle/runtime.hpp>
#include <spindle/sync.hpp>
#include <spindle/this_fiber.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
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

}  // namespace
