// resolve: numeric addresses at once, names through getaddrinfo on the
// blocking pool.
#include <netdb.h>

#include <cerrno>
#include <memory>
#include <spindle/cancel.hpp>
#include <spindle/net/resolve.hpp>
#include <spindle/runtime.hpp>
#include <string>
#include <utility>

namespace spindle::net {

namespace {

class resolver_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "spindle.resolver"; }
  std::string message(int ev) const override { return gai_strerror(ev); }
};

// getaddrinfo into `out`; returns its result code (errno holds the error for
// EAI_SYSTEM). With AI_NUMERICHOST it never blocks.
int lookup(const std::string& host, std::uint16_t port, int flags, std::vector<endpoint>& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  // SOCK_STREAM: one entry per address instead of one per socket type. No
  // AI_ADDRCONFIG: on a host whose only addresses are loopback ones it
  // would hide "localhost".
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
  if (rc != 0) return rc;
  const std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(list, ::freeaddrinfo);
  for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
      out.push_back(endpoint::from_sockaddr(ai->ai_addr, ai->ai_addrlen));
    }
  }
  return out.empty() ? EAI_NONAME : 0;
}

}  // namespace

const std::error_category& resolver_category() noexcept {
  static const resolver_error_category category;
  return category;
}

std::vector<endpoint> resolve(std::string_view host, std::uint16_t port) {
  return detail::resolve_until(host, port, detail::no_deadline);
}

}  // namespace spindle::net

std::vector<spindle::net::endpoint> spindle::detail::resolve_until(std::string_view host,
                                                                   std::uint16_t port,
                                                                   clock::time_point deadline) {
  using namespace spindle::net;
  std::string name(host);
  std::vector<endpoint> numeric;
  if (lookup(name, port, AI_NUMERICHOST, numeric) == 0) return numeric;
  std::string what = "spindle::net::resolve \"";
  what.append(name).append("\"");
  // A name: the lookup may block for seconds (DNS), so it runs on the
  // blocking pool; errno is read on the thread that set it. The call owns
  // everything it touches: a fiber cancelled or out of time stops waiting
  // and its frame goes, while the lookup runs on (run_blocking).
  struct answer {
    int rc = 0;
    int err = 0;
    std::vector<endpoint> endpoints;
  };
  auto call = [name = std::move(name), port] {
    answer a;
    a.rc = lookup(name, port, 0, a.endpoints);
    a.err = errno;
    return a;
  };
  answer a;
  if (deadline == detail::no_deadline || !spindle::in_fiber()) {
    a = spindle::run_blocking(std::move(call));
  } else {
    std::optional<answer> got =
        spindle::with_deadline(deadline, [&] { return spindle::run_blocking(std::move(call)); });
    if (!got) throw std::system_error(std::make_error_code(std::errc::timed_out), what);
    a = std::move(*got);
  }
  if (a.rc == 0) return std::move(a.endpoints);
  if (a.rc == EAI_SYSTEM) throw std::system_error(a.err, std::generic_category(), what);
  throw std::system_error(a.rc, resolver_category(), what);
}
