// The clock of every wait in spindle, and how "no deadline" is spelled.
//
// Every timed wait (sleeps, sync *_for/*_until, channels, select, futures,
// socket and io:: timeouts) becomes one steady_clock deadline before it
// parks; `no_deadline` (the clock's last instant) is the only spelling of
// "wait until the event". detail/deadline.hpp converts users' durations and
// time points of any clock into this form.
#pragma once

#include <chrono>

namespace spindle::detail {

using clock = std::chrono::steady_clock;

inline constexpr clock::time_point no_deadline = clock::time_point::max();

}  // namespace spindle::detail
