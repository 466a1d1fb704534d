// chat_server: a line-based chat room. Every line a client sends is broadcast
// to every connected client, the sender included.
//
//   chat_server [--port P] [--workers N] [--idle-timeout S] [--grace G]
//       Serves 127.0.0.1:P (default 9002; 0 = any free port) until SIGINT or
//       SIGTERM: then it stops accepting, gives the members G seconds
//       (default 5) before it cancels them, prints one line (connections
//       served, lines relayed) and exits 0 (sample_support.hpp,
//       serve_until_signalled).
//       Try it with two or three `nc 127.0.0.1 9002`. A member on whose
//       connection nothing moved for S seconds (default 300) is disconnected,
//       and idle ones go first when descriptors run out (sample_support.hpp).
//   chat_server --self-test N [--lines M] [--workers N]
//       Serves a free port; N clients (fibers of the same process) each send
//       M lines while reading, and each must receive all N*M lines exactly
//       once, every sender's lines in the order sent. Exits 0 on success.
//
// Each member of the room has two fibers: one reads its lines and broadcasts
// them, the other writes what is queued for it (its outbox) to its socket. A
// broadcast never waits for one slow member, and the memory the outboxes
// take is bounded (the policy below, printed with the usage): a member that
// cannot keep up is disconnected (its socket closed, which also wakes its
// fibers).
#include <algorithm>
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

constexpr std::size_t max_line = 4096;

// The memory policy. Bytes queued for one member:
constexpr std::size_t member_queue_limit = 256 * 1024;
// ... and for all members together, of which half is the high-water mark:
constexpr std::size_t room_queue_limit = 16 * 1024 * 1024;
// How long the room may stay above the high-water mark:
constexpr auto room_patience = 2s;

constexpr const char* usage =
    "[--port P] [--workers N] [--idle-timeout S] [--grace G] [--self-test CLIENTS [--lines "
    "M]]\n"
    "\n"
    "Memory policy: at most 256 KiB of lines wait for any one member; a member\n"
    "with more is too slow and is disconnected, and one with more than half of\n"
    "that is not read from (its lines wait) until it has caught up. At most\n"
    "16 MiB wait for all members together: above 8 MiB new lines are not read\n"
    "until the queues drain; when they stay above 8 MiB for 2 s, or a line would\n"
    "take them past 16 MiB, the members with the most queued are disconnected\n"
    "first.";

struct settings {
  int port = -1;  // -1: 9002 when serving, any free port for the self-test
  std::size_t workers = 0;
  int idle_timeout = 300;  // seconds
  int self_test = 0;
  int lines = 50;
  int grace = 5;  // seconds the members get once a signal came
};

