// runtime::start_trace / stop_trace: the public halves of trace_session.
#include <spindle/runtime.hpp>

#include "sched/runtime_core.hpp"

namespace spindle {

void runtime::start_trace(const std::string& path) {
  core_->trace().start(*core_, path);
}

void runtime::stop_trace() {
  core_->trace().stop(*core_);
}

}  // namespace spindle
