// spindle::fiber_local<T>: a variable with one instance per fiber, what
// thread_local is for threads (and what thread_local cannot be in a fiber,
// which may resume on another thread after any suspension).
//
//   spindle::fiber_local<request_context> ctx;   // usually a global or static
//   ctx->user = "alice";                         // this fiber's instance
//   spindle::spawn([&] { assert(ctx->user.empty()); });  // another fiber: its own
//
// Each fiber's instance is made on its first access (default-constructed, or
// by the init function given to the constructor) and destroyed when that
// fiber's body returns or throws, before the fiber counts as finished (so a
// joiner sees its destructor's effects), in the reverse order of creation. A
// fiber that join() runs inline on the joiner's stack is still a fiber of its
// own here. Outside any fiber each thread has its own instance, destroyed
// when the thread exits.
//
// The fiber_local object itself may be destroyed while fibers still hold
// instances: they are destroyed with their fibers as usual. Access costs a
// short linear search among the locals the fiber has used (no lock, no
// atomic); keep the reference if a loop needs it often. A destructor of an
// instance must not throw.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace spindle {
namespace detail {

// One fiber's (or thread's) fiber_local instances.
class local_values {
 public:
  local_values() = default;
  local_values(const local_values&) = delete;
  local_values& operator=(const local_values&) = delete;
  // Destroys the instances, the newest first.
  ~local_values();

  void* find(std::uint64_t key) const noexcept {
    for (const slot& s : slots_) {
      if (s.key == key) return s.value;
    }
    return nullptr;
  }
  // Takes ownership of `value`, destroyed by destroy(value).
  void insert(std::uint64_t key, void* value, void (*destroy)(void*)) {
    slots_.push_back({key, value, destroy});
  }

 private:
  struct slot {
    std::uint64_t key;
    void* value;
    void (*destroy)(void*);
  };
  std::vector<slot> slots_;
};

// The running fiber's instances (or, outside a fiber, the calling thread's).
local_values& current_local_values();
// A key never handed out before in this process.
std::uint64_t new_local_key() noexcept;

}  // namespace detail

template <class T>
class fiber_local {
 public:
  // Instances are default-constructed.
  fiber_local() : key_(detail::new_local_key()) {}
  // Instances are made by init() (called in the fiber, at its first access).
  explicit fiber_local(std::function<T()> init)
      : key_(detail::new_local_key()), init_(std::move(init)) {}
  fiber_local(const fiber_local&) = delete;
  fiber_local& operator=(const fiber_local&) = delete;

  // This fiber's instance, made now if it has none yet.
  T& get() {
    detail::local_values& values = detail::current_local_values();
    if (void* p = values.find(key_)) return *static_cast<T*>(p);
    auto made = init_ ? std::make_unique<T>(init_()) : std::make_unique<T>();
    values.insert(key_, made.get(), [](void* p) { delete static_cast<T*>(p); });
    return *made.release();
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  const std::uint64_t key_;
  std::function<T()> init_;
};

}  // namespace spindle