settings parse_args(int argc, char** argv) {
  using spindle_samples::number;
  settings s;
  spindle_samples::parse_options(
      argc, argv, usage,
      {number("--port", s.port, 0, 65535), number("--workers", s.workers, 0, 1024),
       number("--idle-timeout", s.idle_timeout, 1, 86400), number("--grace", s.grace, 0, 3600),
       number("--self-test", s.self_test, 1, 10000), number("--lines", s.lines, 0, 100000)});
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

// One member of the room. Lives in the frame of the fiber that serves the
// member (serve_member); every field but `stream` is guarded by the room's
// mutex.
struct member {
  member(int id, net::tcp_stream& stream) : id(id), stream(stream) {}

  const int id;
  net::tcp_stream& stream;
  std::string outbox;                     // queued, not yet taken by the writer
  std::size_t writing = 0;                // taken by the writer, being written
  bool gone = false;                      // left or disconnected: no more lines; the writer stops
  spindle::condition_variable ready;      // the outbox got lines, or the member is gone
  spindle::condition_variable caught_up;  // queued() fell to half the limit, or gone

  std::size_t queued() const { return outbox.size() + writing; }
};

// The members and what is queued for them, under the policy above. The
// mutex is a spindle::mutex: a fiber waiting for it suspends instead of
// blocking its worker thread.
class room {
 public:
  void join(member& m) {
    std::lock_guard lock(mutex_);
    members_.emplace(m.id, &m);
    add_queued(m.queued());
  }

  // Removes the member if it is still in the room.
  void leave(member& m) {
    std::lock_guard lock(mutex_);
    if (!m.gone) remove(m);
  }

  // Queues `line` for every member. Waits first while the sender's own queue
  // is more than half full, and while the room is above the high-water mark:
  // a sender is not read from while the queues drain.
  void broadcast(member& sender, const std::string& line) {
    std::unique_lock lock(mutex_);
    sender.caught_up.wait(lock, [&sender] { return sender.gone || !behind(sender); });
    while (above_high_water()) {
      if (!drained_.wait_for(lock, room_patience, [this] { return !above_high_water(); })) {
        while (above_high_water()) disconnect(slowest());
      }
    }
    if (sender.gone) return;  // disconnected meanwhile
    for (auto it = members_.begin(); it != members_.end();) {
      member& m = *(it++)->second;  // advanced first: disconnect() erases m
      if (m.queued() + line.size() > member_queue_limit) {
        disconnect(m);
        continue;
      }
      if (m.outbox.empty()) m.ready.notify_one();
      m.outbox += line;
      add_queued(line.size());
    }
    while (total_ > room_queue_limit) disconnect(slowest());
  }

  // The member's writer: gives the bytes queued for it (waiting for some),
  // counting the previous batch as written. False once the member is gone.
  bool next_batch(member& m, std::string& batch) {
    std::unique_lock lock(mutex_);
    if (!m.gone) {
      release(std::exchange(m.writing, 0));
      if (!behind(m)) m.caught_up.notify_one();
    }
    m.ready.wait(lock, [&m] { return m.gone || !m.outbox.empty(); });
    if (m.gone) return false;
    batch.clear();
    batch.swap(m.outbox);
    m.writing = batch.size();
    return true;
  }

  // The most bytes ever queued at once, and how many members were
  // disconnected for being too slow.
  std::size_t peak_queued() {
    std::lock_guard lock(mutex_);
    return peak_;
  }
  int disconnected() {
    std::lock_guard lock(mutex_);
    return disconnected_;
  }

 private:
  bool above_high_water() const { return total_ > room_queue_limit / 2; }
  static bool behind(const member& m) { return m.queued() > member_queue_limit / 2; }

  member& slowest() {
    return *std::max_element(members_.begin(), members_.end(), [](const auto& a, const auto& b) {
              return a.second->queued() < b.second->queued();
            })->second;
  }

  void add_queued(std::size_t bytes) {
    total_ += bytes;
    peak_ = std::max(peak_, total_);
  }
  void release(std::size_t bytes) {
    const bool was_above = above_high_water();
    total_ -= bytes;
    if (was_above && !above_high_water()) drained_.notify_all();
  }

  void remove(member& m) {
    release(m.queued());
    m.gone = true;
    m.ready.notify_one();
    m.caught_up.notify_one();
    members_.erase(m.id);
  }
  // Too slow to keep up: dropped rather than holding everyone's memory.
  void disconnect(member& m) {
    remove(m);
    m.stream.close();  // wakes its reader, and its writer if it waits for the socket
    ++disconnected_;
  }

  spindle::mutex mutex_;                 // guards everything below, and the members' fields
  spindle::condition_variable drained_;  // total_ fell to the high-water mark
  std::map<int, member*> members_;       // a member is here until remove()
  std::size_t total_ = 0;                // the sum of the members' queued()
  std::size_t peak_ = 0;
  int disconnected_ = 0;
};

void writer(spindle_samples::connection& c, room& chat, member& m) {
  try {
    for (std::string batch; chat.next_batch(m, batch);) {
      c.stream.write_all(batch);
      c.active();
    }
  } catch (const std::system_error&) {
    // The client went away, or was disconnected (or closed for idling).
    // Leaving wakes the reader too if it waits for this member to catch up.
    chat.leave(m);
  }
}

// For the line printed when the server stops (a request: a line relayed).
spindle_samples::server_stats served;

void serve_member(spindle_samples::connection& c, int id, room& chat) {
  ++served.connections;
  member m(id, c.stream);
  m.outbox = "welcome, you are member " + std::to_string(id) + "\n";  // before any broadcast
  chat.join(m);
  auto out = spindle::spawn(writer, std::ref(c), std::ref(chat), std::ref(m));
  try {
    line_reader lines(c.stream);
    for (std::string line; lines.next(line);) {
      c.active();
      chat.broadcast(m, line + "\n");
      ++served.requests;
    }
  } catch (const std::system_error&) {
    // Reset by the client, or closed by the room or for idling, or cancelled
    // because the server stops (spindle::cancelled is a system_error too).
  }
  // The member leaves, and its writer is awaited, even when the server
  // cancelled this fiber: the writer uses `m`, which lives on this stack.
  spindle::shield s;
  chat.leave(m);
  c.stream.close();  // wakes the writer if it waits for the socket
  out.join();
}

// Accepts until the listener is closed, one member per connection, and
// returns once every member has left too.
void serve(net::tcp_listener& lst, room& chat, std::chrono::seconds idle_timeout) {
  std::atomic<int> next_id{1};
  spindle_samples::serve_connections(
      lst, idle_timeout, [&](spindle_samples::connection& c) { serve_member(c, next_id++, chat); });
}

// --- the self-test ------------------------------------------------------------

// Receives `clients * lines` lines ("<client> <seq>") and checks that they
// are every client's lines once each, in the order sent.
bool receive_everything(line_reader& in, int me, int clients, int lines) {
  std::vector<int> next_seq(static_cast<std::size_t>(clients), 0);
  std::string line;
  for (long received = 0; received < static_cast<long>(clients) * lines; ++received) {
    if (!in.next(line)) {
      std::fprintf(stderr, "client %d: end of stream after %ld lines\n", me, received);
      return false;
    }
    const int from = std::atoi(line.c_str());
    const int seq = std::atoi(line.c_str() + line.find(' ') + 1);
    if (from < 0 || from >= clients || seq != next_seq[static_cast<std::size_t>(from)]++) {
      std::fprintf(stderr, "client %d: unexpected line \"%s\"\n", me, line.c_str());
      return false;
    }
  }
  return true;
}

// One client: joins, waits for everyone, then sends its lines from one fiber
// while it receives everybody's in another, as a real client does.
bool client(net::endpoint ep, int me, int clients, int lines, spindle::latch& everyone_in) {
  net::tcp_stream s;
  line_reader in(s);
  bool joined = false;
  try {
    s = net::tcp_stream::connect(ep);
    s.set_timeout(30s);
    std::string welcome;
    joined = in.next(welcome) && welcome.rfind("welcome", 0) == 0;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "client %d: %s\n", me, e.what());
  }
  everyone_in.arrive_and_wait();  // joined or not: nobody waits for this client forever
  if (!joined) return false;
  auto sender = spindle::spawn([&s, me, lines] {
    for (int i = 0; i < lines; ++i)
      s.write_all(std::to_string(me) + " " + std::to_string(i) + "\n");
  });
  bool ok = false;
  try {
    ok = receive_everything(in, me, clients, lines);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "client %d: %s\n", me, e.what());
  }
  if (!ok) s.close();  // stops the sender too
  try {
    sender.join();
  } catch (const std::system_error& e) {
    if (ok) std::fprintf(stderr, "client %d: %s\n", me, e.what());
    ok = false;
  }
  return ok;
}

