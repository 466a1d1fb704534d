// io_types: the vocabulary shared by the reactor (reactor.hpp) and the
// poll(2) wait of plain threads (poll_wait.hpp), so neither includes the other.
#pragma once

#include <chrono>
#include <climits>
#include <spindle/detail/clock.hpp>
#include <spindle/detail/io_dir.hpp>

namespace spindle::detail {

// How a readiness wait ended: the descriptor is (or may be) ready, the
// deadline passed, or the socket owning it was closed meanwhile.
enum class io_result { ready, timed_out, closed };

// A millisecond timeout for poll(2)/epoll_wait(2) covering `left` (>= 0):
// rounded up, so the call never returns before the deadline, and clamped, so a
// deadline years away does not wrap to a negative (infinite) timeout.
inline int timeout_ms(clock::duration left) noexcept {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace spindle::detail
