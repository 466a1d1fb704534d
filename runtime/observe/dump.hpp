// The dump's text (runtime::dump(), options::dump_signal): dump.cpp.
#pragma once

#include <spindle/detail/waiter.hpp>
#include <string>

namespace spindle::detail {

class runtime_core;

std::string format_dump(runtime_core& rt);

// The dump's word for a wait ("mutex", "read", "channel recv", ...); the
// trace (trace_json.cpp) names waits the same way.
const char* wait_kind_word(wait_kind k) noexcept;

}  // namespace spindle::detail
