// runtime::dump(): every live fiber, the workers, and the deadlock cycles.
//
// The dump reads while fibers run: nothing stops the world. Each registry
// shard is locked while it is walked (a spawn or a fiber's end on that shard
// waits meanwhile: microseconds per thousand fibers), and each fiber's
// wait_record is read with relaxed loads, so a line shows what that fiber
// did at the moment it was read.
//
// Who holds a mutex is read from the mutex, which may be destroyed as soon
// as its waiters have left. So the dump first *pins* the waiting fiber's
// record (detail/fiber.hpp, wait_record::pinned): while pinned, the fiber
// cannot leave its wait, so the mutex is alive.
//
// Deadlocks: each waiting fiber points to at most one other (the holder of
// the mutex it waits for, or the fiber it joins), so cycles are found by
// walking those pointers. A snapshot taken fiber by fiber can show a cycle
// that never existed at any one instant; so each candidate cycle is read
// again, twice, and reported only if every member is still in the very same
// wait (same `seq`) and every mutex still has the same holder. Then every
// member was parked throughout the second reading, and a parked fiber cannot
// release what it holds: at that moment the cycle was real. (It can still
// be broken later by a timeout or a cancellation.)
#include "observe/dump.hpp"

#include <cinttypes>
#include <cstdio>
#include <spindle/runtime.hpp>
#include <spindle/sync/mutex.hpp>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "report.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

