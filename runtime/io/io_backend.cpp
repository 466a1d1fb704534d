// Choosing the IO backend; see io_backend.hpp.
#include "io/io_backend.hpp"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "io/uring/io_ring.hpp"
#include "sched/worker.hpp"

namespace spindle::detail {
namespace {

#ifdef __linux__
constexpr io_backend readiness_backend = io_backend::epoll;
#else
constexpr io_backend readiness_backend = io_backend::kqueue;
#endif

// SPINDLE_IO as a backend, or automatic when it is not set.
io_backend from_environment() {
  const char* v = std::getenv("SPINDLE_IO");
  if (!v || !*v) return io_backend::automatic;
  const std::string_view name(v);
  if (name == "epoll") return io_backend::epoll;
  if (name == "io_uring" || name == "uring") return io_backend::io_uring;
  if (name == "kqueue") return io_backend::kqueue;
  throw std::invalid_argument("spindle: SPINDLE_IO=" + std::string(name) +
                              " is not a backend (epoll, io_uring or kqueue)");
}

[[noreturn]] void refuse_io_uring(const char* why) {
  throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                          std::string("spindle::options::io: io_uring ") + why);
}

}  // namespace

io_backend pick_io_backend(io_backend asked) {
  if (asked == io_backend::automatic) {
    // SPINDLE_IO=io_uring, like no choice at all, falls back where it is refused.
    const io_backend env = from_environment();
    if (env == io_backend::automatic || env == io_backend::io_uring)
      return io_ring::supported() ? io_backend::io_uring : readiness_backend;
    asked = env;
  }
  if (asked == io_backend::io_uring) {
    if (!io_ring::supported())
      refuse_io_uring("is not offered here (not Linux, spindle built without liburing, a kernel "
                      "before 5.19, or disabled by sysctl or seccomp)");
    return asked;
  }
  if (asked != readiness_backend)
    throw std::invalid_argument(
        std::string("spindle::options::io: ") +
        (asked == io_backend::epoll ? "epoll is Linux only" : "kqueue is for macOS and the BSDs"));
  return asked;
}

io_backend start_rings(io_backend backend, io_backend asked,
                       const std::vector<std::unique_ptr<worker>>& workers, int reactor_fd) {
  if (backend != io_backend::io_uring) return backend;
  std::vector<std::unique_ptr<io_ring>> rings;
  for (const auto& w : workers) {
    rings.push_back(io_ring::create(*w, reactor_fd));
    if (!rings.back()) {
      if (asked == io_backend::io_uring) refuse_io_uring("rings could not be made (memory)");
      return readiness_backend;
    }
  }
  for (std::size_t i = 0; i < workers.size(); ++i) workers[i]->use_ring(std::move(rings[i]));
  return backend;
}

}  // namespace spindle::detail
