// fiber: the control block of one spawned callable.
//
// Allocated once per spawn and shared by the scheduler and the task<T> handle
// (reference counted: one reference for the run, one for the handle). The
// stack is *not* part of it: a fiber that has not started needs none, and one
// is taken from the stack_pool only when the fiber first runs and handed back
// (warm) when it finishes. The callable and its result live here, so spawning
// is one allocation.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <spindle/detail/cancel_state.hpp>
#include <spindle/detail/fiber_name.hpp>
#include <tuple>
#include <type_traits>
#include <utility>

namespace spindle {
struct fiber_options;
}

namespace spindle::detail {

class fiber;
class runtime_core;
class waiter;
class local_values;
struct stack_block;

// Scheduler-private state of a fiber. Written only by the worker that runs or
// switches the fiber, except `park` (see runtime/fiber/fiber_switch.cpp for the park
// protocol) and `spill_next` (guarded by the global queue that holds it).
struct fiber_sched_state {
  void* context = nullptr;          // saved machine context while suspended
  stack_block* stack = nullptr;     // null until first run
  runtime_core* rt = nullptr;       // the runtime that owns the fiber
  std::uint64_t id = 0;             // unique within the process, increasing with spawn order
  std::atomic<std::uint32_t> park{0};  // park protocol state: running / parked / woken
  // Set once by whoever starts the fiber: the scheduler (first run on a stack
  // of its own) or a joiner that runs it inline (see wait_for_completion).
  std::atomic<bool> started{false};
  // fiber_unwind was thrown into it, or it was discarded unstarted (shutdown):
  // it has no result. Read by a joiner after join_done.
  bool unwinding = false;
  // The fiber that join() is running inline on this fiber's stack (the
  // innermost one), or null; it is who "this fiber" is meanwhile. Touched only
  // by the code running on this stack.
  fiber* inline_child = nullptr;
  // While join() runs this fiber inline: the fiber whose join runs it (on the
  // same stack), whose cancellation and deadlines reach this fiber's waits
  // (the join can end only when this run does); null otherwise. Touched only
  // by the code running on that stack.
  fiber* joined_by = nullptr;
  // The next fiber in the global queue's spill list (runtime/sched/global_queue.hpp),
  // used only when that queue could not allocate; guarded by its spill lock
  // (unchecked: a lock of another object, which an attribute here cannot name).
  fiber* spill_next = nullptr;
};

// What a fiber waits on, for the dump (runtime/observe/dump.cpp). Written by
// the fiber (or the joiner running it inline) in the park door
// (runtime/wait/waiter.cpp) before it parks and cleared when it resumes;
// read by the dump from any thread. All relaxed: the dump's view is a
// snapshot, and what it must not get wrong it checks twice (`seq`) or pins.
//
// `kind` holds a wait_kind, plus `pinned` while the dump reads the mutex a
// fiber waits on: the fiber cannot clear a pinned kind (it spins until the
// pin goes), so the mutex, which outlives every wait inside it, is alive
// while the dump reads who holds it. Only mutex waits pay for that (their
// clear is a CAS, every other wait's a store).
struct wait_record {
  static constexpr std::uint32_t pinned = 0x100;
  std::atomic<std::uint32_t> kind{0};
  std::atomic<std::uint32_t> seq{0};         // +1 at every park: same seq, same wait
  std::atomic<const void*> object{nullptr};  // the primitive, or null
  std::atomic<std::int64_t> detail{0};       // fd; joined fiber's id; sleep deadline (ns)
  std::atomic<std::int64_t> since{0};        // when the wait began (steady ns, coarse)
};

// join_state values; any other value is the address of the joining waiter.
inline constexpr std::uintptr_t join_running = 0;
inline constexpr std::uintptr_t join_done = 1;
inline constexpr std::uintptr_t join_detached = 2;
// Done, and the fiber's end is still notifying the joiner's waiter: a joiner
// whose wait was cancelled meanwhile keeps its waiter alive until `done`.
inline constexpr std::uintptr_t join_waking = 3;

class fiber {
 public:
  fiber_sched_state sched;

