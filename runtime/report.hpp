// How spindle names an exception it reports on stderr (a detached fiber's, a
// connection handler's in net::serve, one no task_group::join collected):
// "std::runtime_error: what()" with the type demangled, or "exception of type
// T" for one not derived from std::exception. runtime/runtime.cpp.
#pragma once

#include <exception>
#include <string>
#include <string_view>

namespace spindle::detail {

std::string describe_exception(std::exception_ptr e) noexcept;

// A fiber's name in double quotes, as the dump and every report print it:
// a quote or backslash in it is escaped with a backslash, a control
// character as \xNN, so that one fiber is always one well-formed line.
std::string quoted_name(std::string_view name);

}  // namespace spindle::detail
