// stack_pool (runtime/fiber/stack_pool.hpp): stacks taken and given back
// through a worker's cache, the shared list behind it, slab reuse, drain and
// for_each_in_use. That a guard region faults is stack_test's part.
// refuse_new_stack_slabs (the pool's test seam) makes "no new slab was mapped"
// observable: with it set, only stacks the pool already has can be handed out.
#include "fiber/stack_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <set>
#include <vector>

namespace {

using spindle::detail::fiber;
using spindle::detail::stack_block;
using spindle::detail::stack_cache;
using spindle::detail::stack_pool;

constexpr std::size_t stack_size = 64 << 10;

// Takes stacks from `cache` until the pool refuses to map a slab; returns
// them. New slabs are allowed again afterwards (the seam is process-wide: a
// refusal left behind made the next test's first acquire fail).
std::vector<stack_block*> take_all_mapped(stack_pool& pool, stack_cache& cache) {
  spindle::detail::refuse_new_stack_slabs = true;
  std::vector<stack_block*> out;
  for (;;) {
    try {
      out.push_back(pool.acquire(cache));
    } catch (const std::bad_alloc&) {
      break;
    }
  }
  spindle::detail::refuse_new_stack_slabs = false;
  return out;
}

std::size_t count_in_use(stack_pool& pool) {
  std::size_t n = 0;
  pool.for_each_in_use([&](stack_block&) { ++n; });
  return n;
}

TEST(StackPool, AStackIsUsableBelowItsHeaderAboveTheGuard) {
  stack_pool pool(stack_size, /*guard_pages=*/true);
  stack_cache cache;
  stack_block* b = pool.acquire(cache);
  EXPECT_EQ(pool.stack_size(), stack_size);
  EXPECT_EQ(pool.guard_size(), stack_pool::guard_bytes);
  EXPECT_EQ(b->bottom + b->size, reinterpret_cast<char*>(b));  // the header sits at the top
  EXPECT_LE(b->size, stack_size);
  EXPECT_GE(b->size + sizeof(stack_block) + 64, stack_size);  // the header and its alignment only
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) % 64, 0u);
  EXPECT_EQ(b->san.stack_bottom, b->bottom);
  EXPECT_EQ(b->san.stack_size, b->size);
  EXPECT_EQ(b->owner, nullptr);
  std::memset(b->bottom, 0xab, b->size);  // every byte of it is writable
  pool.release(cache, b);
}

TEST(StackPool, WithoutGuardsThereIsNoGuardRegion) {
  stack_pool pool(stack_size, /*guard_pages=*/false);
  stack_cache cache;
  EXPECT_EQ(pool.guard_size(), 0u);
  stack_block* b = pool.acquire(cache);
  std::memset(b->bottom, 0xab, b->size);
  pool.release(cache, b);
}

TEST(StackPool, TheStackSizeIsRoundedUpToPages) {
  stack_pool pool(stack_size + 1, true);
  EXPECT_EQ(pool.stack_size() % 4096, 0u);
  EXPECT_GT(pool.stack_size(), stack_size);
}

TEST(StackPool, TheFirstAcquireFillsHalfACacheFromANewSlab) {
  stack_pool pool(stack_size, true);
  stack_cache cache;
  stack_block* b = pool.acquire(cache);
  EXPECT_EQ(cache.count, stack_pool::cache_limit / 2);
  // The next ones come from the cache, warmest (most recently given back) first.
  stack_block* c = pool.acquire(cache);
  EXPECT_EQ(cache.count, stack_pool::cache_limit / 2 - 1);
  pool.release(cache, c);
  EXPECT_EQ(pool.acquire(cache), c);
  pool.release(cache, c);
  pool.release(cache, b);
  EXPECT_EQ(cache.count, stack_pool::cache_limit / 2 + 1);
}

TEST(StackPool, StacksGivenBackAreReusedWithoutANewSlab) {
  stack_pool pool(stack_size, true);
  stack_cache cache;
  (void)pool.acquire(cache);  // maps the first slab (and keeps one stack)
  std::vector<stack_block*> taken = take_all_mapped(pool, cache);
  const std::size_t per_slab = taken.size() + 1;
  ASSERT_GT(per_slab, 2u);
  std::set<stack_block*> distinct(taken.begin(), taken.end());
  EXPECT_EQ(distinct.size(), taken.size());
  // The pool is unchanged by the refusal: what is given back is handed out again.
  for (stack_block* b : taken) pool.release(cache, b);
  std::vector<stack_block*> again = take_all_mapped(pool, cache);
  EXPECT_EQ(std::set<stack_block*>(again.begin(), again.end()), distinct);
  // With new slabs allowed, one more stack maps a second slab.
  stack_block* more = pool.acquire(cache);
  EXPECT_EQ(distinct.count(more), 0u);
  pool.release(cache, more);
  for (stack_block* b : again) pool.release(cache, b);
}