  // Completion, shared with task<T>. join_state goes running -> done, running
  // -> detached -> done, or running -> <joiner> -> done; the CAS that moves it
  // away from running decides who reports or collects the outcome (the join
  // protocol: runtime/fiber/join.hpp).
  std::atomic<std::uintptr_t> join_state{join_running};
  std::atomic<std::uint32_t> refs{2};
  cancel_state cancel;                  // see detail/cancel_state.hpp
  cancel_links* cancel_more = nullptr;  // written under cancel.lock, by the fiber only
  std::exception_ptr error;  // written by the fiber before join_done, read after
  // Its fiber_local values (spindle/fiber_local.hpp), created on first use;
  // touched only by code running as this fiber, destroyed when its body ends.
  local_values* locals = nullptr;

  // Seeing inside (runtime/observe/): the name (see fiber_name.hpp for who
  // may touch it), what it waits on, and its links in the runtime's
  // registry of live fibers (guarded by the lock of shard `shard`).
  fiber_name name;
  wait_record wait;
  fiber* registry_prev = nullptr;
  fiber* registry_next = nullptr;
  std::uint32_t shard = 0;
  // Ended, but still linked in its shard until a worker's batch is flushed;
  // the dump skips it.
  std::atomic<bool> ended{false};
  // Bytes of stack this fiber asked for (fiber_options::stack_size); 0 = the
  // runtime's. Written before the fiber is published, read at its first run.
  std::uint32_t stack_request = 0;

  virtual ~fiber() { delete cancel_more; }

  // Control blocks come from a size-classed pool with per-thread caches
  // (runtime/fiber/fiber_allocator.cpp): spawn costs no malloc and few page faults.
  static void* operator new(std::size_t n);
  static void operator delete(void* p, std::size_t n) noexcept;

  // Runs the callable and stores its result; an exception escapes to the
  // caller. The callable is destroyed before it returns or throws.
  virtual void run_body() = 0;
  // Destroys the callable of a fiber that will never run (runtime shutdown).
  virtual void discard_body() noexcept = 0;

  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

template <class R>
class fiber_with_result : public fiber {
 public:
  std::optional<R> result;
};

template <>
class fiber_with_result<void> : public fiber {};

// Who runs on f's stack: f, or the (innermost) fiber a join() runs inline
// there, which keeps its own identity (this_fiber::id, mutex ownership,
// cancellation, the wait the dump shows). Called only by code on that stack.
inline fiber& running_on(fiber& f) noexcept {
  return f.sched.inline_child ? *f.sched.inline_child : f;
}
inline const fiber& running_on(const fiber& f) noexcept {
  return f.sched.inline_child ? *f.sched.inline_child : f;
}

// Calls visit(f) for `who` and then for each fiber whose join runs it inline,
// out to the first of them that is shielded (a shield around a join covers
// the fiber it runs): the fibers whose cancellation and deadlines reach the
// waits of `who`. Stops at, and returns true for, the first visit that does.
// Only on the stack `who` runs on; the joiners are suspended in their joins
// meanwhile. `Fiber` is fiber or const fiber.
template <class Fiber, class Visit>
bool any_reaching(Fiber& who, Visit visit) {
  if (visit(who)) return true;
  for (Fiber* j = who.sched.joined_by; j && j->cancel.shield_depth == 0; j = j->sched.joined_by)
    if (visit(*j)) return true;
  return false;
}

// Whether a cancellation request reaches the waits of `who` (any_reaching).
inline bool cancel_reaches(const fiber& who) noexcept {
  return any_reaching(
      who, [](const fiber& f) { return f.cancel.requested.load(std::memory_order_seq_cst); });
}

// The earliest scope deadline that reaches the waits of `who` (its own
// innermost scope's, or a joiner's: any_reaching), or no_deadline.
inline clock::time_point reaching_deadline(const fiber& who) noexcept {
  clock::time_point earliest = no_deadline;
  any_reaching(who, [&earliest](const fiber& f) {
    if (const cancel_scope* scope = f.cancel_more ? f.cancel_more->scopes : nullptr)
      if (scope->deadline < earliest) earliest = scope->deadline;
    return false;
  });
  return earliest;
}

// Destroys f's fiber_local values (runtime/fiber/fiber_local.cpp).
void destroy_locals(fiber& f) noexcept;

// The callable (already decay-copied with its arguments) and its result.
//
// As with std::thread, the callable and its arguments are destroyed when the
// body returns or throws, before the fiber counts as finished: a joiner never
// sees its captures alive after join(), and a capture's destructor cannot run
// after the joiner's frame is gone. Its fiber_local values go right after,
// in the same way. The result stays for join(). `fn_` is an
// optional only for that early destruction (an engaged flag, no allocation,
// no atomic); it is touched only by whoever starts the fiber (run_body, on
// the fiber's or an inline joiner's stack) or discards it (shutdown), never
// both, and is empty afterwards.
template <class R, class F>
class fiber_impl final : public fiber_with_result<R> {
 public:
  explicit fiber_impl(F&& f) : fn_(std::move(f)) {}
  void run_body() override {
    struct destroy_on_exit {
      fiber_impl& self;
      ~destroy_on_exit() {
        self.fn_.reset();
        if (self.locals) destroy_locals(self);
      }
    } guard{*this};
    if constexpr (std::is_void_v<R>) {
      std::move(*fn_)();
    } else {
      this->result.emplace(std::move(*fn_)());
    }
  }
  void discard_body() noexcept override { fn_.reset(); }