namespace spindle {
namespace detail {

struct mutex_inspect {
  static owner_id holder(const mutex& m) noexcept {
    return m.owner_.load(std::memory_order_relaxed);
  }
};

namespace {

// One fiber as the dump saw it.
struct fiber_view {
  std::uint64_t id = 0;
  std::string name;
  wait_kind kind = wait_kind::none;
  std::uint32_t seq = 0;
  const void* object = nullptr;
  std::int64_t detail = 0;
  std::int64_t since = 0;
  owner_id holder = no_owner;  // a mutex wait: who held the mutex
};

// Reads f's record; under f's registry shard lock (f cannot end meanwhile).
void read_wait(const fiber& f, fiber_view& v) noexcept {
  wait_record& rec = const_cast<fiber&>(f).wait;
  std::uint32_t k = rec.kind.load(std::memory_order_acquire);
  const bool pin =
      k == static_cast<std::uint32_t>(wait_kind::mutex) &&
      rec.kind.compare_exchange_strong(k, k | wait_record::pinned, std::memory_order_acq_rel);
  v.kind = static_cast<wait_kind>(k & ~wait_record::pinned);
  v.seq = rec.seq.load(std::memory_order_relaxed);
  v.object = rec.object.load(std::memory_order_relaxed);
  v.detail = rec.detail.load(std::memory_order_relaxed);
  v.since = rec.since.load(std::memory_order_relaxed);
  v.holder = no_owner;
  if (pin) {
    v.holder = mutex_inspect::holder(*static_cast<const mutex*>(v.object));
    rec.kind.store(k, std::memory_order_release);  // unpin
  }
}

const char* kind_word(wait_kind k) noexcept {
  switch (k) {
    case wait_kind::none:
      return "";
    case wait_kind::mutex:
      return "mutex";
    case wait_kind::shared_mutex:
      return "shared_mutex";
    case wait_kind::semaphore:
      return "semaphore";
    case wait_kind::condition:
      return "condition_variable";
    case wait_kind::latch:
      return "latch";
    case wait_kind::wait_group:
      return "wait_group";
    case wait_kind::barrier:
      return "barrier";
    case wait_kind::channel_send:
      return "channel send";
    case wait_kind::channel_recv:
      return "channel recv";
    case wait_kind::select:
      return "select";
    case wait_kind::future:
      return "future";
    case wait_kind::join:
      return "join";
    case wait_kind::sleep:
      return "sleep";
    case wait_kind::io_read:
      return "read";
    case wait_kind::io_write:
      return "write";
    case wait_kind::io_accept:
      return "accept";
    case wait_kind::io_connect:
      return "connect";
    case wait_kind::blocking_call:
      return "run_blocking";
    case wait_kind::signal:
      return "signal";
  }
  return "unknown";
}

// "1.250s", "12ms", "<1ms".
void append_duration(std::string& out, std::int64_t ns) {
  char buf[32];
  if (ns < 1'000'000) {
    out += "<1ms";
    return;
  }
  if (ns < 10'000'000'000) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "ms", ns / 1'000'000);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64 "s", ns / 1'000'000'000,
                  ns / 1'000'000 % 1000);
  }
  out += buf;
}

void append_id(std::string& out, std::uint64_t id) {
  out += std::to_string(id);
}

void append_pointer(std::string& out, const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  out += buf;
}

// The wait of a waiting fiber: "mutex 0x... held by fiber 7", "read fd 5", ...
void append_wait(std::string& out, const fiber_view& v, std::int64_t now) {
  out += kind_word(v.kind);
  switch (v.kind) {
    case wait_kind::io_read:
    case wait_kind::io_write:
    case wait_kind::io_accept:
    case wait_kind::io_connect:
      out += " fd ";
      out += std::to_string(v.detail);
      break;
    case wait_kind::join:
      if (v.detail) {
        out += " fiber ";
        out += std::to_string(v.detail);
      } else {
        out += " task_group ";  // task_group::join
        append_pointer(out, v.object);
      }
      break;
    case wait_kind::sleep:
      out += " until +";
      append_duration(out, v.detail > now ? v.detail - now : 0);
      break;
    case wait_kind::mutex:
      out += ' ';
      append_pointer(out, v.object);
      if (is_fiber_owner(v.holder)) {
        out += " held by fiber ";
        append_id(out, fiber_id_of(v.holder));
      } else if (v.holder != no_owner && v.holder != handed_over) {
        out += " held by a thread";
      }
      break;
    default:
      if (v.object) {
        out += ' ';
        append_pointer(out, v.object);
      }
      break;
  }
  if (v.since > 0 && now > v.since) {
    out += " for ";
    append_duration(out, now - v.since);
  }
}

// The fiber a waiting fiber waits for, or 0.
std::uint64_t waits_for(const fiber_view& v) noexcept {
  if (v.kind == wait_kind::join) return static_cast<std::uint64_t>(v.detail);
  if (v.kind == wait_kind::mutex && is_fiber_owner(v.holder)) return fiber_id_of(v.holder);
  return 0;
}

// Reads the members of a candidate cycle again; true if each is in the
// same wait, waiting for the same fiber, as in `first`.
bool still_waiting(const fiber_registry& registry,
                   const std::unordered_map<std::uint64_t, const fiber_view*>& first) {
  std::size_t confirmed = 0;
  registry.for_each([&](const fiber& f) {
    auto it = first.find(f.sched.id);
    if (it == first.end()) return;
    fiber_view again;
    read_wait(f, again);
    const fiber_view& was = *it->second;
    if (again.kind == was.kind && again.seq == was.seq && waits_for(again) == waits_for(was))
      ++confirmed;
  });
  return confirmed == first.size();
}

void append_cycles(std::string& out, const fiber_registry& registry,
                   const std::vector<fiber_view>& views) {
  std::unordered_map<std::uint64_t, const fiber_view*> by_id;
  by_id.reserve(views.size());
  for (const fiber_view& v : views) by_id.emplace(v.id, &v);
  // 0: not seen; 1: on the current path; 2: done.
  std::unordered_map<std::uint64_t, int> mark;
  for (const fiber_view& start : views) {
    if (!waits_for(start) || mark[start.id]) continue;
    std::vector<const fiber_view*> path;
    const fiber_view* v = &start;
    while (v && !mark[v->id]) {
      mark[v->id] = 1;
      path.push_back(v);
      auto next = by_id.find(waits_for(*v));
      v = next == by_id.end() ? nullptr : next->second;
    }
    if (v && mark[v->id] == 1) {
      // v closes a cycle: the path from v on.
      std::size_t from = 0;
      while (path[from] != v) ++from;
      std::unordered_map<std::uint64_t, const fiber_view*> members;
      for (std::size_t i = from; i < path.size(); ++i) members.emplace(path[i]->id, path[i]);
      if (still_waiting(registry, members) && still_waiting(registry, members)) {
        out += "deadlock:";
        for (std::size_t i = from; i < path.size(); ++i) {
          out += " fiber ";
          append_id(out, path[i]->id);
          out += ' ';
          out += quoted_name(path[i]->name);
          out += " (";
          out += kind_word(path[i]->kind);
          out += ") ->";
        }
        out += " fiber ";
        append_id(out, v->id);
        out += '\n';
      }
    }
    for (const fiber_view* p : path) mark[p->id] = 2;
  }
}

}  // namespace

const char* wait_kind_word(wait_kind k) noexcept {
  return kind_word(k);
}

std::string format_dump(runtime_core& rt) {
  const std::int64_t now = clock::now().time_since_epoch().count();
  const auto& workers = rt.workers();
  // Who runs now: the fiber on each worker's stack, and the fibers that
  // join() runs inline on it (found below through the join records).
  std::unordered_set<std::uint64_t> running;
  std::vector<std::uint64_t> on_worker(workers.size(), 0);
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const owner_id o = workers[i]->running.load(std::memory_order_relaxed);
    if (is_fiber_owner(o)) {
      on_worker[i] = fiber_id_of(o);
      running.insert(fiber_id_of(o));
    }
  }
  std::vector<fiber_view> views;
  rt.registry().for_each([&](const fiber& f) {
    fiber_view& v = views.emplace_back();
    v.id = f.sched.id;
    v.name.assign(f.name.view());
    read_wait(f, v);
  });
  for (bool more = true; more;) {
    more = false;
    for (const fiber_view& v : views)
      if (v.kind == wait_kind::join && running.count(v.id) &&
          running.insert(static_cast<std::uint64_t>(v.detail)).second)
        more = true;
  }

