// spindle::task_group (api/spindle/cancel.hpp): children that never outlive
// their group.
//
// Lock order, always down the tree: an owner fiber's cancel.lock, then its
// groups' lock_, then their children's cancel.lock, and so on, so a request
// can walk a whole tree of groups without a cycle.
#include <cstdio>
#include <mutex>
#include <spindle/cancel.hpp>
#include <stdexcept>

#include "report.hpp"

namespace spindle {

task_group::task_group() {
  detail::fiber* who = detail::current_identity();
  if (!who) throw std::logic_error("spindle::task_group: created outside a fiber");
  detail::cancel_links& links = detail::links_of(*who);  // may throw: before anything is held
  owner_ = who;
  owner_->refs.fetch_add(1, std::memory_order_relaxed);  // a group may outlive its creator's frame
  deadline_ = links.scopes ? links.scopes->deadline : detail::no_deadline;
  link_.cancel = &cancel_from_owner;
  link_.group = this;
  {
    std::lock_guard<detail::spinlock> g(owner_->cancel.lock);
    link_.next = links.groups;
    if (link_.next) link_.next->prev = &link_;
    links.groups = &link_;
  }
  // A request that came before the link was in place did not see the group.
  if (owner_->cancel.requested.load(std::memory_order_seq_cst)) cancel();
}

task_group::~task_group() {
  cancel();
  wait_for_children();
  {
    std::lock_guard<detail::spinlock> g(owner_->cancel.lock);
    if (link_.prev)
      link_.prev->next = link_.next;
    else
      owner_->cancel_more->groups = link_.next;
    if (link_.next) link_.next->prev = link_.prev;
  }
  owner_->release();
  if (error_) {
    std::fprintf(stderr, "spindle: a task_group was destroyed with an exception no join() collected: %s\n",
                 detail::describe_exception(error_).c_str());
  }
}

void task_group::join() {
  {
    shield s;  // children end promptly once cancelled; the join itself is never cut short
    running_.wait();
  }
  std::exception_ptr error;
  bool cut_short;
  {
    std::lock_guard<detail::spinlock> g(lock_);
    error = std::exchange(error_, nullptr);
    cut_short = std::exchange(cut_short_, false);
  }
  if (error) std::rethrow_exception(error);
  if (cut_short) this_fiber::throw_if_cancelled();
}

void task_group::cancel() noexcept {
  std::lock_guard<detail::spinlock> g(lock_);
  cancelled_ = true;
  for (child* c = children_; c; c = c->next_) detail::request_cancel(*c->fiber_);
}

void task_group::cancel_from_owner(void* group) noexcept {
  static_cast<task_group*>(group)->cancel();
}

void task_group::begin_child() {
  running_.add(1);
}

// The child's last touch of the group: the group may be destroyed as soon as
// the count reaches zero.
void task_group::end_child() noexcept {
  running_.add(-1);
}

void task_group::wait_for_children() noexcept {
  shield s;
  try {
    running_.wait();
  } catch (const detail::fiber_unwind&) {
    // The runtime is shutting down and unwinds this fiber: its next waits are
    // not cancelled again, and the children must still be waited for.
    running_.wait();
  }
}

task_group::child::child(task_group& g) noexcept : group_(g), fiber_(detail::current_fiber()) {
  std::lock_guard<detail::spinlock> lk(g.lock_);
  next_ = g.children_;
  if (next_) next_->prev_ = this;
  g.children_ = this;
  if (g.cancelled_) detail::request_cancel(*fiber_);
}

void task_group::child::enter() {
  if (group_.deadline_ == detail::no_deadline) return;
  scope_.deadline = scope_.own = group_.deadline_;
  detail::links_of(*fiber_).scopes = &scope_;
}

task_group::child::~child() {
  if (fiber_->cancel_more) fiber_->cancel_more->scopes = nullptr;
  {
    std::lock_guard<detail::spinlock> lk(group_.lock_);
    if (prev_)
      prev_->next_ = next_;
    else
      group_.children_ = next_;
    if (next_) next_->prev_ = prev_;
  }
  group_.end_child();
}

void task_group::child::failed(std::exception_ptr e) noexcept {
  bool is_cancel = false;
  try {
    std::rethrow_exception(e);
  } catch (const spindle::cancelled&) {
    is_cancel = true;
  } catch (...) {
  }
  {
    std::lock_guard<detail::spinlock> lk(group_.lock_);
    if (is_cancel) {
      group_.cut_short_ = true;
      return;
    }
    if (group_.error_) return;  // not the first
    group_.error_ = std::move(e);
  }
  group_.cancel();
}

}  // namespace spindle
