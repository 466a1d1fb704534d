// errors: errno, read afresh and thrown as std::system_error.
#include "io/errors.hpp"

#include <cerrno>
#include <system_error>

namespace spindle::detail {

int last_error() noexcept {
  return errno;
}

void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

}  // namespace spindle::detail
