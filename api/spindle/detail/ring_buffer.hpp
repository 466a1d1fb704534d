// ring_buffer: the fixed-capacity FIFO holding a bounded channel's values.
//
// Allocated once, with the channel; slots are raw storage, so T needs no
// default constructor and a slot holds a live T exactly while it is between
// head_ and head_ + size_ (mod capacity). Not thread-safe: the channel's
// spinlock guards every call; T's move constructor must not throw (see
// chan_state for why).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

namespace spindle::detail {

template <class T>
class ring_buffer {
 public:
  explicit ring_buffer(std::size_t capacity)
      : slots_(capacity ? std::allocator<T>().allocate(capacity) : nullptr), capacity_(capacity) {}
  ring_buffer(const ring_buffer&) = delete;
  ring_buffer& operator=(const ring_buffer&) = delete;
  ~ring_buffer() {
    for (; size_ > 0; --size_, head_ = wrap(head_ + 1)) std::destroy_at(slots_ + head_);
    if (slots_) std::allocator<T>().deallocate(slots_, capacity_);
  }

  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == capacity_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }

  // Requires !full().
  void push(T&& v) noexcept {
    std::construct_at(slots_ + wrap(head_ + size_), std::move(v));
    ++size_;
  }

  // Requires !empty(). Moves the oldest value into out.
  void pop_into(std::optional<T>& out) noexcept {
    T* slot = slots_ + head_;
    out.emplace(std::move(*slot));
    std::destroy_at(slot);
    head_ = wrap(head_ + 1);
    --size_;
  }

 private:
  // i < 2 * capacity_ always, so one subtraction replaces a division.
  std::size_t wrap(std::size_t i) const noexcept { return i >= capacity_ ? i - capacity_ : i; }

  T* slots_;
  std::size_t capacity_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace spindle::detail
