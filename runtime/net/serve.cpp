// net::serve's report of a connection handler's exception (api/spindle/net/serve.hpp).
#include <spindle/net/serve.hpp>

#include <cstdio>

#include "report.hpp"

namespace spindle::detail {

void report_handler_error(std::exception_ptr e) noexcept {
  std::fprintf(stderr, "spindle::net::serve: a connection handler terminated by an exception: %s\n",
               describe_exception(e).c_str());
}

}  // namespace spindle::detail
