#include "fiber/context_switch.hpp"

#include <cstdint>

namespace spindle::detail {

#if defined(__x86_64__) && defined(__ELF__) && !defined(_WIN32)
namespace {

void probe_entry(ctx::transfer_t) {}

// Lays out a context with Boost (never runs it) and checks the frame.
bool boost_layout_matches() noexcept {
  alignas(16) static unsigned char area[1024];
  unsigned char* top = area + sizeof area;
  ctx::fcontext_t c = ctx::make_fcontext(top, sizeof area, probe_entry);
  auto* frame = static_cast<unsigned char*>(c);
  void* fn_slot;
  __builtin_memcpy(&fn_slot, frame + 0x30, sizeof fn_slot);
  return top - frame == 0x48 && fn_slot == reinterpret_cast<void*>(&probe_entry);
}

}  // namespace

const bool fast_switch_checked = boost_layout_matches();
#endif

}  // namespace spindle::detail
