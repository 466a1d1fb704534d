// sample_support.hpp: the scaffolding the samples share (option parsing, the
// accept loop, self-test clients), so that each sample's own file shows only
// what it is an example of. spindle-bench's server workloads use the accept
// loop too. Header-only; not part of spindle's API.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <initializer_list>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace spindle_samples {

// One "--name value" command-line option and what to do with its value.
struct option {
  std::string_view name;
  std::function<void(const char* value)> set;
};

// Parses argv as "--name value" pairs. Anything else (an unknown name, a name
// without its value) prints "usage: <program> <usage>" and exits with status 2:
// every sample takes its options, and reports misuse, the same way.
inline void parse_options(int argc, char** argv, const char* usage,
                          std::initializer_list<option> options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto it = std::find_if(options.begin(), options.end(),
                                 [arg](const option& o) { return o.name == arg; });
    if (it == options.end() || i + 1 == argc) {
      std::fprintf(stderr, "usage: %s %s\n", argv[0], usage);
      std::exit(2);
    }
    it->set(argv[++i]);
  }
}

// 127.0.0.1:port (0: any free port): the servers here serve this host only.
inline spindle::net::endpoint loopback(int port) {
  return spindle::net::endpoint::parse("127.0.0.1:" + std::to_string(port));
}

// A listener on 127.0.0.1:port, announced as "listening on <address>" on
// stdout, flushed at once so that whoever waits for the line sees it.
inline spindle::net::tcp_listener listen_on_loopback(int port) {
  auto lst = spindle::net::tcp_listener::bind(loopback(port));
  std::printf("listening on %s\n", lst.local_endpoint().to_string().c_str());
  std::fflush(stdout);
  return lst;
}

// The accept loop of every server here: accepts until `lst` is closed, runs
// serve(stream) in a fiber of its own for each connection, and returns once
// every connection has ended too. A std::system_error out of serve() (the
// client reset the connection, say) ends that connection only; an accept
// error other than the close is rethrown once the connections have ended.
template <class Serve>
void serve_connections(spindle::net::tcp_listener& lst, Serve serve) {
  spindle::wait_group sessions;
  std::exception_ptr error;
  for (;;) {
    spindle::net::tcp_stream s;
    try {
      s = lst.accept();
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::operation_canceled) error = std::current_exception();
      break;  // operation_canceled: the listener was closed
    }
    sessions.add();
    spindle::spawn(
        [&sessions, serve](spindle::net::tcp_stream conn) {
          try {
            serve(std::move(conn));
          } catch (const std::system_error&) {
            // A client that resets its connection is not the server's problem.
          }
          sessions.done();
        },
        std::move(s))
        .detach();
  }
  sessions.wait();
  if (error) std::rethrow_exception(error);
}

// Runs client(id) for every id in [0, n), each in a fiber of its own so that
// all of them run at once, and returns when every one has returned. Call it
// from a fiber.
template <class Int, class Client>
void run_clients(Int n, Client client) {
  std::vector<spindle::task<void>> clients;
  clients.reserve(static_cast<std::size_t>(n));
  for (Int id = 0; id < n; ++id) clients.push_back(spindle::spawn(client, id));
  for (auto& c : clients) c.join();
}

// A self-test within one process: serve(listener) runs in a fiber on a
// listener on 127.0.0.1:port (listen_on_loopback), and client(endpoint, id)
// for every id in [0, n) (run_clients); once the clients are done the
// listener is closed and the server awaited. Call it from a fiber.
template <class Serve, class Int, class Client>
void self_test_in_process(int port, Serve serve, Int n, Client client) {
  auto lst = listen_on_loopback(port);
  const spindle::net::endpoint ep = lst.local_endpoint();
  auto server = spindle::spawn(serve, std::ref(lst));
  run_clients(n, [&client, &ep](Int id) { client(ep, id); });
  lst.close();
  server.join();
}

}  // namespace spindle_samples
