#include "fiber/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <new>
#include <system_error>

namespace spindle::detail {
namespace {

// Linux >= 6.13; Debian 12's headers predate it.
constexpr int madv_guard_install = 102;

// Slabs hold about 5 MiB of stacks and guards (64 default stacks of 64 KiB
// above 16 KiB guards): few mappings, and a fresh slab is cheap because
// MAP_NORESERVE pages cost nothing until touched.
constexpr std::size_t slab_target_bytes = std::size_t{5} << 20;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Installs a guard region without splitting the mapping where the kernel can.
void install_guard(char* page, std::size_t len) {
  static std::atomic<bool> guard_install_works{true};
  if (guard_install_works.load(std::memory_order_relaxed)) {
    if (::madvise(page, len, madv_guard_install) == 0) return;
    if (errno != EINVAL) throw std::system_error(errno, std::generic_category(), "madvise(MADV_GUARD_INSTALL)");
    guard_install_works.store(false, std::memory_order_relaxed);
  }
  if (::mprotect(page, len, PROT_NONE) != 0)
    throw std::system_error(errno, std::generic_category(),
                            "spindle: mprotect of a stack guard region (raise vm.max_map_count, or "
                            "options.stack_guard = false)");
}

}  // namespace

std::atomic<bool> refuse_new_stack_slabs{false};

// stack_size <= max_stack_size (runtime_core checks the option), so no sum
// or rounding here can overflow.
stack_pool::stack_pool(std::size_t stack_size, bool guard_pages)
    : stack_size_(round_up(stack_size, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)))),
      page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))),
      guard_(guard_pages ? round_up(guard_bytes, page_) : 0),
      stride_(stack_size_ + guard_),
      per_slab_(stride_ >= slab_target_bytes ? 1 : slab_target_bytes / stride_) {}

stack_pool::~stack_pool() {
  for (const slab& s : slabs_) ::munmap(s.base, s.bytes);
}

// Maps a slab and threads its stacks into a chain, lowest address first,
// touching nothing shared: no lock is held meanwhile, because a slab costs a
// system call per guard and a page fault per stack header (~100 us), and a
// worker spawning on another core must not spin behind that. Throws with
// nothing mapped.
stack_pool::fresh_slab stack_pool::map_slab() {
  if (refuse_new_stack_slabs.load(std::memory_order_relaxed)) throw std::bad_alloc();
  const std::size_t bytes = per_slab_ * stride_;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  char* base = static_cast<char*>(mem);
  try {
    for (std::size_t i = 0; i < per_slab_ && guard_; ++i) install_guard(base + i * stride_, guard_);
  } catch (...) {
    ::munmap(mem, bytes);
    throw;
  }
  fresh_slab f{{base, bytes}, nullptr, nullptr};
  for (std::size_t i = per_slab_; i-- > 0;) {
    char* top = reinterpret_cast<char*>(block_at(base, i));
    auto* b = new (top) stack_block;
    b->pool = this;
    b->bottom = base + i * stride_ + guard_;
    b->size = static_cast<std::size_t>(top - b->bottom);
    b->san.stack_bottom = b->bottom;
    b->san.stack_size = b->size;
    b->next = f.first;
    f.first = b;
    if (!f.last) f.last = b;
  }
  return f;
}

// Throws with the pool unchanged (see "Out of memory" in stack_pool.hpp).
void stack_pool::grow() {
  const fresh_slab f = map_slab();
  std::lock_guard<spinlock> g(lock_);
  try {
    slabs_.push_back(f.mapping);
  } catch (...) {
    ::munmap(f.mapping.base, f.mapping.bytes);
    throw;
  }
  f.last->next = free_;
  free_ = f.first;
  free_count_ += per_slab_;
}

stack_block* stack_pool::pop_free() noexcept {
  stack_block* b = free_;
  if (b) {
    free_ = b->next;
    --free_count_;
  }
  return b;
}

stack_block* stack_pool::refill(stack_cache& cache) {
  for (;;) {
    {
      std::lock_guard<spinlock> g(lock_);
      if (stack_block* first = pop_free()) {
        // Take up to half a cache's worth at once, to amortise the lock.
        for (std::size_t i = 0; i < cache_limit / 2; ++i) {
          stack_block* b = pop_free();
          if (!b) break;
          b->next = cache.head;
          cache.head = b;
          ++cache.count;
        }
        return first;
      }
    }
    grow();  // others may take the new stacks first: then again
  }
}

stack_block* stack_pool::acquire_shared() {
  for (;;) {
    {
      std::lock_guard<spinlock> g(lock_);
      if (stack_block* b = pop_free()) return b;
    }
    grow();
  }
}

void stack_pool::release_shared(stack_block* b) noexcept {
  b->owner = nullptr;
  std::lock_guard<spinlock> g(lock_);
  b->next = free_;
  free_ = b;
  ++free_count_;
}

void stack_pool::spill(stack_cache& cache) noexcept {
  std::size_t n = cache.count / 2;
  std::lock_guard<spinlock> g(lock_);
  for (std::size_t i = 0; i < n; ++i) {
    stack_block* b = cache.head;
    cache.head = b->next;
    --cache.count;
    if (free_count_ >= keep_warm) {
      // Give the used pages back; the header page stays (it holds the links).
      std::size_t len = static_cast<std::size_t>(reinterpret_cast<char*>(b) - b->bottom);
      len -= len % page_;
      if (len) ::madvise(b->bottom, len, MADV_DONTNEED);
    }
    b->next = free_;
    free_ = b;
    ++free_count_;
  }
}

void stack_pool::drain(stack_cache& cache) noexcept {
  std::lock_guard<spinlock> g(lock_);
  while (stack_block* b = cache.head) {
    cache.head = b->next;
    b->next = free_;
    free_ = b;
    ++free_count_;
  }
  cache.count = 0;
}

}  // namespace spindle::detail
