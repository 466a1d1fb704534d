#include "thread_start.hpp"

namespace spindle::detail {

std::atomic<void (*)()> thread_start_hook{nullptr};

}  // namespace spindle::detail
