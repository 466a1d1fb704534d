// fiber_name: a fiber's name, stored in its control block.
//
// Names up to `inline_capacity` bytes live in place (no allocation: most
// names are "conn 42" or "worker 3"); longer ones take one heap block. An
// empty name is the default and costs nothing.
//
// Thread safety: written by the fiber itself (this_fiber::set_name), or by
// spawn before the fiber is published; read by the fiber and by the dump.
// The fiber's writes and the dump's reads both happen under the lock of the
// fiber's registry shard (runtime/observe/fiber_registry.hpp), so a reader
// never sees half a name.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>
#include <utility>

namespace spindle::detail {

class fiber_name {
 public:
  static constexpr std::size_t inline_capacity = 24;

  fiber_name() noexcept = default;
  fiber_name(const fiber_name&) = delete;
  fiber_name& operator=(const fiber_name&) = delete;
  ~fiber_name() { release(); }

  // Throws std::bad_alloc for a long name without memory; the name is then
  // unchanged.
  void assign(std::string_view s) {
    char* heap = nullptr;
    if (s.size() > inline_capacity) {
      heap = new char[s.size()];
      std::memcpy(heap, s.data(), s.size());
    }
    release();
    size_ = s.size();
    if (heap) {
      std::memcpy(inline_, &heap, sizeof heap);
    } else if (!s.empty()) {
      std::memcpy(inline_, s.data(), s.size());
    }
  }

  std::string_view view() const noexcept {
    if (size_ <= inline_capacity) return {inline_, size_};
    const char* heap;
    std::memcpy(&heap, inline_, sizeof heap);
    return {heap, size_};
  }
  bool empty() const noexcept { return size_ == 0; }

  void swap(fiber_name& other) noexcept {
    char bytes[inline_capacity];
    std::memcpy(bytes, inline_, inline_capacity);
    std::memcpy(inline_, other.inline_, inline_capacity);
    std::memcpy(other.inline_, bytes, inline_capacity);
    std::swap(size_, other.size_);
  }

 private:
  void release() noexcept {
    if (size_ > inline_capacity) {
      char* heap;
      std::memcpy(&heap, inline_, sizeof heap);
      delete[] heap;
    }
    size_ = 0;
  }

  // The bytes, or (for a long name) a pointer to them.
  char inline_[inline_capacity] = {};
  std::size_t size_ = 0;
};

}  // namespace spindle::detail
