// caller_id: who is calling, for the ownership checks of spindle::mutex and
// spindle::shared_mutex.
//
// Inside a fiber the identity must follow the fiber from worker to worker, so
// it is derived from the fiber (never from the worker thread it happens to run
// on); outside a fiber it is the calling thread. The two ranges cannot collide:
// fiber identities are odd, thread identities are even (the address of an
// aligned thread_local). 0 is never an identity and means "nobody".
#pragma once

#include <cstdint>

namespace spindle::detail {

using owner_id = std::uintptr_t;
inline constexpr owner_id no_owner = 0;
// A mutex's owner while it passes straight from an unlocker to a parked
// waiter that has not run yet (never a caller's identity: threads are named
// by real addresses).
inline constexpr owner_id handed_over = 2;

// Implemented in runtime/sync/caller_id.cpp.
owner_id caller_id() noexcept;

// The identity of the fiber whose id is `fiber_id`.
constexpr owner_id fiber_owner_id(std::uint64_t fiber_id) noexcept {
  return static_cast<owner_id>(fiber_id << 1) | 1;
}
// The inverse, for the dump and the stall monitor: whether `o` names a fiber
// (odd; a thread's id is an even address, no_owner and handed_over are
// even), and which.
constexpr bool is_fiber_owner(owner_id o) noexcept { return (o & 1) != 0; }
constexpr std::uint64_t fiber_id_of(owner_id o) noexcept { return static_cast<std::uint64_t>(o >> 1); }

}  // namespace spindle::detail
