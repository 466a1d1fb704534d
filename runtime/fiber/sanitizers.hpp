// sanitizers: fiber-switch annotations for AddressSanitizer and ThreadSanitizer.
//
// Boost.Context annotates only its slow ucontext backend; spindle switches with
// fcontext, so it tells the sanitizers itself. Every switch is bracketed:
//
//   before_switch(from, to)  on the old stack, right before jump_fcontext
//   after_switch(...)        on the new stack, first thing after it resumes
//
// ASan needs to know the bounds of the stack being entered (to keep its fake
// stacks and stack-overflow checks right); TSan needs a fiber handle per
// fiber so that happens-before edges follow the fiber, not the OS thread.
// In a normal build every function here is an empty inline.
#pragma once

#include <atomic>
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define SPINDLE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPINDLE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SPINDLE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPINDLE_TSAN 1
#endif
#endif

#ifdef SPINDLE_ASAN
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom,
                                               std::size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old,
                                                std::size_t* size_old);
#endif
#ifdef SPINDLE_TSAN
extern "C" void* __tsan_get_current_fiber();
extern "C" void* __tsan_create_fiber(unsigned flags);
extern "C" void __tsan_destroy_fiber(void* fiber);
extern "C" void __tsan_switch_to_fiber(void* fiber, unsigned flags);
#endif

namespace spindle::detail {

inline constexpr bool sanitized =
#if defined(SPINDLE_ASAN) || defined(SPINDLE_TSAN)
    true;
#else
    false;
#endif

// What the sanitizers need to know of one execution context (a fiber, or a
// worker's scheduler loop on its thread stack). `fake_stack` is ASan's saved
// fake stack of this context while it is switched out.
struct sanitizer_context {
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* tsan_fiber = nullptr;
  void* fake_stack = nullptr;
};

// On the old stack, right before the jump. `leaving_for_good`: `from` will
// never run again (a finished fiber), so ASan may release its fake stack.
inline void before_switch([[maybe_unused]] sanitizer_context& from,
                          [[maybe_unused]] const sanitizer_context& to,
                          [[maybe_unused]] bool leaving_for_good) {
#ifdef SPINDLE_ASAN
  __sanitizer_start_switch_fiber(leaving_for_good ? nullptr : &from.fake_stack, to.stack_bottom,
                                 to.stack_size);
#endif
#ifdef SPINDLE_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
}

// On the new stack, first thing after the jump lands.
inline void after_switch([[maybe_unused]] sanitizer_context& self) {
#ifdef SPINDLE_ASAN
  __sanitizer_finish_switch_fiber(self.fake_stack, nullptr, nullptr);
#endif
}

// A full (StoreLoad) fence, for the Dekker-style hand-shakes of the idle and
// timer protocols. ThreadSanitizer does not model fences (and warns about
// them), so under it the fence is a sequentially consistent read-modify-write
// of a dummy atomic, which TSan does model and which orders the same way.
// On x86-64 a locked no-op on the stack orders like mfence at about half the
// cost (Linux's smp_mb() does the same); it sits on the spawn and wake paths.
inline void full_fence() noexcept {
#if defined(SPINDLE_TSAN)
  static std::atomic<int> dummy{0};
  dummy.fetch_add(0, std::memory_order_seq_cst);
#elif defined(__x86_64__)
  asm volatile("lock orq $0, (%%rsp)" ::: "memory", "cc");
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

inline void* tsan_current_fiber() {
#ifdef SPINDLE_TSAN
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}
inline void* tsan_create_fiber() {
#ifdef SPINDLE_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}
inline void tsan_destroy_fiber([[maybe_unused]] void* f) {
#ifdef SPINDLE_TSAN
  if (f) __tsan_destroy_fiber(f);
#endif
}

}  // namespace spindle::detail
