// spindle::channel_closed: what a send on a closed channel throws.
//
// Thrown by send, send_for, send_until, try_send and a chosen on_send case of
// select once the channel is closed (including a send that was blocked when
// close() was called: its value was not delivered). Receiving never throws it:
// a receive on a closed, drained channel returns std::nullopt.
#pragma once

#include <stdexcept>

namespace spindle {

class channel_closed : public std::logic_error {
 public:
  channel_closed() : std::logic_error("spindle::channel: send on a closed channel") {}
};

}  // namespace spindle
