// The clock of every wait in spindle, and how "no deadline" is spelled.
//
// Every timed wait (sleeps, sync *_for/*_until, channels, select, futures,
// socket and io:: timeouts) becomes one steady_clock deadline before it
// parks; `no_deadline` (the clock's last instant) is the only spelling of
// "wait until the event", down to the reactor's poll. A timeout kept as a
// duration until a call starts (a socket's set_timeout, io::wait_*_for) is
// "none" when it is `no_timeout` (the longest duration), its one spelling.
// detail/deadline.hpp converts users' durations and time points of any clock
// into these forms, saturating.
#pragma once

#include <chrono>

namespace spindle::detail {

using clock = std::chrono::steady_clock;

inline constexpr clock::time_point no_deadline = clock::time_point::max();
inline constexpr clock::duration no_timeout = clock::duration::max();

}  // namespace spindle::detail
