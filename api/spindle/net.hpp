// spindle/net.hpp: network and descriptor IO that blocks only the calling
// fiber. The reactor of the fiber's runtime (epoll on Linux, kqueue on macOS
// and the BSDs) wakes it when the socket is ready.
//
//   net::endpoint       IPv4/IPv6 address and port; endpoint::parse
//   net::tcp_listener   bind, accept
//   net::tcp_stream     connect, read_some/read_exact, write_all, set_timeout
//   net::udp_socket     bind, send_to, recv_from
//   net::unix_endpoint  a Unix-domain socket path or (Linux) abstract name
//   net::unix_listener, net::unix_stream, net::unix_datagram_socket
//                       the same over Unix-domain sockets (+ socketpair)
//   net::fd_stream      the stream calls over a pipe, tty, eventfd, ...
//   net::serve          the accept loop: a fiber per connection
//   net::buffered_reader  read_line / read_until over any stream
//   net::resolve        host name to endpoints (on the blocking pool)
//   io::wait_readable   readiness of any non-blocking descriptor
//
// Errors are std::system_error with the errno value as a
// std::generic_category() code; end of stream is not an error.
#pragma once

#include <spindle/io.hpp>
#include <spindle/net/buffered_reader.hpp>
#include <spindle/net/endpoint.hpp>
#include <spindle/net/fd_stream.hpp>
#include <spindle/net/resolve.hpp>
#include <spindle/net/serve.hpp>
#include <spindle/net/tcp_listener.hpp>
#include <spindle/net/tcp_stream.hpp>
#include <spindle/net/udp_socket.hpp>
#include <spindle/net/unix_datagram_socket.hpp>
#include <spindle/net/unix_endpoint.hpp>
#include <spindle/net/unix_listener.hpp>
#include <spindle/net/unix_stream.hpp>
