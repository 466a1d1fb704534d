#include "sched/thread_start.hpp"

#include <pthread.h>

#include <cstddef>

namespace spindle::detail {

void name_this_thread(const char* name) noexcept {
#if defined(__APPLE__)
  pthread_setname_np(name);
#elif defined(__linux__) || defined(__FreeBSD__)
  char shortened[16] = {};
  for (std::size_t i = 0; i < 15 && name[i]; ++i) shortened[i] = name[i];
  pthread_setname_np(pthread_self(), shortened);
#else
  (void)name;
#endif
}

std::atomic<void (*)()> thread_start_hook{nullptr};

}  // namespace spindle::detail
