// How spindle names an exception it reports on stderr (a detached fiber's, a
// connection handler's in net::serve, one no task_group::join collected):
// "std::runtime_error: what()" with the type demangled, or "exception of type
// T" for one not derived from std::exception. runtime/runtime.cpp.
#pragma once

#include <exception>
#include <string>

namespace spindle::detail {

std::string describe_exception(std::exception_ptr e) noexcept;

}  // namespace spindle::detail
