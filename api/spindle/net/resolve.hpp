// spindle::net::resolve: host name to endpoints, without blocking a worker.
//
//   for (const endpoint& ep : spindle::net::resolve("localhost", 8080)) ...
//
// A numeric address ("127.0.0.1", "::1") is converted on the spot; a name is
// looked up with getaddrinfo(3) through spindle::run_blocking, so only the
// calling fiber waits. The endpoints come in getaddrinfo's order (RFC 6724
// preference), one per address.
//
// A failed lookup throws std::system_error: with the errno value as a
// std::generic_category() code when the system reported one, otherwise with
// getaddrinfo's EAI_* value as a code of resolver_category(), whose message
// is gai_strerror's.
//
// With a timeout, a lookup that takes longer throws std::system_error
// (std::errc::timed_out): the fiber stops waiting, and getaddrinfo runs to
// its end on its pool thread, its answer discarded (a lookup cannot be
// interrupted). Outside a fiber the lookup runs on the calling thread and
// the timeout cannot cut it short.
#pragma once

#include <chrono>
#include <cstdint>
#include <spindle/detail/deadline.hpp>
#include <spindle/net/endpoint.hpp>
#include <string_view>
#include <system_error>
#include <vector>

namespace spindle::detail {
// resolve with a deadline (no_deadline: none); tcp_stream::connect(host,
// port, timeout) shares one deadline between the lookup and the connects.
std::vector<net::endpoint> resolve_until(std::string_view host, std::uint16_t port,
                                         clock::time_point deadline);
}  // namespace spindle::detail

namespace spindle::net {

std::vector<endpoint> resolve(std::string_view host, std::uint16_t port);
template <class Rep, class Period>
std::vector<endpoint> resolve(std::string_view host, std::uint16_t port,
                              const std::chrono::duration<Rep, Period>& timeout) {
  return detail::resolve_until(host, port, detail::deadline_after(timeout));
}

// The category of getaddrinfo's EAI_* error values.
const std::error_category& resolver_category() noexcept;

}  // namespace spindle::net
