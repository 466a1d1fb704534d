// The dump's text (runtime::dump(), options::dump_signal): dump.cpp.
#pragma once

#include <string>

namespace spindle::detail {

class runtime_core;

std::string format_dump(runtime_core& rt);

}  // namespace spindle::detail
