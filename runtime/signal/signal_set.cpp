// spindle::signal_set (api/spindle/signal_set.hpp): what the set itself does;
// catching and dispatching are the hub's (signal_hub.hpp, signal_pipe.hpp).
#include <signal.h>

#include <bit>
#include <spindle/select.hpp>
#include <spindle/signal_set.hpp>
#include <stdexcept>
#include <string>

#include "signal/signal_hub.hpp"

namespace spindle {
namespace {

// The header's masks hold signals 1 to 64.
static_assert(NSIG - 1 <= 64, "spindle::signal_set keeps signals in a 64-bit mask");

// Why a signal cannot be waited for, or null if it can.
const char* refusal(int signo) {
  switch (signo) {
    case SIGKILL:
      return "SIGKILL cannot be caught";
    case SIGSTOP:
      return "SIGSTOP cannot be caught";
    // A handler that returns from a synchronous fault resumes the faulting
    // instruction, which faults again: these are no events to wait for.
    case SIGSEGV:
      return "SIGSEGV is a synchronous fault signal and cannot be waited for";
    case SIGBUS:
      return "SIGBUS is a synchronous fault signal and cannot be waited for";
    case SIGFPE:
      return "SIGFPE is a synchronous fault signal and cannot be waited for";
    case SIGILL:
      return "SIGILL is a synchronous fault signal and cannot be waited for";
    default:
      return nullptr;
  }
}

}  // namespace

std::uint64_t signal_set::checked_mask(std::span<const int> signals) {
  if (signals.empty()) throw std::invalid_argument("spindle::signal_set: no signals given");
  std::uint64_t mask = 0;
  for (const int signo : signals) {
    if (signo < 1 || signo >= NSIG) {
      throw std::invalid_argument("spindle::signal_set: " + std::to_string(signo) +
                                  " is not a signal number (1 to " + std::to_string(NSIG - 1) +
                                  ")");
    }
    if (const char* why = refusal(signo)) {
      throw std::invalid_argument(std::string("spindle::signal_set: ") + why);
    }
    mask |= bit(signo);
  }
  return mask;
}

signal_set::signal_set(std::initializer_list<int> signals)
    : signal_set(std::span<const int>(signals.begin(), signals.size())) {}

signal_set::signal_set(std::span<const int> signals)
    : listens_(checked_mask(signals)), ready_(std::popcount(listens_)) {
  detail::chan_access::state(ready_).recv_kind = detail::wait_kind::signal;
  detail::signal_hub::attach(*this);
}

signal_set::~signal_set() {
  detail::signal_hub::detach(*this);
}

void signal_set::deliver(int signo) noexcept {
  if (pending_.fetch_or(bit(signo), std::memory_order_acq_rel) & bit(signo)) return;  // coalesced
  // Cannot fail: one entry per pending signal, and room for every signal.
  [[maybe_unused]] const bool sent = ready_.try_send(signo);
}

}  // namespace spindle
