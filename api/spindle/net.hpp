// spindle/net.hpp: network and descriptor IO that blocks only the calling
// fiber. The reactor of the fiber's runtime (epoll on Linux, kqueue on macOS
// and the BSDs) wakes it when the socket is ready.
//
//   net::endpoint       IPv4/IPv6 address and port; endpoint::parse
//   net::tcp_listener   bind, accept
//   net::tcp_stream     connect, read_some/read_exact, write_all, set_timeout
//   net::udp_socket     bind, send_to, recv_from
//   net::resolve        host name to endpoints (on the blocking pool)
//   io::wait_readable   readiness of any non-blocking descriptor
//
// Errors are std::system_error with the errno value as a
// std::generic_category() code; end of stream is not an error.
#pragma once

#include <spindle/io.hpp>
#include <spindle/net/buffered_reader.hpp>
#include <spindle/net/endpoint.hpp>
#include <spindle/net/resolve.hpp>
#include <spindle/net/serve.hpp>
#include <spindle/net/tcp_listener.hpp>
#include <spindle/net/tcp_stream.hpp>
#include <spindle/net/udp_socket.hpp>
