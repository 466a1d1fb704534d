#include "observe/runtime_list.hpp"

#include <mutex>

namespace spindle::detail {
namespace {

std::mutex& list_lock() {
  static std::mutex m;
  return m;
}

}  // namespace

runtime_list_entry* all_runtimes = nullptr;

runtime_list_entry::runtime_list_entry(runtime_core& r) : rt(&r) {
  std::lock_guard<std::mutex> g(list_lock());
  next = all_runtimes;
  if (next) next->prev = this;
  all_runtimes = this;
}

runtime_list_entry::~runtime_list_entry() {
  std::lock_guard<std::mutex> g(list_lock());
  if (prev)
    prev->next = next;
  else
    all_runtimes = next;
  if (next) next->prev = prev;
}

}  // namespace spindle::detail
