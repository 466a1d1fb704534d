// context_switch: the routine that switches stacks.
//
// Boost.Context creates every fiber context (make_fcontext) and, on most
// platforms, switches too (jump_fcontext). On x86-64 System V its jump ends
// with `pop %r8; jmp *%r8`: the `call` into it pushed a return-stack-buffer
// entry that no `ret` pops, so the first return after every switch is
// mispredicted (~15-20 cycles, a large part of a yield). spindle_jump_fcontext
// (context_switch_x86_64_sysv.S) saves and restores the same frame and ends
// with `ret` instead.
//
// It is only used once a probe has confirmed that the installed Boost lays
// out a fresh context exactly as it expects (context function in the rbx slot
// at +0x30, a 0x48-byte frame below the aligned top); otherwise, or on any
// other platform, Boost's own jump is used. `fast_switch_checked` is
// zero-initialised to false, so a switch before the probe has run is safe too.
#pragma once

#include <boost/context/detail/fcontext.hpp>

namespace spindle::detail {

namespace ctx = boost::context::detail;

#if defined(__x86_64__) && defined(__ELF__) && !defined(_WIN32)
extern "C" ctx::transfer_t spindle_jump_fcontext(ctx::fcontext_t to, void* data);
extern const bool fast_switch_checked;

[[gnu::always_inline]] inline ctx::transfer_t switch_context(ctx::fcontext_t to, void* data) noexcept {
  if (fast_switch_checked) [[likely]] return spindle_jump_fcontext(to, data);
  return ctx::jump_fcontext(to, data);
}
#else
[[gnu::always_inline]] inline ctx::transfer_t switch_context(ctx::fcontext_t to, void* data) noexcept {
  return ctx::jump_fcontext(to, data);
}
#endif

}  // namespace spindle::detail
