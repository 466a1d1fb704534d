// poll_wait: readiness wait for a caller that is not a fiber of any runtime
// (a plain thread), with poll(2). Level-triggered: returns `ready` at once
// when the descriptor already is.
#pragma once

#include "io/io_types.hpp"

namespace spindle::detail {

class socket_fd;

// Blocks the calling thread until fd is ready in direction d (an error or a
// hang-up counts as ready: the next system call reports it) or `deadline`
// (no_deadline: none) has passed. Never returns timed_out early. With `sock` (the
// socket owning fd), it returns closed once sock is closed: poll(2) cannot
// see a close() on another thread, so it polls in slices of
// socket_fd::close_check_interval and looks in between. Throws
// std::system_error if poll(2) fails.
io_result poll_wait(int fd, io_dir d, clock::time_point deadline, const socket_fd* sock = nullptr);

// Whether fd is ready in direction d right now (an error, a hang-up or a bad
// descriptor count as ready: the next system call reports them). One poll(2)
// that does not block.
bool ready_now(int fd, io_dir d) noexcept;

}  // namespace spindle::detail
