// Seeing inside: fiber names, fiber_options, runtime::dump() (states, wait
// reasons, deadlock cycles), options::dump_signal and runtime::metrics().
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <shared_mutex>
#include <spindle/spindle.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "net_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The one line of the dump for the fiber named `name` ("" if none; fails
// if there are several).
std::string line_of(const std::string& dump, const std::string& name) {
  std::string found;
  int count = 0;
  for (const std::string& line : lines_of(dump)) {
    if (line.rfind("fiber ", 0) == 0 && line.find('"' + name + '"') != std::string::npos) {
      found = line;
      ++count;
    }
  }
  EXPECT_LE(count, 1) << "several lines name " << name << ":\n" << dump;
  return found;
}

// Polls rt.dump() until pred(dump) holds; bounded (a hang fails the test, a
// slow machine does not).
template <class Pred>
std::string dump_when(spindle::runtime& rt, Pred pred) {
  std::string d;
  for (int i = 0; i < 2000; ++i) {
    d = rt.dump();
    if (pred(d)) return d;
    std::this_thread::sleep_for(5ms);
  }
  ADD_FAILURE() << "the dump never showed what was expected:\n" << d;
  return d;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A cursor over one dump line, for well_formed().
struct line_reader {
  std::string_view rest;
  bool take(std::string_view word) {
    if (rest.substr(0, word.size()) != word) return false;
    rest.remove_prefix(word.size());
    return true;
  }
  bool number() {
    std::size_t n = 0;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    rest.remove_prefix(n);
    return n > 0;
  }
  // "..." with \" \\ \xNN escapes and no raw control characters.
  bool quoted() {
    if (!take("\"")) return false;
    while (!rest.empty()) {
      const char c = rest.front();
      rest.remove_prefix(1);
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (rest.empty()) return false;
        const char e = rest.front();
        rest.remove_prefix(e == 'x' ? 3 : 1);
      }
    }
    return false;
  }
  bool word() {  // [a-z_ ]+ up to ')'
    std::size_t n = 0;
    while (n < rest.size() && ((rest[n] >= 'a' && rest[n] <= 'z') || rest[n] == '_' || rest[n] == ' ')) ++n;
    rest.remove_prefix(n);
    return n > 0;
  }
};

// Lines of the forms the dump promises.
bool well_formed(const std::string& text) {
  if (text.rfind("spindle runtime: ", 0) == 0) {
    line_reader r{std::string_view(text).substr(17)};
    return r.number() && r.take(" workers, ") && r.number() && r.take(" fibers, ");
  }
  line_reader r{text};
  if (r.take("fiber ")) {
    if (!r.number() || !r.take(" ") || !r.quoted()) return false;
    if (r.rest == " running" || r.rest == " runnable") return true;
    return r.take(" waiting ") && r.word();
  }
  if (r.take("worker ")) {
    if (!r.number() || !r.take(": ")) return false;
    if (r.take("running fiber ")) {
      if (!r.number()) return false;
    } else if (!r.take("scheduling") && !r.take("idle")) {
      return false;
    }
    return r.take(", queue ") && r.number() && r.take(", fibers run ") && r.number() && r.rest.empty();
  }
  if (r.take("deadlock:")) {
    int members = 0;
    while (r.take(" fiber ")) {
      if (!r.number()) return false;
      if (r.rest.empty()) return members >= 1;
      if (!r.take(" ") || !r.quoted() || !r.take(" (") || !r.word() || !r.take(") ->")) return false;
      ++members;
    }
  }
  return false;
}

}  // namespace