int self_test(spindle::runtime& rt, const settings& cfg) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> good{0};  // clients that saw everything
  std::size_t peak = 0;
  int disconnected = 0;
  rt.block_on([&] {
    room chat;
    spindle::latch everyone_in(cfg.self_test);
    spindle_samples::self_test_in_process(
        cfg.port < 0 ? 0 : cfg.port,
        [&](net::tcp_listener& lst) { serve(lst, chat, std::chrono::seconds(cfg.idle_timeout)); },
        cfg.self_test,
        [&](net::endpoint ep, int c) {
          good += client(ep, c, cfg.self_test, cfg.lines, everyone_in);
        });
    peak = chat.peak_queued();
    disconnected = chat.disconnected();
  });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool ok = good == cfg.self_test && disconnected == 0;
  std::printf("self-test: %d clients x %d lines, %ld lines delivered and checked in %.2f s;\n",
              cfg.self_test, cfg.lines, static_cast<long>(good.load()) * cfg.self_test * cfg.lines,
              secs);
  std::printf("           at most %zu KiB queued in the room, %d members disconnected: %s\n",
              peak / 1024, disconnected, ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  spindle::runtime rt(spindle::options{.workers = cfg.workers});
  if (cfg.self_test > 0) return self_test(rt, cfg);
  room chat;
  return spindle_samples::serve_until_signalled(
      rt, cfg.port < 0 ? 9002 : cfg.port, std::chrono::seconds(cfg.grace), served, "lines",
      [&](net::tcp_listener& lst) { serve(lst, chat, std::chrono::seconds(cfg.idle_timeout)); });
}
