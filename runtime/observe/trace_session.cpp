#include "observe/trace_session.hpp"

#include <cerrno>
#include <spindle/detail/clock.hpp>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "observe/trace_json.hpp"
#include "sched/context.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {

void trace_session::start(runtime_core& rt, const std::string& path) {
  std::lock_guard<std::mutex> g(lock_);
  if (file_)
    throw std::logic_error("spindle::runtime::start_trace: a trace is already running (to \"" +
                           path_ + "\"); call stop_trace first");
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f)
    throw std::system_error(errno, std::generic_category(),
                            "spindle::runtime::start_trace: cannot open \"" + path + "\"");
  // Retired buffers whose workers have moved on since go now.
  release_buffers(rt, std::exchange(retired_, {}));
  const std::size_t capacity = events_per_worker.load(std::memory_order_relaxed);
  const bool tsc = trace_tsc_usable();
  std::vector<held_buffer> buffers;
  try {
    for (std::size_t i = 0; i < rt.workers().size(); ++i)
      buffers.push_back({std::make_unique<trace_buffer>(capacity, tsc), rt.workers()[i].get()});
  } catch (...) {
    std::fclose(f);
    throw;
  }
  file_ = f;
  path_ = path;
  buffers_ = std::move(buffers);
  // Before any worker can record: every event is later.
  tsc_ = tsc;
  start_time_ = clock::now();
  start_ticks_ = trace_ticks(tsc_);
  for (held_buffer& h : buffers_) h.owner->trace.store(h.buffer.get(), std::memory_order_release);
}

void trace_session::stop(runtime_core& rt) {
  std::lock_guard<std::mutex> g(lock_);
  if (!file_) throw std::logic_error("spindle::runtime::stop_trace: no trace is running");
  stop_locked(rt);
}

void trace_session::stop_at_exit(runtime_core& rt) noexcept {
  std::lock_guard<std::mutex> g(lock_);
  if (!file_) return;
  try {
    stop_locked(rt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spindle: the trace could not be written at the runtime's end: %s\n",
                 e.what());
  }
}

void trace_session::stop_locked(runtime_core& rt) {
  for (held_buffer& h : buffers_) h.owner->trace.store(nullptr, std::memory_order_seq_cst);
  // What each worker has done so far: it has stopped recording once either
  // counter moves (see passed_switch).
  for (held_buffer& h : buffers_) {
    h.fibers_run = h.owner->counters.fibers_run.load(std::memory_order_relaxed);
    h.parks = h.owner->counters.parks.load(std::memory_order_relaxed);
  }
  trace_capture capture;
  for (held_buffer& h : buffers_)
    capture.workers.push_back({h.buffer->events(), h.buffer->published(), h.buffer->dropped()});
  capture.start = start_ticks_;
  capture.stop = trace_ticks(tsc_);  // after the counts: later than every event read
  const double ns = std::chrono::duration<double, std::nano>(clock::now() - start_time_).count();
  if (capture.stop > capture.start)
    capture.ns_per_tick = ns / static_cast<double>(capture.stop - capture.start);
  rt.registry().for_each([&](const fiber& f) {
    if (!f.name.empty()) capture.live_names.emplace(f.sched.id, std::string(f.name.view()));
  });

  std::FILE* f = std::exchange(file_, nullptr);
  int error = 0;
  try {
    write_chrome_trace(f, capture);
  } catch (...) {
    error = ENOMEM;  // the writer's own memory: the file is incomplete
  }
  if (std::ferror(f) && !error) error = errno ? errno : EIO;
  if (std::fclose(f) != 0 && !error) error = errno ? errno : EIO;
  release_buffers(rt, std::move(buffers_));
  buffers_.clear();
  if (error)
    throw std::system_error(error, std::generic_category(),
                            "spindle::runtime::stop_trace: cannot write \"" + path_ + "\"");
}

bool trace_session::passed_switch(const held_buffer& h) noexcept {
  if (current_worker() == h.owner) return true;  // stop_trace itself runs there: not in an event
  return h.owner->counters.fibers_run.load(std::memory_order_relaxed) != h.fibers_run ||
         h.owner->counters.parks.load(std::memory_order_relaxed) != h.parks;
}

// Frees each buffer whose worker has passed a switch or a park since it
// stopped recording, waiting for that (nudging idle workers) at most
// quiescence_wait; the others are retired. Before a buffer is freed its
// counts are loaded once more (acquire): every write the worker made to it
// came before a store of one of them, so the free happens after them all.
void trace_session::release_buffers(runtime_core&, std::vector<held_buffer> held) {
  const auto deadline = std::chrono::steady_clock::now() + quiescence_wait;
  bool nudged = false;
  for (;;) {
    for (auto it = held.begin(); it != held.end();) {
      if (passed_switch(*it)) {
        (void)it->buffer->published();
        (void)it->buffer->dropped();
        it = held.erase(it);
      } else {
        ++it;
      }
    }
    if (held.empty() || std::chrono::steady_clock::now() >= deadline) break;
    if (!nudged) {
      for (held_buffer& h : held) h.owner->unpark();  // an idle worker parks again: `parks` moves
      nudged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (held_buffer& h : held) retired_.push_back(std::move(h));
}

}  // namespace spindle::detail
