#include "observe/trace_json.hpp"

#include <algorithm>
#include <cinttypes>
#include <string_view>
#include <utility>

#include "observe/dump.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {
namespace {

// A JSON string: quotes, backslashes and control characters escaped; bytes
// that are not valid UTF-8 become U+FFFD, so that a name of arbitrary bytes
// still makes a file every JSON parser accepts.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u == '"' || u == '\\') {
      out += '\\';
      out += static_cast<char>(u);
      ++i;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
      ++i;
    } else if (u < 0x80) {
      out += static_cast<char>(u);
      ++i;
    } else {
      // Length of a well-formed sequence starting here, or 0.
      std::size_t len = u >= 0xc2 && u <= 0xdf   ? 2
                        : u >= 0xe0 && u <= 0xef ? 3
                        : u >= 0xf0 && u <= 0xf4 ? 4
                                                 : 0;
      if (len && i + len <= s.size()) {
        for (std::size_t k = 1; k < len; ++k)
          if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) len = 0;
        // Overlong 3- and 4-byte forms, surrogates, and code points past U+10FFFF.
        const auto second = len ? static_cast<unsigned char>(s[i + 1]) : 0;
        if ((u == 0xe0 && second < 0xa0) || (u == 0xed && second >= 0xa0) ||
            (u == 0xf0 && second < 0x90) || (u == 0xf4 && second >= 0x90))
          len = 0;
      } else {
        len = 0;
      }
      if (len) {
        out.append(s.data() + i, len);
        i += len;
      } else {
        out += "\\ufffd";
        ++i;
      }
    }
  }
  out += '"';
}

// Microseconds with three decimals: the nanoseconds.
void append_us(std::string& out, std::int64_t ns) {
  if (ns < 0) ns = 0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
  out += buf;
}

const char* end_word(std::uint32_t action) noexcept {
  switch (static_cast<after_switch_action>(action)) {
    case after_switch_action::requeue:
      return "yield";
    case after_switch_action::park:
    case after_switch_action::park_cancellable:
      return "wait";
    case after_switch_action::finish:
      return "exit";
    case after_switch_action::none:
      break;  // a fiber's stack switches without a jump only to run a joined fiber inline
  }
  return "join inline";
}

struct slice {
  std::int64_t begin, end;
  std::uint64_t fiber;
  std::uint32_t worker;
  std::string end_reason;
};

struct wake_event {
  std::int64_t ts;
  std::uint64_t waker, woken;
  std::uint32_t worker;
};

class trace_writer {
 public:
  trace_writer(std::FILE* out, const trace_capture& c) : out_(out), c_(c), names_(c.live_names) {}

  void write() {
    collect();
    std::fputs("{\"traceEvents\":[\n", out_);
    line_ = "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"spindle\"}}";
    for (std::uint32_t i = 0; i < c_.workers.size(); ++i) {
      begin_event();
      line_ += "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":";
      line_ += std::to_string(i);
      line_ += ",\"args\":{\"name\":\"spindle-w" + std::to_string(i) + "\"}}";
    }
    for (const slice& s : slices_) write_slice(s);
    for (const wake_event& w : wakes_) write_wake(w);
    for (const std::string& e : instants_) {
      begin_event();
      line_ += e;
    }
    flush_line();
    std::uint64_t dropped = 0;
    for (const auto& w : c_.workers) dropped += w.dropped;
    std::fprintf(out_,
                 "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"dropped_events\":%" PRIu64
                 "}}\n",
                 dropped);
  }

 private:
  // Slices, wakes and instants from every worker's events; names of fibers
  // that ended during the trace.
  void collect() {
    for (std::uint32_t i = 0; i < c_.workers.size(); ++i) {
      const auto& w = c_.workers[i];
      std::uint64_t running = 0;
      std::int64_t since = c_.start;
      bool first_run = true;
      std::uint64_t waiting_fiber = 0;  // the last wait event's fiber and kind
      std::uint32_t waiting_kind = 0;
      for (std::size_t k = 0; k < w.count; ++k) {
        const trace_event& e = w.events[k];
        switch (e.kind) {
          case trace_event_kind::run: {
            if (first_run) running = e.a;  // it ran when the trace started
            first_run = false;
            if (running) {
              std::string reason = end_word(e.c);
              if (reason == "wait" && waiting_fiber == running) {
                reason += ": ";
                reason += wait_kind_word(static_cast<wait_kind>(waiting_kind));
              }
              slices_.push_back({since, e.ts, running, i, std::move(reason)});
            }
            running = e.b;
            since = e.ts;
            break;
          }
          case trace_event_kind::wake:
            wakes_.push_back({e.ts, e.a, e.b, i});
            break;
          case trace_event_kind::wait: {
            waiting_fiber = e.a;
            waiting_kind = e.c;
            const auto kind = static_cast<wait_kind>(e.c);
            std::string ev = instant_head(std::string("wait ") + wait_kind_word(kind), e.ts, i);
            ev += ",\"args\":{\"fiber\":" + std::to_string(e.a);
            if (kind == wait_kind::io_read || kind == wait_kind::io_write ||
                kind == wait_kind::io_accept || kind == wait_kind::io_connect)
              ev += ",\"fd\":" + std::to_string(static_cast<std::int64_t>(e.b));
            ev += "}}";
            instants_.push_back(std::move(ev));
            break;
          }
          case trace_event_kind::steal: {
            std::string ev = instant_head("steal", e.ts, i);
            ev += ",\"args\":{\"fiber\":" + std::to_string(e.a) +
                  ",\"from\":" + std::to_string(e.c) + "}}";
            instants_.push_back(std::move(ev));
            break;
          }
          case trace_event_kind::name: {
            const std::size_t slots = name_slots(e.c);
            names_.emplace(e.a, std::string(reinterpret_cast<const char*>(&w.events[k + 1]), e.c));
            k += slots;
            break;
          }
        }
      }
      // Still running at the stop. After a drop the end of that run is unknown.
      if (running && w.dropped == 0)
        slices_.push_back({since, std::max(since, c_.stop), running, i, "running"});
    }
    // Each fiber's run beginnings, in time order: where a flow from a wake lands.
    for (std::size_t k = 0; k < slices_.size(); ++k) runs_of_[slices_[k].fiber].push_back(k);
    for (auto& [id, list] : runs_of_)
      std::sort(list.begin(), list.end(), [this](std::size_t a, std::size_t b) {
        return slices_[a].begin < slices_[b].begin;
      });
  }