 private:
  std::optional<F> fn_;
};

// Decay-copies f and args, as std::thread does, into one callable that invokes
// them as rvalues.
template <class F, class... A>
auto bind_decayed(F&& f, A&&... args) {
  return [fn = std::decay_t<F>(std::forward<F>(f)),
          tup = std::tuple<std::decay_t<A>...>(std::forward<A>(args)...)]() mutable -> decltype(auto) {
    return std::apply(
        [&](auto&... a) -> decltype(auto) { return std::invoke(std::move(fn), std::move(a)...); },
        tup);
  };
}

template <class F, class... A>
using spawn_result_t = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;

// Implemented in runtime/: hand a new fiber to a runtime / wait for a fiber.
void submit_new(runtime_core& rt, fiber* f);
// With fiber_options (a name, a stack size): validates them first; on a
// throw (std::invalid_argument, std::bad_alloc) the fiber is destroyed
// unstarted and never submitted.
void submit_new(runtime_core& rt, fiber* f, const fiber_options& o);
runtime_core& current_runtime_or_throw(const char* what);
runtime_core* current_runtime() noexcept;
// The running fiber, or null on a plain thread. Never cached across a
// suspension (the fiber may resume on another thread): a non-inlined read.
fiber* current_fiber() noexcept;
// Who the running code is: current_fiber(), or the fiber a join() runs inline
// on its stack. Identity for this_fiber::id() and for mutex ownership.
fiber* current_identity() noexcept;
void wait_for_completion(fiber& f);   // blocks the fiber or thread until join_done
// join() of a fiber that ~runtime() unwound or discarded (sched.unwinding):
// throws fiber_unwind if the caller is a fiber being shut down itself,
// otherwise the fiber's error or a std::logic_error.
[[noreturn]] void throw_unwound_join(fiber& f);
void report_detached_error(fiber& f) noexcept;

// task::detach: running -> detached, so that the fiber's end reports an
// exception that escapes it; if it has already finished with one, that is
// reported now. Drops the handle's reference. The task handle's only write of
// join_state (the rest of the protocol is runtime/fiber/join.hpp); inline
// because spawn(...).detach() is the spawn path (`spindle-bench spawn`).
inline void detach(fiber& f) noexcept {
  std::uintptr_t expected = join_running;
  if (!f.join_state.compare_exchange_strong(expected, join_detached, std::memory_order_acq_rel) &&
      f.error) {
    report_detached_error(f);  // it already finished with an exception
  }
  f.release();
}

template <class F, class... A>
auto make_fiber(F&& f, A&&... args) {
  using R = spawn_result_t<F, A...>;
  using Body = decltype(bind_decayed(std::forward<F>(f), std::forward<A>(args)...));
  return new fiber_impl<R, Body>(bind_decayed(std::forward<F>(f), std::forward<A>(args)...));
}

}  // namespace spindle::detail