  std::string out;
  out.reserve(views.size() * 64 + 256);
  const blocking_pool::counts blocking = rt.blocking_counts();
  out += std::string("spindle runtime: ").append(std::to_string(workers.size())) + " workers, " +
         std::to_string(views.size()) + std::string(" fibers, ").append(std::to_string(blocking.threads)) +
         std::string(" blocking threads (").append(std::to_string(blocking.queued)) + " calls queued), " +
         std::to_string(rt.timers_pending()) + " timers\n";
  for (const fiber_view& v : views) {
    out += "fiber ";
    append_id(out, v.id);
    out += ' ';
    out += quoted_name(v.name);
    if (v.kind != wait_kind::none) {
      out += " waiting ";
      append_wait(out, v, now);
    } else {
      out += running.count(v.id) ? " running" : " runnable";
    }
    out += '\n';
  }
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const worker& w = *workers[i];
    out += std::string("worker ").append(std::to_string(i)) + ": ";
    if (on_worker[i]) {
      out += "running fiber ";
      append_id(out, on_worker[i]);
    } else {
      out += w.counters.busy_since.load(std::memory_order_relaxed) ? "scheduling" : "idle";
    }
    const std::size_t queued = w.local.size() + (w.runnext.load(std::memory_order_relaxed) ? 1 : 0);
    out += std::string(", queue ").append(std::to_string(queued)) + ", fibers run " +
           std::to_string(w.counters.fibers_run.load(std::memory_order_relaxed)) + '\n';
  }
  append_cycles(out, rt.registry(), views);
  return out;
}

}  // namespace detail

std::string runtime::dump() const {
  return detail::format_dump(*core_);
}

}  // namespace spindle
