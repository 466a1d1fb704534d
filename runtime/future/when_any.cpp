// when_any over type-erased shared states (see api/spindle/when_any.hpp).
#include <atomic>
#include <cstddef>
#include <memory>
#include <spindle/when_any.hpp>
#include <utility>
#include <vector>

namespace spindle::detail {
namespace {

class when_any_state {
 public:
  static constexpr std::size_t no_index = static_cast<std::size_t>(-1);

  static future<std::size_t> start(std::vector<std::shared_ptr<future_state_base>> states) {
    auto* self = new when_any_state(states.size());
    future<std::size_t> out = self->out_.get_future();
    for (std::size_t i = 0; i < states.size(); ++i) {
      self->inputs_[i].owner = self;
      self->inputs_[i].index = i;
      self->inputs_[i].state = std::move(states[i]);
    }
    for (input& in : self->inputs_) {
      if (!in.state->attach(in)) self->arrived(in.index);
    }
    self->arrived(no_index);  // start's own count; decides no_index for an empty vector
    return out;
  }

 private:
  struct input final : future_continuation {
    when_any_state* owner = nullptr;
    std::size_t index = 0;
    std::shared_ptr<future_state_base> state;
    void on_ready() noexcept override { owner->arrived(index); }
  };

  explicit when_any_state(std::size_t n) : inputs_(n), pending_(n + 1) {}

  // The first arrival decides the result; the last frees the state.
  void arrived(std::size_t index) noexcept {
    if ((index != no_index || inputs_.empty()) &&
        !decided_.exchange(true, std::memory_order_acq_rel)) {
      out_.set_value(index);
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  std::vector<input> inputs_;         // fixed size: continuations point into it
  std::atomic<std::size_t> pending_;  // inputs not yet arrived, + 1 during start
  std::atomic<bool> decided_{false};
  promise<std::size_t> out_;
};

}  // namespace

future<std::size_t> when_any_of(std::vector<std::shared_ptr<future_state_base>> states) {
  return when_any_state::start(std::move(states));
}

}  // namespace spindle::detail
