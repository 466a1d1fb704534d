// runtime::start_trace / stop_trace: the file is Chrome trace-event JSON that
// Python's json parses, slices of one worker never overlap, wakes are there,
// fibers are named, drops are counted, misuse throws.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <spindle/spindle.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "net_support.hpp"
#include "observe/trace_session.hpp"  // the buffer size seam

using namespace std::chrono_literals;

namespace {

// Checks a trace file: argv[1] the file, argv[2] "none", "some" or "any"
// dropped events, argv[3] the minimum number of wake events, argv[4...] names of
// slices that must appear. Prints what is wrong and exits 1.
constexpr const char* checker = R"PY(
import json, sys
path, dropped, min_wakes, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
with open(path, encoding="utf-8") as f:
    doc = json.load(f)
def fail(msg):
    print("trace check failed:", msg)
    sys.exit(1)
events = doc["traceEvents"]
if not events: fail("traceEvents is empty")
n = doc["otherData"]["dropped_events"]
if not isinstance(n, int) or n < 0: fail("dropped_events is %r" % (n,))
if dropped == "none" and n != 0: fail("%d events dropped" % n)
if dropped == "some" and n == 0: fail("no events dropped")
workers = {e["tid"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
for e in events:
    if e["ph"] == "M" and e["name"] == "thread_name" and e["args"]["name"] != "spindle-w%d" % e["tid"]:
        fail("thread name %r" % (e,))
by_tid = {}
for e in events:
    if e["ph"] != "X": continue
    for k in ("ts", "dur"):
        if not isinstance(e[k], (int, float)) or e[k] < 0: fail("bad %s in %r" % (k, e))
    if e["pid"] != 1 or e["tid"] not in workers: fail("slice off the worker tracks: %r" % (e,))
    if not isinstance(e["args"]["fiber"], int): fail("no fiber id in %r" % (e,))
    by_tid.setdefault(e["tid"], []).append(e)
if not by_tid: fail("no slices")
for tid, slices in by_tid.items():
    slices.sort(key=lambda e: e["ts"])
    for a, b in zip(slices, slices[1:]):
        if a["ts"] + a["dur"] > b["ts"] + 1e-6:
            fail("slices overlap on tid %d: %r and %r" % (tid, a, b))
wakes = [e for e in events if e["name"] == "wake" and e["ph"] in ("i", "s", "f")]
if len(wakes) < min_wakes: fail("%d wake events, expected at least %d" % (len(wakes), min_wakes))
flows = {}
for e in events:
    if e["ph"] in ("s", "f"): flows.setdefault(e["id"], []).append(e["ph"])
for fid, phs in flows.items():
    if sorted(phs) != ["f", "s"]: fail("flow %r is %r" % (fid, phs))
seen = {e["name"] for e in events if e["ph"] == "X"}
for name in names:
    if name not in seen: fail("no slice named %r (names: %r)" % (name, sorted(seen)[:50]))
print("trace ok: %d events, %d slices, %d wakes, %d dropped" % (len(events), sum(map(len, by_tid.values())), len(wakes), n))
)PY";

bool have_python() {
  return std::system("command -v python3 >/dev/null 2>&1") == 0;
}

std::string temp_path(const char* what) {
  return ::testing::TempDir() + "spindle_trace_" + what + "_" + std::to_string(::getpid()) +
         ".json";
}

// Runs the checker on `file`; true if it passed.
bool check_trace(const std::string& file, const char* dropped, int min_wakes,
                 const std::vector<std::string>& names) {
  const std::string script = temp_path("checker") + ".py";
  {
    std::ofstream out(script);
    out << checker;
  }
  std::string cmd =
      "python3 '" + script + "' '" + file + "' " + dropped + " " + std::to_string(min_wakes);
  for (const std::string& n : names) cmd += " '" + n + "'";
  const int rc = std::system(cmd.c_str());
  std::remove(script.c_str());
  return rc == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr const char* no_python = "python3 is not installed: the trace JSON is not checked";

TEST(Trace, RecordsPingPongSleepsAndASocketRead) {
  if (!have_python()) GTEST_SKIP() << no_python;
  const std::string file = temp_path("workload");
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.start_trace(file);
  spindle::channel<int> idle;
  auto idler = rt.spawn(spindle::fiber_options{.name = "idler"}, [&] { (void)idle.recv(); });
  rt.block_on([&rt] {
    spindle::channel<int> to_pong, to_ping;
    constexpr int rounds = 300;
    auto ping = spindle::spawn(spindle::fiber_options{.name = "ping"}, [&] {
      for (int i = 0; i < rounds; ++i) {
        to_pong.send(i);
        EXPECT_EQ(to_ping.recv(), i);
      }
    });
    auto pong = spindle::spawn(spindle::fiber_options{.name = "pong"}, [&] {
      for (int i = 0; i < rounds; ++i) to_ping.send(*to_pong.recv());
    });
    auto sleeper = spindle::spawn(spindle::fiber_options{.name = "sleeper"}, [] {
      for (int i = 0; i < 5; ++i) spindle::this_fiber::sleep_for(1ms);
    });
    auto lst = spindle::net::tcp_listener::bind(spindle::test::loopback_any_port());
    spindle::channel<int> accepted(1);
    auto reader = spindle::spawn(spindle::fiber_options{.name = "reader"}, [&] {
      auto s = lst.accept();
      accepted.send(1);
      std::byte b[4];
      s.read_exact(b);  // parks in a read first: the writer waits for that
      EXPECT_EQ(b[3], std::byte{4});
    });
    auto c = spindle::net::tcp_stream::connect(lst.local_endpoint());
    (void)accepted.recv();
    for (int i = 0; i < 10000 && rt.metrics().io_waiting == 0; ++i)
      spindle::this_fiber::sleep_for(1ms);
    ASSERT_EQ(rt.metrics().io_waiting, 1u);  // the reader, in its read
    const std::byte msg[4] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    c.write_all(msg);
    ping.join();
    pong.join();
    sleeper.join();
    reader.join();
  });
  rt.stop_trace();  // "idler" is alive: named from the registry; the others ended
  const std::string text = read_file(file);
  EXPECT_NE(text.find("\"wait read\""), std::string::npos);
  EXPECT_NE(text.find("\"wait sleep\""), std::string::npos);
  EXPECT_NE(text.find("\"wait channel recv\""), std::string::npos);
  EXPECT_TRUE(check_trace(file, "none", 1, {"ping", "pong", "sleeper", "reader", "idler"}));
  idle.close();
  idler.join();
  std::remove(file.c_str());
}

TEST(Trace, DroppedEventsAreCountedInTheFile) {
  if (!have_python()) GTEST_SKIP() << no_python;
  const std::string file = temp_path("dropped");
  auto& capacity = spindle::detail::trace_session::events_per_worker;
  const std::size_t saved = capacity.load();
  capacity.store(16);
  spindle::runtime rt(spindle::options{.workers = 1});
  rt.start_trace(file);
  capacity.store(saved);
  rt.block_on([] {
    auto a = spindle::spawn(spindle::fiber_options{.name = "yielder"}, [] {
      for (int i = 0; i < 100; ++i) spindle::this_fiber::yield();
    });
    for (int i = 0; i < 100; ++i) spindle::this_fiber::yield();
    a.join();
  });
  rt.stop_trace();
  EXPECT_TRUE(check_trace(file, "some", 0, {}));
  std::remove(file.c_str());
}

TEST(Trace, NamesAreEscaped) {
  if (!have_python()) GTEST_SKIP() << no_python;
  const std::string file = temp_path("names");
  spindle::runtime rt(spindle::options{.workers = 1});
  rt.start_trace(file);
  // Ends during the trace (named from its end event) and still alive at the
  // stop (named from the registry).
  const std::string odd = "q\"b\\s\ttab\x01 \xc3\xa9 \xff";
  rt.spawn(spindle::fiber_options{.name = odd}, [] {}).join();
  spindle::channel<int> hold;
  auto alive = rt.spawn(spindle::fiber_options{.name = odd + " alive"}, [&] { (void)hold.recv(); });
  rt.block_on([] { spindle::this_fiber::yield(); });
  rt.stop_trace();
  const std::string text = read_file(file);
  EXPECT_NE(text.find(R"("q\"b\\s\u0009tab\u0001 )"
                      "\xc3\xa9"
                      R"( \ufffd")"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"( \ufffd alive")"), std::string::npos);
  EXPECT_TRUE(check_trace(file, "none", 0, {}));
  hold.close();
  alive.join();
  std::remove(file.c_str());
}

// The events are stamped with the time-stamp counter and written as
// nanoseconds: a fiber that runs 20 ms by the steady clock has a slice of at
// least 20 ms, and no longer than the trace itself (a wrong tick rate, such as
// ticks written as nanoseconds, breaks one bound or the other).
TEST(Trace, SliceTimesAreSteadyClockTime) {
  const std::string file = temp_path("clock");
  spindle::runtime rt(spindle::options{.workers = 1, .stall_threshold = 0ms});
  constexpr auto busy = 20ms;
  const auto before = std::chrono::steady_clock::now();
  rt.start_trace(file);
  rt.spawn(spindle::fiber_options{.name = "busy"}, [&] {
      const auto start = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - start < busy) {
      }
    }).join();
  rt.stop_trace();
  const double trace_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - before).count();
  const std::string text = read_file(file);
  const std::size_t name = text.find("{\"name\":\"busy\"");
  ASSERT_NE(name, std::string::npos) << text;
  const std::size_t dur = text.find("\"dur\":", name);
  ASSERT_NE(dur, std::string::npos);
  const double dur_us = std::strtod(text.c_str() + dur + 6, nullptr);
  const double busy_us = std::chrono::duration<double, std::micro>(busy).count();
  EXPECT_GE(dur_us, busy_us);
  EXPECT_LE(dur_us, trace_us);
  std::remove(file.c_str());
}

TEST(Trace, MisuseThrows) {
  const std::string file = temp_path("misuse");
  spindle::runtime rt(spindle::options{.workers = 1});
  EXPECT_THROW(rt.stop_trace(), std::logic_error);  // never started
  try {
    rt.start_trace("/nonexistent-spindle-dir/trace.json");
    ADD_FAILURE() << "start_trace opened a path in a missing directory";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-spindle-dir/trace.json"), std::string::npos);
  }
  EXPECT_THROW(rt.stop_trace(), std::logic_error);  // the failed start left nothing running
  rt.start_trace(file);
  EXPECT_THROW(rt.start_trace(file), std::logic_error);
  rt.block_on([] { spindle::this_fiber::yield(); });
  rt.stop_trace();
  EXPECT_THROW(rt.stop_trace(), std::logic_error);
  // A second trace after the first.
  rt.start_trace(file);
  rt.block_on([] { spindle::this_fiber::yield(); });
  rt.stop_trace();
  const std::string text = read_file(file);
  EXPECT_EQ(text.rfind("{\"traceEvents\":[", 0), 0u);
  EXPECT_NE(text.find("\"otherData\":{\"dropped_events\":0}}"), std::string::npos);
  std::remove(file.c_str());
}

TEST(Trace, RuntimeDestructionWritesARunningTrace) {
  if (!have_python()) GTEST_SKIP() << no_python;
  const std::string file = temp_path("destroyed");
  {
    spindle::runtime rt(spindle::options{.workers = 2});
    rt.start_trace(file);
    rt.block_on([] {
      spindle::spawn(spindle::fiber_options{.name = "last one"}, [] {
        spindle::this_fiber::sleep_for(1ms);
      }).join();
    });
  }
  EXPECT_TRUE(check_trace(file, "none", 1, {"last one"}));
  std::remove(file.c_str());
}

// Traces started and stopped while fibers on four workers wake each other
// and are stolen: every file is well formed (drops allowed), whatever the
// workers were doing at the stop.
TEST(Trace, StartAndStopWhileWorkersChurn) {
  if (!have_python()) GTEST_SKIP() << no_python;
  const std::string file = temp_path("churn");
  spindle::runtime rt(spindle::options{.workers = 4});
  std::atomic<bool> done{false};
  std::atomic<int> rounds{0};
  auto load = rt.spawn([&] {
    for (; !done.load(); ++rounds) {
      spindle::channel<int> ch(4);
      std::vector<spindle::task<void>> fibers;
      for (int i = 0; i < 50; ++i)
        fibers.push_back(spindle::spawn([&ch, i] {
          if (i % 2)
            for (int k = 0; k < 20; ++k) ch.send(k);
          else
            for (int k = 0; k < 20; ++k) (void)ch.recv();
        }));
      for (auto& f : fibers) f.join();
    }
  });
  // Small buffers: files Python parses in a moment (drops, if any, are allowed).
  auto& capacity = spindle::detail::trace_session::events_per_worker;
  const std::size_t saved = capacity.load();
  capacity.store(4096);
  for (int round = 0; round < 3; ++round) {
    rt.start_trace(file);
    // Two whole rounds of the load inside the trace, however slow the
    // machine: there are slices to check.
    const int seen = rounds.load();
    while (rounds.load() < seen + 2) std::this_thread::sleep_for(1ms);
    rt.stop_trace();
    EXPECT_TRUE(check_trace(file, "any", 0, {}));
  }
  capacity.store(saved);
  done = true;
  load.join();
  std::remove(file.c_str());
}

// A fiber that runs all along does not hold stop_trace up (its worker's
// buffer is retired, freed later); its slice ends at the stop.
TEST(Trace, StopDoesNotWaitForALongRunningFiber) {
  if (!have_python()) GTEST_SKIP() << no_python;
  const std::string file = temp_path("spinner");
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.start_trace(file);
  std::atomic<bool> spinning{false}, stop{false};
  auto spinner = rt.spawn(spindle::fiber_options{.name = "spinner"}, [&] {
    spinning = true;
    while (!stop.load()) {
    }
  });
  while (!spinning.load()) std::this_thread::sleep_for(1ms);
  rt.stop_trace();
  stop = true;
  spinner.join();
  EXPECT_TRUE(check_trace(file, "none", 0, {"spinner"}));
  EXPECT_NE(read_file(file).find("\"end\":\"running\""), std::string::npos);
  // Again, now that every worker has moved on.
  rt.start_trace(file);
  rt.block_on([] { spindle::this_fiber::yield(); });
  rt.stop_trace();
  EXPECT_TRUE(check_trace(file, "none", 0, {}));
  std::remove(file.c_str());
}

TEST(Trace, StopFromAFiber) {
  if (!have_python()) GTEST_SKIP() << no_python;
  const std::string file = temp_path("from_fiber");
  spindle::runtime rt(spindle::options{.workers = 2});
  rt.block_on([&] {
    rt.start_trace(file);
    spindle::spawn(spindle::fiber_options{.name = "child"}, [] {
      spindle::this_fiber::yield();
    }).join();
    rt.stop_trace();
  });
  EXPECT_TRUE(check_trace(file, "none", 0, {"child"}));
  std::remove(file.c_str());
}

}  // namespace
