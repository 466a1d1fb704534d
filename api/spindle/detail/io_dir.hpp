// io_dir: the direction of a readiness wait. Public (detail) because a
// socket's readiness wait (detail/socket_fd.hpp) names it; the reactor and
// poll(2) waits in runtime/io/ use this same enum.
#pragma once

namespace spindle::detail {

// The values index io_handle::dirs in runtime/io/reactor.hpp.
enum class io_dir : int { read = 0, write = 1 };

}  // namespace spindle::detail
