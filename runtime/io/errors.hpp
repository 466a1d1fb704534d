// errors: how every IO and socket call reads errno and throws it.
#pragma once

#include <string>

namespace spindle::detail {

// The calling thread's errno, looked up afresh. Read errno through this in
// any function that can suspend: a fiber may resume on another thread, and
// glibc declares __errno_location() const, so the compiler may keep the
// first thread's errno address across a wait (or hoist it out of a retry
// loop) and read another thread's errno. Out of line, so it cannot be.
int last_error() noexcept;

// Throws std::system_error(err, std::generic_category(), what).
[[noreturn]] void throw_errno(int err, const char* what);
[[noreturn]] void throw_errno(int err, const std::string& what);

}  // namespace spindle::detail
