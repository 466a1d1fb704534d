// chat_server: a line-based chat room. Every line a client sends is broadcast
// to every connected client, the sender included.
//
//   chat_server [--port P] [--workers N]
//       Serves 127.0.0.1:P (default 9002; 0 = any free port) until killed.
//       Try it with two or three `nc 127.0.0.1 9002`.
//   chat_server --self-test N [--lines M] [--workers N]
//       Serves a free port; N clients (fibers of the same process) each send
//       M lines, and each must receive all N*M lines exactly once, every
//       sender's lines in the order sent. Exits 0 on success.
//
// Each member of the room has two fibers: one reads its lines and broadcasts
// them, the other drains its outbox (a bounded channel) into its socket. A
// broadcast never waits for a slow client: when a member's outbox is full,
// the member is disconnected instead (its socket closed, which also wakes
// its reader).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <span>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sample_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;

namespace {

constexpr std::ptrdiff_t outbox_lines = 4096;
constexpr std::size_t max_line = 4096;

struct settings {
  int port = -1;  // -1: 9002 when serving, any free port for the self-test
  std::size_t workers = 0;
  int self_test = 0;
  int lines = 50;
};

settings parse_args(int argc, char** argv) {
  settings s;
  spindle_samples::parse_options(
      argc, argv, "[--port P] [--workers N] [--self-test CLIENTS [--lines M]]",
      {{"--port", [&s](const char* v) { s.port = std::atoi(v); }},
       {"--workers", [&s](const char* v) { s.workers = static_cast<std::size_t>(std::atol(v)); }},
       {"--self-test", [&s](const char* v) { s.self_test = std::atoi(v); }},
       {"--lines", [&s](const char* v) { s.lines = std::atoi(v); }}});
  return s;
}

// Splits a byte stream into lines (without their '\n').
class line_reader {
 public:
  explicit line_reader(net::tcp_stream& s) : s_(s) {}

  // The next line; false at end of stream. A line longer than max_line is
  // cut into pieces.
  bool next(std::string& line) {
    for (;;) {
      if (auto nl = pending_.find('\n', start_); nl != std::string::npos) {
        line.assign(pending_, start_, nl - start_);
        start_ = nl + 1;
        return true;
      }
      if (pending_.size() - start_ >= max_line) {
        line.assign(pending_, start_, max_line);
        start_ += max_line;
        return true;
      }
      pending_.erase(0, start_);
      start_ = 0;
      std::array<char, 4096> buf;
      const std::size_t n = s_.read_some(std::as_writable_bytes(std::span(buf)));
      if (n == 0) return false;
      pending_.append(buf.data(), n);
    }
  }

 private:
  net::tcp_stream& s_;
  std::string pending_;
  std::size_t start_ = 0;
};

// The members and their outboxes. The mutex is a spindle::mutex: a fiber
// waiting for it suspends instead of blocking its worker thread.
class room {
 public:
  void join(int id, net::tcp_stream& s, spindle::channel<std::string> outbox) {
    std::lock_guard lock(mutex_);
    members_.emplace(id, member{&s, std::move(outbox)});
  }

  // Removes the member; its writer fiber ends once the outbox is drained.
  void leave(int id) {
    std::lock_guard lock(mutex_);
    if (auto it = members_.find(id); it != members_.end()) {
      it->second.outbox.close();
      members_.erase(it);
    }
  }

  void broadcast(const std::string& line) {
    std::lock_guard lock(mutex_);
    for (auto it = members_.begin(); it != members_.end();) {
      if (it->second.outbox.try_send(line)) {
        ++it;
        continue;
      }
      // Too slow to keep up: disconnect rather than stall everyone.
      it->second.outbox.close();
      it->second.stream->close();
      it = members_.erase(it);
    }
  }

 private:
  struct member {
    net::tcp_stream* stream;  // valid while in members_: its owner leaves first
    spindle::channel<std::string> outbox;
  };
  spindle::mutex mutex_;
  std::map<int, member> members_;
};

void writer(net::tcp_stream& s, spindle::channel<std::string> outbox) {
  try {
    for (const std::string& line : outbox) s.write_all(line);
  } catch (const std::system_error&) {
    // The client went away (or was disconnected); the reader notices too.
  }
}

void serve_member(net::tcp_stream s, int id, room& chat) {
  spindle::channel<std::string> outbox(outbox_lines);
  outbox.send("welcome, you are member " + std::to_string(id) + "\n");  // before any broadcast
  chat.join(id, s, outbox);
  auto out = spindle::spawn(writer, std::ref(s), outbox);
  try {
    line_reader lines(s);
    for (std::string line; lines.next(line);) chat.broadcast(line + "\n");
  } catch (const std::system_error&) {
    // Reset by the client, or closed by the room.
  }
  chat.leave(id);
  out.join();
}

// Accepts until the listener is closed, one member per connection, and
// returns once every member has left too.
void serve(net::tcp_listener& lst, room& chat) {
  std::atomic<int> next_id{1};
  spindle_samples::serve_connections(
      lst, [&](net::tcp_stream s) { serve_member(std::move(s), next_id++, chat); });
}

// --- the self-test ------------------------------------------------------------

// One client: joins, waits for everyone, sends its lines ("<client> <seq>")
// and checks that it receives every client's lines once each, in order.
bool client(net::endpoint ep, int me, int clients, int lines, spindle::latch& everyone_in) {
  try {
    auto s = net::tcp_stream::connect(ep);
    s.set_timeout(30s);
    line_reader in(s);
    std::string line;
    if (!in.next(line) || line.rfind("welcome", 0) != 0) return false;  // now a member
    everyone_in.arrive_and_wait();
    auto sender = spindle::spawn([&s, me, lines] {
      for (int i = 0; i < lines; ++i)
        s.write_all(std::to_string(me) + " " + std::to_string(i) + "\n");
    });
    std::vector<int> next_seq(static_cast<std::size_t>(clients), 0);
    for (long received = 0; received < static_cast<long>(clients) * lines; ++received) {
      if (!in.next(line)) return false;
      const int from = std::atoi(line.c_str());
      const int seq = std::atoi(line.c_str() + line.find(' ') + 1);
      if (from < 0 || from >= clients || seq != next_seq[static_cast<std::size_t>(from)]++) {
        std::fprintf(stderr, "client %d: unexpected line \"%s\"\n", me, line.c_str());
        return false;
      }
    }
    sender.join();
    return true;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "client %d: %s\n", me, e.what());
    return false;
  }
}

int self_test(spindle::runtime& rt, const settings& cfg) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> good{0};  // clients that saw everything
  rt.block_on([&] {
    room chat;
    spindle::latch everyone_in(cfg.self_test);
    spindle_samples::self_test_in_process(
        cfg.port < 0 ? 0 : cfg.port, [&chat](net::tcp_listener& lst) { serve(lst, chat); },
        cfg.self_test,
        [&](net::endpoint ep, int c) {
          good += client(ep, c, cfg.self_test, cfg.lines, everyone_in);
        });
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool ok = good == cfg.self_test;
  std::printf("self-test: %d clients x %d lines, %ld lines delivered and checked in %.2f s: %s\n",
              cfg.self_test, cfg.lines, static_cast<long>(good.load()) * cfg.self_test * cfg.lines,
              secs, ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  spindle::runtime rt(spindle::options{.workers = cfg.workers});
  if (cfg.self_test > 0) return self_test(rt, cfg);
  rt.block_on([&] {
    room chat;
    auto lst = spindle_samples::listen_on_loopback(cfg.port < 0 ? 9002 : cfg.port);
    serve(lst, chat);
  });
}