// The checker the dump tests rely on accepts the promised forms only.
TEST(Dump, LineCheckerRejectsMalformedLines) {
  EXPECT_TRUE(well_formed(R"(fiber 3 "a \"b\" \x0a" waiting mutex 0x1 held by fiber 2 for 5ms)"));
  EXPECT_TRUE(well_formed("worker 1: idle, queue 0, fibers run 7"));
  EXPECT_TRUE(well_formed(R"(deadlock: fiber 1 "a" (mutex) -> fiber 2 "b" (join) -> fiber 1)"));
  EXPECT_FALSE(well_formed(R"(fiber 3 "unterminated running)"));
  EXPECT_FALSE(well_formed(R"(fiber 3 "x" sleeping)"));
  EXPECT_FALSE(well_formed("fiber x \"a\" running"));
  EXPECT_FALSE(well_formed("worker 1: idle, queue 0"));
  EXPECT_FALSE(well_formed(R"(deadlock: fiber 1 "a" (mutex) ->)"));
  EXPECT_FALSE(well_formed("something else"));
}

TEST(Names, SpawnOptionsAndSetName) {
  spindle::runtime rt(spindle::test::two_workers());
  auto t = rt.spawn(spindle::fiber_options{.name = "conn 42"}, [] {
    std::string first = spindle::this_fiber::name();
    spindle::this_fiber::set_name("a name far longer than the twenty-four inline bytes");
    std::string second = spindle::this_fiber::name();
    spindle::this_fiber::set_name("short");
    return first + "|" + second + "|" + spindle::this_fiber::name();
  });
  EXPECT_EQ(t.join(), "conn 42|a name far longer than the twenty-four inline bytes|short");
  EXPECT_EQ(rt.block_on([] { return spindle::this_fiber::name(); }), "");
  EXPECT_THROW(spindle::this_fiber::set_name("x"), std::logic_error);
  EXPECT_THROW(spindle::this_fiber::name(), std::logic_error);
}

TEST(Names, FreeSpawnTakesOptionsAndChildKeepsItsName) {
  spindle::runtime rt(spindle::test::two_workers());
  std::string name = rt.block_on([] {
    return spindle::spawn(spindle::fiber_options{.name = "child"},
                          [] { return spindle::this_fiber::name(); })
        .join();  // may run inline on this stack: the child is still "child"
  });
  EXPECT_EQ(name, "child");
}

TEST(Names, DumpQuotesAndEscapesNames) {
  spindle::runtime rt(spindle::test::two_workers());
  spindle::latch release(1);
  auto t = rt.spawn(spindle::fiber_options{.name = "say \"hi\"\n\\"}, [&] { release.wait(); });
  const std::string d =
      dump_when(rt, [](const std::string& d) { return contains(d, "waiting latch"); });
  EXPECT_TRUE(contains(d, R"("say \"hi\"\x0a\\")")) << d;
  for (const std::string& line : lines_of(d)) EXPECT_TRUE(well_formed(line)) << line;
  release.count_down();
  t.join();
}

TEST(Names, DetachedErrorLineNamesTheFiber) {
  testing::internal::CaptureStderr();
  {
    spindle::runtime rt(spindle::test::two_workers());
    std::latch started(1);
    rt.spawn(spindle::fiber_options{.name = "doomed"}, [&] {
        started.count_down();
        throw std::runtime_error("boom");
      }).detach();
    started.wait();
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(err, "\"doomed\" terminated by an exception: std::runtime_error: boom"))
      << err;
}

TEST(FiberOptions, OwnStackSize) {
  spindle::runtime rt(spindle::options{.workers = 2, .stack_size = 64 << 10});
  // 512 KiB of locals: far beyond the runtime's 64 KiB stacks.
  auto deep = [] {
    volatile char big[512 << 10];
    for (std::size_t i = 0; i < sizeof big; i += 4096) big[i] = static_cast<char>(i);
    return static_cast<int>(big[4096]);
  };
  EXPECT_EQ(rt.spawn(spindle::fiber_options{.stack_size = 1 << 20}, deep).join(), 0);
  // Joined right away from a fiber: not run inline on the joiner's small stack.
  EXPECT_EQ(rt.block_on([&] {
    return spindle::spawn(spindle::fiber_options{.stack_size = 1 << 20}, deep).join();
  }),
            0);
  EXPECT_THROW(rt.spawn(spindle::fiber_options{.stack_size = std::size_t{2} << 30}, [] {}),
               std::invalid_argument);
}

TEST(Dump, RunningAndRunnable) {
  spindle::runtime rt(spindle::options{.workers = 1});
  std::atomic<bool> go_on{true};
  auto spinner = rt.spawn(spindle::fiber_options{.name = "spinner"}, [&] {
    while (go_on.load()) {
    }
  });
  auto later = rt.spawn(spindle::fiber_options{.name = "later"}, [] {});
  const std::string d = dump_when(
      rt, [](const std::string& d) { return contains(line_of(d, "spinner"), " running"); });
  EXPECT_TRUE(contains(line_of(d, "later"), " runnable")) << d;
  EXPECT_TRUE(contains(d, std::string("worker 0: running fiber ").append(std::to_string(spinner.id())))) << d;
  go_on = false;
  spinner.join();
  later.join();
}

TEST(Dump, EveryWaitReason) {
  spindle::runtime rt(spindle::test::two_workers());
  spindle::mutex m;
  spindle::shared_mutex sm;
  spindle::mutex cv_m;
  spindle::condition_variable cv;
  bool cv_go = false;
  spindle::semaphore sem(0);
  spindle::latch release(1);
  spindle::barrier bar(2);
  spindle::wait_group wg;
  wg.add(1);
  spindle::channel<int> ch;
  spindle::channel<int> send_ch;
  spindle::channel<int> sel_ch;
  spindle::promise<int> prom;
  auto fut = prom.get_future();
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  auto lst = spindle::net::tcp_listener::bind(spindle::test::loopback_any_port());
  spindle::latch holder_has_it(1);
  spindle::signal_set sigs{SIGUSR2};

  std::vector<spindle::task<void>> tasks;
  auto add = [&](const char* name, auto f) {
    tasks.push_back(rt.spawn(spindle::fiber_options{.name = name}, f));
  };
  add("holder", [&] {
    std::lock_guard g(m);
    sm.lock();
    holder_has_it.count_down();
    release.wait();
    sm.unlock();
  });
  holder_has_it.wait();
  add("w-mutex", [&] { std::lock_guard g(m); });
  add("w-shared", [&] { std::shared_lock g(sm); });
  add("w-cv", [&] {
    std::unique_lock g(cv_m);
    cv.wait(g, [&] { return cv_go; });
  });
  add("w-sem", [&] { sem.acquire(); });
  add("w-barrier", [&] { bar.arrive_and_wait(); });
  add("w-wg", [&] { wg.wait(); });
  add("w-chan", [&] { (void)ch.recv(); });
  add("w-select", [&] { spindle::select(spindle::on_recv(sel_ch, [](std::optional<int>) {})); });
  add("w-future", [&] { (void)fut.get(); });
  add("w-sleep", [&] {
    try {
      spindle::this_fiber::sleep_for(1h);
    } catch (const spindle::cancelled&) {
    }
  });
  add("w-read", [&] { spindle::io::wait_readable(pipe_fds[0]); });
  add("w-accept", [&] { (void)lst.accept(); });
  add("w-blocking", [&] {
    spindle::run_blocking([&] {
      holder_has_it.wait();
      release.wait();
    });
  });
  add("w-signal", [&] { (void)sigs.wait(); });
  add("w-send", [&] { send_ch.send(1); });
  auto joined = rt.spawn(spindle::fiber_options{.name = "joined"}, [&] { release.wait(); });
  const std::uint64_t joined_id = joined.id();
  tasks.push_back(rt.spawn(spindle::fiber_options{.name = "w-join"},
                           [t = std::move(joined)]() mutable { t.join(); }));
  auto quiet = spindle::net::tcp_listener::bind(spindle::test::loopback_any_port());
  add("peer", [&] {
    auto s = quiet.accept();
    release.wait();  // never reads
  });
  add("w-write", [&] {
    auto c = spindle::net::tcp_stream::connect(quiet.local_endpoint());
    std::vector<char> chunk(1 << 20);
    for (;;) c.write_all(std::as_bytes(std::span(chunk)));
  });
  // A listener that never accepts, with a backlog of one: once its accept
  // queue is full (two connections on Linux), the kernel drops the next
  // SYN, and that connect waits.
  auto full = spindle::net::tcp_listener::bind(spindle::test::loopback_any_port(), 1);
  std::vector<spindle::net::tcp_stream> queued;  // the connections that got in; w-connect's
  add("w-connect", [&] {
    for (;;) queued.push_back(spindle::net::tcp_stream::connect(full.local_endpoint()));
  });

  const std::string holder_id = std::to_string(tasks.front().id());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"holder", " waiting latch "},
      {"w-mutex", " waiting mutex 0x"},
      {"w-shared", " waiting shared_mutex "},
      {"w-cv", " waiting condition_variable "},
      {"w-sem", " waiting semaphore "},
      {"w-barrier", " waiting barrier "},
      {"w-wg", " waiting wait_group "},
      {"w-chan", " waiting channel recv "},
      {"w-send", " waiting channel send "},
      {"w-select", " waiting select"},
      {"w-future", " waiting future "},
      {"w-sleep", " waiting sleep until +"},
      {"w-read", std::string(" waiting read fd ").append(std::to_string(pipe_fds[0]))},
      {"w-accept", " waiting accept fd "},
      {"w-blocking", " waiting run_blocking "},
      {"w-signal", " waiting signal "},
      {"w-join", std::string(" waiting join fiber ").append(std::to_string(joined_id))},
      {"w-write", " waiting write fd "},
      {"w-connect", " waiting connect fd "},
  };
  const std::string d = dump_when(rt, [&](const std::string& d) {
    for (const auto& [name, what] : expected)
      if (!contains(line_of(d, name), what)) return false;
    return true;
  });
  EXPECT_TRUE(contains(line_of(d, "w-mutex"), " held by fiber " + holder_id)) << d;
  for (const std::string& line : lines_of(d)) EXPECT_TRUE(well_formed(line)) << line;
  EXPECT_FALSE(contains(d, "deadlock:")) << d;

  release.count_down();
  for (auto& t : tasks) t.cancel();
  for (auto& t : tasks) {
    try {
      t.join();
    } catch (const std::system_error&) {
      // spindle::cancelled; or for w-write, the reset its peer's exit caused
    }
  }
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST(Dump, FindsAbbaDeadlock) {
  spindle::runtime rt(spindle::test::two_workers());
  spindle::mutex m1, m2;
  spindle::latch both_hold(2);
  auto a = rt.spawn(spindle::fiber_options{.name = "alice"}, [&] {
    std::lock_guard g1(m1);
    both_hold.arrive_and_wait();
    std::lock_guard g2(m2);
  });
  auto b = rt.spawn(spindle::fiber_options{.name = "bob"}, [&] {
    std::lock_guard g2(m2);
    both_hold.arrive_and_wait();
    std::lock_guard g1(m1);
  });
  const std::string d =
      dump_when(rt, [](const std::string& d) { return contains(d, "deadlock:"); });
  std::string cycle;
  for (const std::string& line : lines_of(d))
    if (line.rfind("deadlock:", 0) == 0) cycle = line;
  EXPECT_TRUE(contains(cycle, std::string("fiber ").append(std::to_string(a.id())) + " \"alice\" (mutex)")) << d;
  EXPECT_TRUE(contains(cycle, std::string("fiber ").append(std::to_string(b.id())) + " \"bob\" (mutex)")) << d;
  for (const std::string& line : lines_of(d)) EXPECT_TRUE(well_formed(line)) << line;
  a.cancel();
  b.cancel();
  int cancelled = 0;
  for (auto* t : {&a, &b}) {
    try {
      t->join();
    } catch (const spindle::cancelled&) {
      ++cancelled;
    }
  }
  EXPECT_GE(cancelled, 1);  // one may get its lock once the other is gone
}

TEST(Dump, FindsJoinCycle) {
  // Declared before the runtime: the fibers are inside join() on these
  // handles until ~runtime unwinds them (nothing else can end that wait).
  spindle::task<void> ta, tb;
  spindle::runtime rt(spindle::test::two_workers());
  spindle::latch assigned(1);
  ta = rt.spawn(spindle::fiber_options{.name = "left"}, [&] {
    assigned.wait();
    tb.join();
  });
  tb = rt.spawn(spindle::fiber_options{.name = "right"}, [&] {
    assigned.wait();
    ta.join();
  });
  const std::uint64_t ia = ta.id(), ib = tb.id();
  assigned.count_down();
  const std::string d =
      dump_when(rt, [](const std::string& d) { return contains(d, "deadlock:"); });
  EXPECT_TRUE(contains(d, std::string("fiber ").append(std::to_string(ia)) + " \"left\" (join)")) << d;
  EXPECT_TRUE(contains(d, std::string("fiber ").append(std::to_string(ib)) + " \"right\" (join)")) << d;
}

// Many fibers contend on a few mutexes and join each other in a tree, while
// another thread dumps again and again: every line well formed, every live
// fiber on exactly one line, and no cycle reported (there is none).
TEST(Dump, UnderLoadNoFalseCycles) {
  spindle::runtime rt(spindle::test::two_workers());
  const int fibers = spindle::test::scaled(10'000, 1'000);
  const int dumps = spindle::test::scaled(100, 20);
  spindle::mutex locks[4];
  std::atomic<bool> stop{false};
  std::atomic<long> work{0};
  auto churn = rt.spawn([&] {
    while (!stop.load()) {
      std::vector<spindle::task<void>> ts;
      for (int i = 0; i < fibers; ++i) {
        ts.push_back(
            spindle::spawn(spindle::fiber_options{.name = std::string("c").append(std::to_string(i))}, [&, i] {
              spindle::mutex& first = locks[i % 4];
              spindle::mutex& second = locks[(i % 4 + 1) % 4];
              // Always in index order (3 then 0 is 0 then 3): no real cycle.
              spindle::mutex& lo = &first < &second ? first : second;
              spindle::mutex& hi = &first < &second ? second : first;
              std::scoped_lock g(lo);
              std::scoped_lock h(hi);
              ++work;
              spindle::this_fiber::yield();
            }));
      }
      for (auto& t : ts) t.join();
    }
  });
  for (int i = 0; i < 10'000 && work.load() == 0; ++i) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < dumps; ++i) {
    const std::string d = rt.dump();
    for (const std::string& line : lines_of(d)) {
      ASSERT_TRUE(well_formed(line)) << line;
      ASSERT_NE(line.rfind("deadlock:", 0), 0u) << d;
    }
  }
  stop = true;
  churn.join();
  EXPECT_GT(work.load(), 0);
}

// At scale: 100,000 fibers dumped from another thread 100 times. The first
// half of the dumps see every fiber queued (both workers are held busy
// meanwhile, so none has started: a parked fiber would need a stack, and
// 100,000 stacks exceed a process's default map count); the second half
// run while the fibers churn: they start, wait (a mutex, a channel in both
// directions, a yield) and end. Every line of every dump is well formed,
// none reports a cycle (there is none), and every fiber ran once.
TEST(Dump, HundredThousandFibersDumpedAHundredTimesWhileTheyChurn) {
  spindle::options opts = spindle::test::two_workers();
  opts.stall_threshold = std::chrono::nanoseconds(0);  // no spare thread runs the queue early
  spindle::runtime rt(opts);
  const int fibers = spindle::test::scaled(100'000, 10'000);  // a multiple of 4
  const int dumps = spindle::test::scaled(100, 20);
  std::atomic<bool> hold{true};
  std::atomic<int> holding{0};
  std::vector<spindle::task<void>> holders;
  for (int k = 0; k < 2; ++k)
    holders.push_back(rt.spawn([&] {
      ++holding;
      while (hold.load()) {
      }
    }));
  while (holding.load() < 2) std::this_thread::sleep_for(1ms);
  spindle::mutex m;
  spindle::channel<int> ch(64);
  std::atomic<long> ended{0};
  std::vector<spindle::task<void>> ts;
  for (int i = 0; i < fibers; ++i)
    ts.push_back(rt.spawn(
        spindle::fiber_options{.name = std::string("c").append(std::to_string(i))}, [&, i] {
          switch (i % 4) {
            case 0: {
              std::lock_guard g(m);
              break;
            }
            case 1:
              ch.send(i);  // as many sends as receives
              break;
            case 2:
              (void)ch.recv();
              break;
            default:
              spindle::this_fiber::yield();
          }
          ++ended;
        }));
  const std::string all = std::to_string(fibers + 2) + " fibers";  // and the holders
  for (int i = 0; i < dumps; ++i) {
    if (i == dumps / 2) hold = false;  // the churn begins
    const std::string d = rt.dump();
    std::size_t fiber_lines = 0;
    for (const std::string& line : lines_of(d)) {
      ASSERT_TRUE(well_formed(line)) << line;
      ASSERT_NE(line.rfind("deadlock:", 0), 0u) << d.substr(0, 2000);
      fiber_lines += line.rfind("fiber ", 0) == 0;
    }
    if (i < dumps / 2) {
      EXPECT_TRUE(contains(d, "spindle runtime: 2 workers, " + all)) << d.substr(0, 200);
      EXPECT_EQ(fiber_lines, static_cast<std::size_t>(fibers + 2));
    }
  }
  for (auto& t : ts) t.join();
  for (auto& h : holders) h.join();
  EXPECT_EQ(ended.load(), fibers);
}

TEST(Dump, EveryLiveFiberOnExactlyOneLine) {
  spindle::runtime rt(spindle::test::two_workers());
  const int n = spindle::test::scaled(2'000, 300);
  spindle::latch release(1);
  std::vector<spindle::task<void>> ts;
  for (int i = 0; i < n; ++i)
    ts.push_back(
        rt.spawn(spindle::fiber_options{.name = std::string("n").append(std::to_string(i))},
                 [&] { release.wait(); }));
  const std::string d = dump_when(rt, [&](const std::string& d) {
    std::size_t waiting = 0;
    for (const std::string& line : lines_of(d)) waiting += contains(line, " waiting latch");
    return waiting == static_cast<std::size_t>(n);
  });
  std::vector<int> seen(static_cast<std::size_t>(n), 0);
  for (const std::string& line : lines_of(d)) {
    const std::size_t at = line.find(" \"n");
    if (line.rfind("fiber ", 0) != 0 || at == std::string::npos) continue;
    ++seen[std::stoul(line.substr(at + 3))];
  }
  for (int i = 0; i < n; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], 1) << "n" << i;
  EXPECT_TRUE(contains(d, std::string("spindle runtime: 2 workers, ").append(std::to_string(n)) + " fibers"))
      << d.substr(0, 200);
  release.count_down();
  for (auto& t : ts) t.join();
  EXPECT_TRUE(contains(rt.dump(), "spindle runtime: 2 workers, 0 fibers"));
}

TEST(Dump, OnSignal) {
  int err_pipe[2];
  ASSERT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(err_pipe[1], STDERR_FILENO);
  std::string text;
  {
    spindle::options o = spindle::test::two_workers();
    o.dump_signal = SIGUSR1;
    spindle::runtime rt(o);
    spindle::latch release(1);
    auto t = rt.spawn(spindle::fiber_options{.name = "signalled"}, [&] { release.wait(); });
    ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 1000 && !contains(text, "\"signalled\" waiting latch"); ++i) {
      if (i % 100 == 0) ::kill(::getpid(), SIGUSR1);
      std::this_thread::sleep_for(10ms);
      char buf[4096];
      for (ssize_t n; (n = ::read(err_pipe[0], buf, sizeof buf)) > 0;)
        text.append(buf, static_cast<std::size_t>(n));
    }
    release.count_down();
    t.join();
  }
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(err_pipe[0]);
  ::close(err_pipe[1]);
  EXPECT_TRUE(contains(text, "\"signalled\" waiting latch")) << text;
  // The disposition came back: SIGUSR1 is no longer caught.
  struct sigaction now {};
  ::sigaction(SIGUSR1, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

TEST(Dump, BadSignalThrows) {
  spindle::options o;
  o.workers = 1;
  o.dump_signal = 1000;
  EXPECT_THROW(spindle::runtime rt(o), std::invalid_argument);
}

TEST(Metrics, KnownWorkload) {
  spindle::runtime rt(spindle::test::two_workers());
  const int n = 100, yields = 10;
  const spindle::runtime_metrics before = rt.metrics();
  ASSERT_EQ(before.workers.size(), rt.workers());
  EXPECT_EQ(before.fibers_alive, 0u);
  EXPECT_EQ(before.fibers_spawned, 0u);
  rt.block_on([&] {
    std::vector<spindle::task<void>> ts;
    for (int i = 0; i < n; ++i)
      ts.push_back(spindle::spawn([] {
        for (int k = 0; k < yields; ++k) spindle::this_fiber::yield();
      }));
    for (auto& t : ts) t.join();
  });
  const spindle::runtime_metrics after = rt.metrics();
  EXPECT_EQ(after.fibers_spawned, static_cast<std::uint64_t>(n + 1));
  EXPECT_EQ(after.fibers_alive, 0u);
  std::uint64_t runs = 0, busy = 0;
  for (const auto& w : after.workers) {
    runs += w.fibers_run;
    busy += w.busy_ns;
  }
  // Each spawned fiber runs once and once more after each yield, unless a
  // join ran it inline (then not a resumption of its own): at least the
  // yields' resumptions.
  EXPECT_GE(runs, static_cast<std::uint64_t>(n * yields));
  EXPECT_GT(busy, 0u);
}

TEST(Metrics, WaitsAreCounted) {
  spindle::runtime rt(spindle::test::two_workers());
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  std::latch in_call(1);
  std::latch leave_call(1);
  auto sleeper = rt.spawn([] { spindle::this_fiber::sleep_for(1h); });
  auto reader = rt.spawn([&] { spindle::io::wait_readable(pipe_fds[0]); });
  auto blocker = rt.spawn([&] {
    spindle::run_blocking([&] {
      in_call.count_down();
      leave_call.wait();
    });
  });
  in_call.wait();
  spindle::runtime_metrics m;
  for (int i = 0; i < 2000; ++i) {
    m = rt.metrics();
    if (m.io_waiting == 1 && m.timers_pending == 1) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(m.io_waiting, 1u);
  EXPECT_EQ(m.timers_pending, 1u);
  EXPECT_EQ(m.fibers_alive, 3u);
  EXPECT_EQ(m.fibers_spawned, 3u);
  EXPECT_GE(m.blocking_threads, 1u);
  EXPECT_EQ(m.blocking_queued, 0u);
  ASSERT_EQ(::write(pipe_fds[1], "x", 1), 1);
  reader.join();
  leave_call.count_down();
  blocker.join();
  sleeper.cancel();
  EXPECT_THROW(sleeper.join(), spindle::cancelled);
  m = rt.metrics();
  EXPECT_EQ(m.io_waiting, 0u);
  EXPECT_EQ(m.timers_pending, 0u);
  EXPECT_EQ(m.fibers_alive, 0u);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}