  std::string instant_head(const std::string& name, std::int64_t ts, std::uint32_t tid) const {
    std::string ev = "{\"name\":";
    append_json_string(ev, name);
    ev += ",\"ph\":\"i\",\"s\":\"t\",\"ts\":";
    append_us(ev, c_.ns_since_start(ts));
    ev += ",\"pid\":1,\"tid\":" + std::to_string(tid);
    return ev;
  }

  void write_slice(const slice& s) {
    begin_event();
    line_ += "{\"name\":";
    const auto n = names_.find(s.fiber);
    if (n != names_.end() && !n->second.empty())
      append_json_string(line_, n->second);
    else
      line_ += "\"fiber " + std::to_string(s.fiber) + "\"";
    line_ += ",\"cat\":\"fiber\",\"ph\":\"X\",\"ts\":";
    append_us(line_, c_.ns_since_start(s.begin));
    line_ += ",\"dur\":";
    append_us(line_, c_.ns_since_start(s.end) - c_.ns_since_start(s.begin));
    line_ += ",\"pid\":1,\"tid\":" + std::to_string(s.worker);
    line_ += ",\"args\":{\"fiber\":" + std::to_string(s.fiber) + ",\"end\":";
    append_json_string(line_, s.end_reason);
    line_ += "}}";
  }

  void write_wake(const wake_event& w) {
    begin_event();
    line_ += instant_head("wake", w.ts, w.worker);
    line_ += ",\"args\":{\"fiber\":" + std::to_string(w.woken) + ",\"by\":";
    if (w.waker == 0)
      line_ += "\"scheduler\"";
    else if (w.waker == unknown_waker)
      line_ += "\"unknown\"";
    else
      line_ += std::to_string(w.waker);
    line_ += "}}";
    if (w.waker == 0 || w.waker == unknown_waker) return;
    // A flow from the waker's slice to the woken fiber's next run.
    const auto runs = runs_of_.find(w.woken);
    if (runs == runs_of_.end()) return;
    const auto next =
        std::lower_bound(runs->second.begin(), runs->second.end(), w.ts,
                         [this](std::size_t k, std::int64_t ts) { return slices_[k].begin < ts; });
    if (next == runs->second.end()) return;
    const slice& to = slices_[*next];
    const std::string id = std::to_string(++flows_);
    begin_event();
    line_ += "{\"name\":\"wake\",\"cat\":\"wake\",\"ph\":\"s\",\"id\":" + id + ",\"ts\":";
    append_us(line_, c_.ns_since_start(w.ts));
    line_ += ",\"pid\":1,\"tid\":" + std::to_string(w.worker) + "}";
    begin_event();
    line_ +=
        "{\"name\":\"wake\",\"cat\":\"wake\",\"ph\":\"f\",\"bp\":\"e\",\"id\":" + id + ",\"ts\":";
    append_us(line_, c_.ns_since_start(to.begin));
    line_ += ",\"pid\":1,\"tid\":" + std::to_string(to.worker) + "}";
  }

  // Events are separated by ",\n"; each is written as it is finished.
  void begin_event() {
    flush_line();
    std::fputs(",\n", out_);
  }
  void flush_line() {
    std::fwrite(line_.data(), 1, line_.size(), out_);
    line_.clear();
  }

  std::FILE* out_;
  const trace_capture& c_;
  std::unordered_map<std::uint64_t, std::string> names_;
  std::vector<slice> slices_;
  std::vector<wake_event> wakes_;
  std::vector<std::string> instants_;
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> runs_of_;
  std::string line_;
  std::uint64_t flows_ = 0;
};

}  // namespace

void write_chrome_trace(std::FILE* out, const trace_capture& capture) {
  trace_writer(out, capture).write();
}

}  // namespace spindle::detail
