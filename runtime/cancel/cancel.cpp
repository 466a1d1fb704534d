// Cancellation requests, shields and deadline scopes (api/spindle/cancel.hpp;
// the protocol is in api/spindle/detail/cancel_state.hpp).
#include <algorithm>
#include <mutex>
#include <spindle/cancel.hpp>
#include <stdexcept>

#include "fiber/fiber_switch.hpp"

namespace spindle {

cancelled::cancelled() : cancelled("spindle: the fiber was cancelled") {}

cancelled::cancelled(const char* what)
    : std::system_error(std::make_error_code(std::errc::operation_canceled), what) {}

namespace detail {

// What the waits throw, composed once and thrown as copies. Constructing a
// std::system_error asks its category for the message (strerror, which takes
// the locale's lock) and allocates the joined string; a copy shares that
// string (libstdc++'s exceptions keep it reference-counted).
const spindle::cancelled& cancelled_for(wake why) {
  static const spindle::cancelled by_request;
  static const spindle::cancelled by_deadline(
      "spindle: the deadline of an enclosing with_timeout/with_deadline passed");
  return why == wake::expired ? by_deadline : by_request;
}

cancel_links& links_of(fiber& f) {
  if (!f.cancel_more) {
    auto* links = new cancel_links;
    std::lock_guard<spinlock> g(f.cancel.lock);
    f.cancel_more = links;
  }
  return *f.cancel_more;
}

void leave_host(fiber& f) noexcept {
  cancel_links* links = f.cancel_more;
  if (!links || !links->parked_host.load(std::memory_order_relaxed)) return;
  links->parked_host.store(nullptr, std::memory_order_seq_cst);
  // A canceller that read the old joiner is done with it once we get the lock.
  std::lock_guard<spinlock> g(f.cancel.lock);
}

void request_cancel(fiber& f) noexcept {
  f.cancel.requested.store(true, std::memory_order_seq_cst);
  wake_cancelled(&f);
  std::lock_guard<spinlock> g(f.cancel.lock);
  if (cancel_links* links = f.cancel_more) {
    if (fiber* host = links->parked_host.load(std::memory_order_seq_cst)) wake_cancelled(host);
    for (group_link* l = links->groups; l; l = l->next) l->cancel(l->group);
  }
}

scope_guard::scope_guard(clock::time_point deadline) {
  fiber* who = current_identity();
  if (!who) throw std::logic_error("spindle::with_timeout/with_deadline called outside a fiber");
  state_ = &who->cancel;
  rt_ = who->sched.rt;
  links_ = &links_of(*who);
  scope_.own = deadline;
  scope_.outer = links_->scopes;
  scope_.deadline = scope_.outer ? std::min(scope_.outer->deadline, deadline) : deadline;
  links_->scopes = &scope_;
}

scope_guard::~scope_guard() {
  links_->scopes = scope_.outer;
}

bool scope_guard::expired_here() const noexcept {
  // A request, or runtime::shutdown: not ours to swallow.
  if (state_->requested.load(std::memory_order_relaxed) || rt_->cancelling_all()) return false;
  // An enclosing scope that ran out no later than ours is the one to end.
  if (scope_.outer && scope_.outer->deadline <= scope_.own) return false;
  return clock::now() >= scope_.own;
}

}  // namespace detail

shield::shield() noexcept {
  detail::fiber* who = detail::current_identity();
  state_ = who ? &who->cancel : nullptr;
  if (state_) ++state_->shield_depth;
}

shield::~shield() {
  if (state_) --state_->shield_depth;
}

namespace this_fiber {

bool cancelled() noexcept {
  detail::fiber* who = detail::current_identity();
  if (!who) return false;
  if (who->cancel.shield_depth) return false;
  if (detail::cancel_reaches(*who) || who->sched.rt->cancelling_all()) return true;
  const detail::clock::time_point deadline = detail::reaching_deadline(*who);
  return deadline != detail::no_deadline && detail::clock::now() >= deadline;
}

void throw_if_cancelled() {
  if (cancelled()) detail::throw_cancelled(detail::wake::interrupted);
}

}  // namespace this_fiber
}  // namespace spindle