TEST(StackPool, AFullCacheSpillsHalfToTheSharedList) {
  stack_pool pool(stack_size, true);
  stack_cache source;
  stack_cache full;
  stack_cache other;
  std::vector<stack_block*> taken;
  for (std::size_t i = 0; i <= stack_pool::cache_limit; ++i) taken.push_back(pool.acquire(source));
  for (std::size_t i = 0; i < stack_pool::cache_limit; ++i) pool.release(full, taken[i]);
  EXPECT_EQ(full.count, stack_pool::cache_limit);  // at the limit: kept
  // The release that takes the cache past its limit moves half of it out.
  pool.release(full, taken.back());
  EXPECT_EQ(full.count, stack_pool::cache_limit + 1 - (stack_pool::cache_limit + 1) / 2);
  // The spilled half is the most recently released (the warm end of the
  // LIFO); another worker's cache gets it without a new slab.
  std::set<stack_block*> spilled(taken.end() - (stack_pool::cache_limit + 1) / 2, taken.end());
  std::set<stack_block*> kept;
  for (stack_block* b = full.head; b; b = b->next) kept.insert(b);
  EXPECT_EQ(kept, std::set<stack_block*>(taken.begin(), taken.end() - spilled.size()));
  std::vector<stack_block*> got = take_all_mapped(pool, other);
  std::set<stack_block*> got_set(got.begin(), got.end());
  for (stack_block* b : spilled) EXPECT_EQ(got_set.count(b), 1u);
  for (stack_block* b : kept) EXPECT_EQ(got_set.count(b), 0u);
}

TEST(StackPool, DrainGivesACacheBackToOtherWorkers) {
  stack_pool pool(stack_size, true);
  stack_cache departing;
  stack_cache other;
  (void)pool.acquire(departing);
  std::vector<stack_block*> taken = take_all_mapped(pool, departing);
  const std::size_t per_slab = taken.size() + 1;
  for (stack_block* b : taken) pool.release(departing, b);
  pool.drain(departing);
  EXPECT_EQ(departing.count, 0u);
  EXPECT_EQ(departing.head, nullptr);
  // Everything the departing worker held (all but the one still in use) is
  // now available to the other worker, and nothing more.
  std::vector<stack_block*> got = take_all_mapped(pool, other);
  EXPECT_EQ(got.size(), per_slab - 1);
  EXPECT_EQ(std::set<stack_block*>(got.begin(), got.end()),
            std::set<stack_block*>(taken.begin(), taken.end()));
}

TEST(StackPool, ForEachInUseVisitsExactlyTheStacksWithAnOwner) {
  stack_pool pool(stack_size, true);
  stack_cache cache;
  fiber* const owner = reinterpret_cast<fiber*>(&cache);  // a stand-in, never followed
  EXPECT_EQ(count_in_use(pool), 0u);
  std::vector<stack_block*> running;
  for (int i = 0; i < 5; ++i) {
    stack_block* b = pool.acquire(cache);
    b->owner = owner;  // as the worker that starts a fiber on it does
    running.push_back(b);
  }
  stack_block* unstarted = pool.acquire(cache);  // taken, but no fiber on it yet
  std::set<stack_block*> seen;
  pool.for_each_in_use([&](stack_block& b) {
    EXPECT_EQ(b.owner, owner);
    seen.insert(&b);
  });
  EXPECT_EQ(seen, std::set<stack_block*>(running.begin(), running.end()));
  pool.release(cache, running[2]);  // release clears the owner
  EXPECT_EQ(running[2]->owner, nullptr);
  EXPECT_EQ(count_in_use(pool), 4u);
  for (stack_block* b : running) {
    if (b != running[2]) pool.release(cache, b);
  }
  pool.release(cache, unstarted);
  EXPECT_EQ(count_in_use(pool), 0u);
}

TEST(StackPool, ForEachInUseCoversEverySlab) {
  stack_pool pool(stack_size, false);
  stack_cache cache;
  fiber* const owner = reinterpret_cast<fiber*>(&cache);
  (void)pool.acquire(cache);
  std::vector<stack_block*> first_slab = take_all_mapped(pool, cache);
  std::vector<stack_block*> all = first_slab;
  for (int i = 0; i < 3; ++i) all.push_back(pool.acquire(cache));  // from a second slab
  for (stack_block* b : all) b->owner = owner;
  EXPECT_EQ(count_in_use(pool), all.size());
  for (stack_block* b : all) pool.release(cache, b);
  EXPECT_EQ(count_in_use(pool), 0u);
}

}  // namespace
