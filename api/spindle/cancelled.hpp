// spindle::cancelled: what a wait throws in a cancelled fiber, or when the
// deadline of an enclosing with_timeout/with_deadline has passed (see
// spindle/cancel.hpp). A std::system_error with errc::operation_canceled, so
// `catch (const std::system_error&)` sees it too; the error_code forms of the
// socket calls let it pass rather than turning it into an error code.
#pragma once

#include <system_error>

namespace spindle {

struct cancelled : std::system_error {
  cancelled();
  explicit cancelled(const char* what);
};

}  // namespace spindle
