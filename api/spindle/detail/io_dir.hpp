// io_dir: the direction of a readiness wait. Public (detail) because a
// socket's readiness wait (detail/socket_fd.hpp) names it; the library's
// reactor and poll(2) waits use this same enum.
#pragma once

namespace spindle::detail {

// The values index the reactor's per-direction state.
enum class io_dir : int { read = 0, write = 1 };

}  // namespace spindle::detail
