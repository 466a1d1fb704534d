// stack_pool: fiber stacks, carved from large slabs, recycled warm.
//
// Layout of one slab (low addresses left), `n` stacks per slab:
//
//   [guard][stack 0 .......... block 0][guard][stack 1 .......... block 1] ...
//
// Each stack grows down from its stack_block header, which sits at its top;
// the guard region below it catches overflows, so no stack ever has another
// stack directly below it (unless options.stack_guard is off). The guard is
// 16 KiB (`guard_bytes`), not one page: frames compiled with
// -fstack-clash-protection touch every 4 KiB page (x86-64 does; on AArch64
// the build asks GCC to, see CMakeLists.txt), and code built without the flag
// is still caught for frames under 16 KiB (a 12 KiB local array). Not more:
// a 64 KiB guard spread the stacks of 10,000 sleeping fibers over twice the
// address space, and their wake-up lateness (spindle-bench sleep p50) grew
// from ~75 to ~250 us; 16 KiB measured ~80 us.
// Guard regions are installed with MADV_GUARD_INSTALL where the kernel has it
// (Linux >= 6.13): the slab stays one VMA, and a guard costs neither memory
// nor a mapping. A slab is ~5 MiB (stack_pool.cpp), 64 stacks of the default
// 64 KiB with their guards (80 KiB each), so 100,000 fibers need ~1,600
// mappings. Older kernels fall back to mprotect(PROT_NONE), which splits
// the slab into 2 VMAs per stack: 1,000,000 fibers there need
// `sysctl vm.max_map_count=2100000` or options{.stack_guard = false}
// (docs/DESIGN.md, "Stacks").
//
// Recycling: a finished fiber's stack goes back to its worker's cache (LIFO,
// so the next spawn gets the warmest stack, no page fault); beyond
// `cache_limit` half the cache moves to the shared free list. Nothing is ever
// unmapped before the pool is destroyed; pages of stacks parked on the shared
// list beyond `keep_warm` are given back to the kernel with MADV_DONTNEED.
//
// Out of memory: acquire() throws (std::bad_alloc when mmap fails,
// std::system_error when a guard cannot be installed) and the pool is
// unchanged; the caller fails the fiber that needed the stack
// (fiber_switch.cpp).
//
// Thread safety: a worker's stack_cache belongs to that worker; the shared
// free list and the slab list are guarded by `lock_`.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <spindle/detail/spinlock.hpp>
#include <vector>

#include "fiber/sanitizers.hpp"

namespace spindle::detail {

class fiber;
class waiter;
class stack_pool;

// Test seam (tests/stack_test.cpp): while true, no pool maps a new slab, as if
// the kernel had no memory left. Read only on the cold path that maps.
extern std::atomic<bool> refuse_new_stack_slabs;

// Sits at the top of its stack. `owner` is written by the worker that starts
// the fiber and read only at shutdown, after every worker has stopped.
struct stack_block {
  stack_block* next = nullptr;  // free-list link
  fiber* owner = nullptr;       // the fiber using this stack, null when free
  // The waiter the owner is parked on, for shutdown to cancel (null: running,
  // or in a wait that must not be cancelled). Here rather than in the fiber's
  // control block: only a fiber with a stack can park. Written by the owner
  // on its worker; read at shutdown, after every worker has stopped.
  waiter* blocked_on = nullptr;
  stack_pool* pool = nullptr;   // the pool it belongs to (set once, with the slab)
  char* bottom = nullptr;       // lowest usable address (just above the guard)
  std::size_t size = 0;         // usable bytes, below this header
  sanitizer_context san;        // the fiber's context as the sanitizers see it
  void* top() noexcept { return this; }
};

// A worker's private LIFO of free stacks.
struct stack_cache {
  stack_block* head = nullptr;
  std::size_t count = 0;
};

class stack_pool {
 public:
  stack_pool(std::size_t stack_size, bool guard_pages);
  ~stack_pool();
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;

  // Hot path (spawn/finish, guarded by `spindle-bench spawn` and `skynet`):
  // a pointer pop/push on the worker's own cache, no atomics, no system call.
  stack_block* acquire(stack_cache& cache) {
    if (stack_block* b = cache.head) {
      cache.head = b->next;
      --cache.count;
      return b;
    }
    return refill(cache);
  }
  void release(stack_cache& cache, stack_block* b) noexcept {
    b->owner = nullptr;
    b->next = cache.head;
    cache.head = b;
    if (++cache.count > cache_limit) spill(cache);
  }
  // Without a worker's cache: for the pools of fibers that asked for a stack
  // size of their own (runtime_core::stacks_for), which are rare enough that
  // a lock per acquire and release costs nothing that matters.
  stack_block* acquire_shared();
  void release_shared(stack_block* b) noexcept;

  // Gives a departing worker's cache back to the shared list.
  void drain(stack_cache& cache) noexcept;

  std::size_t stack_size() const noexcept { return stack_size_; }

  // Calls fn(stack_block&) for every stack in use. Only when no worker runs
  // (so nobody else touches the pool): it reads slabs_ without the lock.
  template <class Fn>
  void for_each_in_use(Fn&& fn) SPINDLE_NO_THREAD_SAFETY_ANALYSIS;

  // Bytes of the guard region below every stack (0 without guards).
  std::size_t guard_size() const noexcept { return guard_; }

  static constexpr std::size_t cache_limit = 64;
  static constexpr std::size_t keep_warm = 1024;
  static constexpr std::size_t guard_bytes = std::size_t{16} << 10;
  // The largest stack_size accepted (runtime_core checks options against it):
  // Go's limit for a goroutine stack, far beyond what any fiber should need,
  // and small enough that no size arithmetic here can overflow.
  static constexpr std::size_t max_stack_size = std::size_t{1} << 30;

 private:
  struct slab {
    char* base;
    std::size_t bytes;
  };
  // A slab mapped by map_slab(), its stacks chained first..last, not yet
  // in the pool.
  struct fresh_slab {
    slab mapping;
    stack_block* first;
    stack_block* last;
  };
  stack_block* refill(stack_cache& cache);
  void spill(stack_cache& cache) noexcept;
  // The first stack of the shared free list, taken off it; null if empty.
  stack_block* pop_free() noexcept SPINDLE_REQUIRES(lock_);
  fresh_slab map_slab();  // without lock_
  void grow();            // takes lock_
  // Where stack i of the slab at `base` keeps its header: at the top of the
  // stack, aligned down to a cache line.
  stack_block* block_at(char* base, std::size_t i) const noexcept {
    char* top = base + (i + 1) * stride_ - sizeof(stack_block);
    return reinterpret_cast<stack_block*>(top - reinterpret_cast<std::uintptr_t>(top) % 64);
  }

  const std::size_t stack_size_;  // usable bytes per stack, page multiple
  const std::size_t page_;
  const std::size_t guard_;       // guard region below each stack, page multiple or 0
  const std::size_t stride_;      // guard + stack
  const std::size_t per_slab_;

  spinlock lock_;
  std::vector<slab> slabs_ SPINDLE_GUARDED_BY(lock_);
  stack_block* free_ SPINDLE_GUARDED_BY(lock_) = nullptr;
  std::size_t free_count_ SPINDLE_GUARDED_BY(lock_) = 0;
};

template <class Fn>
void stack_pool::for_each_in_use(Fn&& fn) {
  for (const slab& s : slabs_) {
    for (std::size_t i = 0; i < per_slab_; ++i) {
      stack_block* b = block_at(s.base, i);
      if (b->owner) fn(*b);
    }
  }
}

}  // namespace spindle::detail
