// spindle::net::serve: the accept loop every server needs, written once.
//
//   auto lst = net::tcp_listener::bind(net::endpoint::parse("0.0.0.0:8080"));
//   net::serve(lst, [](net::tcp_stream s) {     // one fiber per connection
//     std::byte buf[4096];
//     while (std::size_t n = s.read_some(buf)) s.write_all(std::span(buf, n));
//   });                                         // returns after lst.close()
//
// Accepts until the listener is closed (from any fiber or thread: the usual
// way to stop a server) and runs handler(stream) in a new fiber for each
// connection; then waits until every connection's fiber has ended, and
// returns. Call it in a fiber.
//  * Running out of descriptors does not stop it: accept() backs off and tries
//    again while the connections already open are served
//    (tcp_listener.hpp).
//  * A std::system_error escaping the handler ends that connection quietly:
//    a client that resets its connection, or a read that timed out, is
//    routine for a server. Any other exception ends that connection and is
//    reported on stderr, as for any detached fiber.
//  * Any error of accept other than the close (operation_canceled) stops the
//    accepting; serve() rethrows it once the open connections have ended.
//  * Cancelling the fiber that runs serve() (or an enclosing with_timeout
//    running out) cancels every connection's fiber too: the connections are
//    the children of a task_group (spindle/cancel.hpp), so serve() never
//    returns or throws while one of them still runs.
// The handler is copied into each connection's fiber. Any listener with
// accept() and close() serves: tcp_listener (handler(tcp_stream)) and
// unix_listener (handler(unix_stream)).
#pragma once

#include <exception>
#include <spindle/cancel.hpp>
#include <spindle/net/tcp_listener.hpp>
#include <spindle/net/tcp_stream.hpp>
#include <spindle/net/unix_listener.hpp>
#include <spindle/runtime.hpp>
#include <system_error>
#include <utility>

namespace spindle::detail {
// Reports an exception that ended a connection's handler (not a socket error).
void report_handler_error(std::exception_ptr e) noexcept;
}  // namespace spindle::detail

namespace spindle::net {

template <class Listener, class Handler>
requires requires(Listener& l) {
  l.accept();
}
void serve(Listener& lst, Handler handler) {
  using stream = decltype(lst.accept());
  task_group connections;
  std::exception_ptr accept_error;
  for (;;) {
    stream s;
    try {
      s = lst.accept();
    } catch (const spindle::cancelled&) {
      throw;  // ~task_group cancels the connections and waits for them
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::operation_canceled) accept_error = std::current_exception();
      break;
    }
    connections.spawn(
        [handler](stream conn) mutable {
          try {
            handler(std::move(conn));
          } catch (const spindle::cancelled&) {
            throw;
          } catch (const std::system_error&) {
            // The peer reset the connection, or a read timed out: routine.
          } catch (...) {
            spindle::detail::report_handler_error(std::current_exception());
          }
        },
        std::move(s));
  }
  connections.join();
  if (accept_error) std::rethrow_exception(accept_error);
}

}  // namespace spindle::net
