#include "observe/dump_on_signal.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "observe/dump.hpp"
#include "sched/thread_start.hpp"

namespace spindle::detail {

dump_on_signal::dump_on_signal(runtime_core& rt, int signo) : rt_(rt), set_{signo} {
  thread_ = start_thread([this] { run(); });
}

dump_on_signal::~dump_on_signal() {
  set_.ready_.close();
  thread_.join();
}

void dump_on_signal::run() {
  name_this_thread("spindle-dump");
  while (std::optional<int> signo = set_.ready_.recv()) {
    set_.taken(*signo);
    std::string text;
    try {
      text = format_dump(rt_);
    } catch (const std::bad_alloc&) {
      text = "spindle: no memory for the dump\n";
    }
    const char* p = text.data();
    std::size_t left = text.size();
    while (left) {
      const ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
}

}  // namespace spindle::detail
