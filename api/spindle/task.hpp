// spindle::task<T>: the handle of a spawned fiber, like std::thread plus its result.
//
// join() waits for the fiber (suspending only the calling fiber, or blocking a
// plain thread) and returns its result or rethrows its exception; detach()
// lets it run on its own. A task that is neither joined nor detached is
// detached by its destructor (unlike std::thread, which would terminate). A
// task can be joined or detached once: afterwards it is empty and both throw
// std::logic_error.
#pragma once

#include <spindle/detail/fiber.hpp>

#include <cstdint>
#include <stdexcept>
#include <utility>

namespace spindle {

template <class T>
class task {
 public:
  task() noexcept = default;
  explicit task(detail::fiber_with_result<T>* f) noexcept : f_(f) {}
  task(task&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      if (f_) detach();
      f_ = std::exchange(o.f_, nullptr);
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (f_) detach();
  }

  // True while the task refers to a fiber (not yet joined or detached).
  bool joinable() const noexcept { return f_ != nullptr; }

  // True once the fiber has finished (its result or exception is ready).
  bool done() const noexcept {
    return f_ && f_->join_state.load(std::memory_order_acquire) == detail::join_done;
  }

  // The fiber's id (as printed with errors of detached fibers); 0 when empty.
  std::uint64_t id() const noexcept { return f_ ? f_->sched.id : 0; }

  // Waits for the fiber and returns its result, or rethrows its exception.
  // A fiber that ~runtime() destroyed before it finished (never started, or
  // unwound while suspended) has no result: join() throws std::logic_error
  // (inside a fiber of that same runtime, which is being shut down too, the
  // join unwinds the caller like any wait does then). Either way the task is
  // empty afterwards.
  T join() {
    if (!f_) throw std::logic_error("spindle::task::join: task is empty (already joined or detached)");
    detail::wait_for_completion(*f_);
    auto* f = std::exchange(f_, nullptr);
    struct releaser {
      detail::fiber* f;
      ~releaser() { f->release(); }
    } r{f};
    if (f->sched.unwinding) detail::throw_unwound_join(*f);  // no result to return
    // The exception moves out: the joiner's thread then drops the last
    // reference to it, not whichever worker drops the fiber's last reference
    // (a queue entry may outlive the join; ThreadSanitizer cannot see
    // libstdc++'s exception reference counts, and the object is ours anyway).
    if (f->error) std::rethrow_exception(std::exchange(f->error, nullptr));
    if constexpr (!std::is_void_v<T>) return std::move(*f->result);
  }

  // Requests the fiber's cancellation (spindle/cancel.hpp): its waits throw
  // spindle::cancelled from now on, one in progress too, and join() then
  // rethrows that unless the fiber caught it and returned. Any thread, any
  // number of times; a fiber that already finished is not affected.
  void cancel() {
    if (!f_)
      throw std::logic_error("spindle::task::cancel: task is empty (already joined or detached)");
    detail::request_cancel(*f_);
  }

  // Lets the fiber run on its own; an exception escaping it is reported on
  // stderr with the fiber's id, its type (demangled) and what().
  void detach() {
    if (!f_) throw std::logic_error("spindle::task::detach: task is empty (already joined or detached)");
    detail::detach(*std::exchange(f_, nullptr));
  }

 private:
  detail::fiber_with_result<T>* f_ = nullptr;
};

}  // namespace spindle
