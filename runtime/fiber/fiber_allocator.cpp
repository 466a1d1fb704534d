// fiber_allocator: memory for fiber control blocks (api/spindle/detail/fiber.hpp).
//
// Spawn-heavy programs create fibers faster than they finish (skynet, a loop of
// spawns): a million queued fibers is 150 MB of control blocks. From malloc that
// is a fresh 4 KiB page fault every ~28 fibers (about 1 us each on the
// reference machine) plus glibc's arena growth; here it is one fault per 2 MiB
// chunk (transparent huge pages where the kernel allows them) and a pointer
// pop/push in a per-thread cache.
//
// Blocks come in 64-byte size classes up to 512 bytes (larger fibers use
// operator new). Each thread keeps a LIFO free list per class; past
// `cache_limit` blocks the newer half moves to the shared list, and an empty list refills
// from it (or from the current chunk) `batch` blocks at a time. A thread's
// cache goes back to the shared lists when the thread exits. Chunks are never
// unmapped: freed blocks are reused by later fibers (a pool, like the stacks).
//
// Out of memory: operator new throws std::bad_alloc only when it got no block
// at all (a refill that got some blocks before the chunk ran out succeeds), so
// a thread's cache and its count stay in step and spawn fails cleanly.
//
// Under AddressSanitizer or ThreadSanitizer every block comes from operator
// new, so the sanitizers keep seeing each fiber's lifetime.
#include "fiber/fiber_allocator.hpp"

#include <spindle/detail/fiber.hpp>
#include <spindle/detail/spinlock.hpp>

#include <sys/mman.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>

#include "fiber/sanitizers.hpp"

namespace spindle::detail {
namespace {

constexpr std::size_t granule = 64;
constexpr std::size_t classes = 8;  // 64, 128, ..., 512 bytes
constexpr std::size_t chunk_bytes = std::size_t{2} << 20;
constexpr std::uint32_t cache_limit = 512;
constexpr std::uint32_t batch = 64;

struct free_block {
  free_block* next;
};

std::size_t class_of(std::size_t n) noexcept { return (n + granule - 1) / granule - 1; }

// Shared by every thread; all fields guarded by `lock`.
struct shared_pool {
  spinlock lock;
  std::array<free_block*, classes> free SPINDLE_GUARDED_BY(lock){};
  char* chunk_next SPINDLE_GUARDED_BY(lock) = nullptr;
  char* chunk_end SPINDLE_GUARDED_BY(lock) = nullptr;

  // Moves up to `batch` blocks of class c into `head`; returns how many.
  // Throws std::bad_alloc if there were none to move.
  std::uint32_t refill(std::size_t c, free_block*& head) {
    std::lock_guard<spinlock> g(lock);
    std::uint32_t n = 0;
    while (n < batch && free[c]) {
      free_block* b = free[c];
      free[c] = b->next;
      b->next = head;
      head = b;
      ++n;
    }
    const std::size_t size = (c + 1) * granule;
    while (n < batch) {
      if (static_cast<std::size_t>(chunk_end - chunk_next) < size && !new_chunk()) {
        if (n) break;
        throw std::bad_alloc();
      }
      auto* b = reinterpret_cast<free_block*>(chunk_next);
      chunk_next += size;
      b->next = head;
      head = b;
      ++n;
    }
    return n;
  }

  void give_back(std::size_t c, free_block* first, free_block* last) noexcept {
    std::lock_guard<spinlock> g(lock);
    last->next = free[c];
    free[c] = first;
  }

 private:
  // False, with the pool unchanged, when there is no memory for a chunk.
  bool new_chunk() noexcept SPINDLE_REQUIRES(lock) {
    if (refuse_new_fiber_chunks.load(std::memory_order_relaxed)) return false;
    // Over-map by one chunk to align to 2 MiB (a huge page needs alignment).
    void* m = ::mmap(nullptr, 2 * chunk_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return false;
    auto base = reinterpret_cast<std::uintptr_t>(m);
    auto aligned = (base + chunk_bytes - 1) & ~(chunk_bytes - 1);
    if (aligned > base) ::munmap(m, aligned - base);
    ::munmap(reinterpret_cast<void*>(aligned + chunk_bytes), base + chunk_bytes - aligned);
    ::madvise(reinterpret_cast<void*>(aligned), chunk_bytes, MADV_HUGEPAGE);
    chunk_next = reinterpret_cast<char*>(aligned);
    chunk_end = chunk_next + chunk_bytes;
    return true;
  }
};

shared_pool& pool() {
  static shared_pool* p = new shared_pool;  // never destroyed: blocks may be freed at exit
  return *p;
}

// One per thread; returns everything to the shared pool when the thread exits.
struct thread_cache {
  std::array<free_block*, classes> head{};
  std::array<std::uint32_t, classes> count{};

  ~thread_cache() {
    for (std::size_t c = 0; c < classes; ++c) {
      if (!head[c]) continue;
      free_block* last = head[c];
      while (last->next) last = last->next;
      pool().give_back(c, head[c], last);
    }
  }
};

thread_local thread_cache cache [[gnu::tls_model("initial-exec")]];

}  // namespace

std::atomic<bool> refuse_new_fiber_chunks{false};

void* fiber::operator new(std::size_t n) {
  if (sanitized || n > classes * granule) return ::operator new(n);
  const std::size_t c = class_of(n);
  thread_cache& tc = cache;
  if (!tc.head[c]) tc.count[c] += pool().refill(c, tc.head[c]);
  free_block* b = tc.head[c];
  tc.head[c] = b->next;
  --tc.count[c];
  return b;
}

void fiber::operator delete(void* p, std::size_t n) noexcept {
  if (sanitized || n > classes * granule) return ::operator delete(p);
  const std::size_t c = class_of(n);
  thread_cache& tc = cache;
  auto* b = static_cast<free_block*>(p);
  b->next = tc.head[c];
  tc.head[c] = b;
  if (++tc.count[c] > cache_limit) {
    // Hand the newer half to the shared pool in one splice. The newer half:
    // its blocks were freed last, so walking to its end reads lines still in
    // this core's cache, where walking the older half read one cold line per
    // block (a quarter of `spindle-bench spawn`'s time), and a spawning
    // thread that takes them from the pool gets lines it can fetch from a
    // neighbour's cache rather than from memory.
    free_block* newer = tc.head[c];
    free_block* last = newer;
    for (std::uint32_t i = 1; i < cache_limit / 2; ++i) last = last->next;
    tc.head[c] = last->next;
    tc.count[c] -= cache_limit / 2;
    pool().give_back(c, newer, last);
  }
}

}  // namespace spindle::detail
