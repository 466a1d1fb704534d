// fiber_allocator: the pool of fiber control blocks (fiber_allocator.cpp
// implements fiber::operator new and delete, declared in
// api/spindle/detail/fiber.hpp).
#pragma once

#include <atomic>

namespace spindle::detail {

// Test seam (tests/stack_test.cpp): while true, the pool maps no new chunk,
// as if the kernel had no memory left. Read only on the cold path that maps.
extern std::atomic<bool> refuse_new_fiber_chunks;

}  // namespace spindle::detail
