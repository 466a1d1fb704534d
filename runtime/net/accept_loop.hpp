// accept_loop: one accept on a listening socket of any family, as
// tcp_listener and unix_listener share it: waits while nothing is pending,
// passes over the errors of one pending connection, and backs off (5 ms,
// doubling up to 1 s) when descriptors run out instead of failing or
// spinning.
#pragma once

#include <spindle/detail/socket_fd.hpp>

namespace spindle::detail {

// The accepted non-blocking, close-on-exec descriptor. Throws
// std::system_error (prefixed `what`): operation_canceled when `lst` is
// closed meanwhile (or was), or the listener's own failure.
int accept_with_back_off(socket_fd& lst, const char* what);

}  // namespace spindle::detail
