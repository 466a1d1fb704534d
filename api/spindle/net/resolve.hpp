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
#pragma once

#include <cstdint>
#include <spindle/net/endpoint.hpp>
#include <string_view>
#include <system_error>
#include <vector>

namespace spindle::net {

std::vector<endpoint> resolve(std::string_view host, std::uint16_t port);

// The category of getaddrinfo's EAI_* error values.
const std::error_category& resolver_category() noexcept;

}  // namespace spindle::net
