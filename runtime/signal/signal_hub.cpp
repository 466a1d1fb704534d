#include "signal/signal_hub.hpp"

#include <algorithm>
#include <spindle/signal_set.hpp>

#include "sched/thread_start.hpp"

namespace spindle::detail {

signal_hub& signal_hub::instance() {
  // Never destroyed: a set may outlive static destruction (a leaked one, or
  // one alive when another thread calls exit), and destroying a hub whose
  // thread still runs would call std::terminate.
  static signal_hub* const hub = new signal_hub;
  return *hub;
}

void signal_hub::attach(signal_set& s) {
  signal_hub& hub = instance();
  std::lock_guard<std::mutex> life(hub.lifecycle_);
  if (hub.sets_.empty()) {
    hub.pipe_.emplace();
    try {
      hub.thread_ = start_thread([&hub] { hub.run(); });
    } catch (...) {
      hub.pipe_.reset();
      throw;
    }
  }
  // Listed before its signals are caught, so that no signal caught for it
  // finds it missing; a caught signal either reaches it or its former
  // disposition.
  try {
    std::lock_guard<std::mutex> g(hub.sets_lock_);
    hub.sets_.push_back(&s);
  } catch (...) {
    hub.remove(s);  // stops the hub again if this set started it
    throw;
  }
  std::uint64_t caught = 0;
  try {
    for (int signo = 1; signo < NSIG; ++signo) {
      if (!(s.listens_ & signal_set::bit(signo))) continue;
      if (hub.listeners_[signo] == 0) signal_pipe::catch_signal(signo, hub.previous_[signo]);
      ++hub.listeners_[signo];
      caught |= signal_set::bit(signo);
    }
  } catch (...) {
    hub.release(caught);
    hub.remove(s);
    throw;
  }
}

void signal_hub::detach(signal_set& s) noexcept {
  signal_hub& hub = instance();
  std::lock_guard<std::mutex> life(hub.lifecycle_);
  // Dispositions first, then the list: until the set is gone, a signal that
  // was caught for it still reaches it.
  hub.release(s.listens_);
  hub.remove(s);
}

void signal_hub::release(std::uint64_t mask) noexcept {
  for (int signo = 1; signo < NSIG; ++signo) {
    if (!(mask & signal_set::bit(signo))) continue;
    if (--listeners_[signo] == 0) signal_pipe::restore(signo, previous_[signo]);
  }
}

void signal_hub::remove(signal_set& s) noexcept {
  {
    std::lock_guard<std::mutex> g(sets_lock_);
    std::erase(sets_, &s);
  }
  if (sets_.empty()) {
    // Signals caught before the stop byte are still handed out (to nobody,
    // as no set is left); the thread then ends.
    pipe_->stop();
    thread_.join();
    pipe_.reset();
  }
}

void signal_hub::run() {
  name_this_thread("spindle-sig");
  // pipe_ lives from before this thread starts until after it is joined.
  while (const int signo = pipe_->next()) deliver(signo);
}

void signal_hub::deliver(int signo) {
  std::lock_guard<std::mutex> g(sets_lock_);
  for (signal_set* s : sets_) {
    if (s->listens_ & signal_set::bit(signo)) s->deliver(signo);
  }
}

}  // namespace spindle::detail
