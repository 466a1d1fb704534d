// poll_wait: readiness wait for a caller that is not a fiber of any runtime
// (a plain thread), with poll(2). Level-triggered: returns `ready` at once
// when the descriptor already is.
#pragma once

#include "reactor.hpp"

namespace spindle::detail {

// Blocks the calling thread until fd is ready in direction d (an error or a
// hang-up counts as ready: the next system call reports it) or `deadline`
// (null: none) has passed. Never returns timed_out early. Throws
// std::system_error if poll(2) fails.
io_result poll_wait(int fd, io_dir d, const clock::time_point* deadline);

}  // namespace spindle::detail
