// kqueue_reactor: the macOS and BSD backend. Each descriptor is registered
// once for both directions (EVFILT_READ and EVFILT_WRITE with EV_CLEAR:
// edge-triggered, as the epoll backend), so a wait costs no kevent change;
// an EVFILT_USER event interrupts a blocked poll.
//
// kevent takes a timespec, so a deadline passes with nanosecond precision,
// as epoll_pwait2 does on Linux. Compile-checked on Linux against
// tests/kqueue_compile/sys/event.h (see tests/kqueue_compile/check.sh).
#include <fcntl.h>
#include <sys/event.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <system_error>

#include "io/reactor.hpp"

namespace spindle::detail {
namespace {

// The EVFILT_USER event of wake(); its identifiers are apart from descriptors.
constexpr std::uintptr_t wake_ident = 0;

struct kevent make_event(std::uintptr_t ident, short filter, unsigned short flags,
                         unsigned int fflags, void* udata) {
  struct kevent ev {};
  ev.ident = ident;
  ev.filter = filter;
  ev.flags = flags;
  ev.fflags = fflags;
  ev.udata = udata;
  return ev;
}

class kqueue_reactor final : public reactor {
 public:
  kqueue_reactor() {
    kq_ = ::kqueue();
    if (kq_ < 0) throw std::system_error(errno, std::generic_category(), "kqueue");
    const struct kevent wake_event =
        make_event(wake_ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0, nullptr);
    if (::fcntl(kq_, F_SETFD, FD_CLOEXEC) < 0 ||
        ::kevent(kq_, &wake_event, 1, nullptr, 0, nullptr) < 0) {
      int e = errno;
      ::close(kq_);
      throw std::system_error(e, std::generic_category(), "kqueue setup");
    }
  }
  ~kqueue_reactor() override { ::close(kq_); }

  int poll(clock::time_point deadline, int max_events) override {
    struct kevent events[max_poll_events];
    int n = wait_events(events, std::clamp(max_events, 1, max_poll_events), deadline);
    if (n > 0) acquire_attachments();
    for (int i = 0; i < n; ++i) {
      if (events[i].filter == EVFILT_USER) continue;  // a wake(); EV_CLEAR has reset it
      auto* h = static_cast<io_handle*>(events[i].udata);
      // EV_EOF (end of stream, or an error in fflags) is readiness for good:
      // every later system call reports it (see reactor.hpp on hang-ups).
      h->signal(events[i].filter == EVFILT_READ ? io_dir::read : io_dir::write,
                (events[i].flags & EV_EOF) != 0);
    }
    return n < 0 ? 0 : n;
  }

  void wake() noexcept override {
    const struct kevent trigger = make_event(wake_ident, EVFILT_USER, 0, NOTE_TRIGGER, nullptr);
    ::kevent(kq_, &trigger, 1, nullptr, 0, nullptr);
  }
  int descriptor() const noexcept override { return kq_; }

 protected:
  // EV_RECEIPT reports each change on its own (EV_ERROR, data = errno or 0).
  // A descriptor open in one direction only may refuse the other filter;
  // nobody waits for that direction, so only both failing is an error.
  void add_fd(int fd, io_handle* h) override {
    const auto ident = static_cast<std::uintptr_t>(fd);
    const unsigned short flags = EV_ADD | EV_CLEAR | EV_RECEIPT;
    const struct kevent changes[2] = {make_event(ident, EVFILT_READ, flags, 0, h),
                                      make_event(ident, EVFILT_WRITE, flags, 0, h)};
    struct kevent receipts[2];
    int n = ::kevent(kq_, changes, 2, receipts, 2, nullptr);
    if (n < 0) throw std::system_error(errno, std::generic_category(), "kevent(EV_ADD)");
    int failed = 0;
    int error = 0;
    for (int i = 0; i < n; ++i) {
      if ((receipts[i].flags & EV_ERROR) && receipts[i].data != 0) {
        ++failed;
        error = static_cast<int>(receipts[i].data);
      }
    }
    if (failed == 2) throw std::system_error(error, std::generic_category(), "kevent(EV_ADD)");
  }
  void remove_fd(int fd) noexcept override {
    const auto ident = static_cast<std::uintptr_t>(fd);
    const struct kevent changes[2] = {
        make_event(ident, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, nullptr),
        make_event(ident, EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, nullptr)};
    struct kevent receipts[2];
    ::kevent(kq_, changes, 2, receipts, 2, nullptr);
  }

 private:
  int wait_events(struct kevent* events, int max_events, clock::time_point deadline) {
    for (;;) {
      timespec ts{};
      const timespec* timeout = nullptr;
      if (deadline != no_deadline) {
        auto left = deadline - clock::now();
        if (left < clock::duration::zero()) left = clock::duration::zero();
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        ts = timespec{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
        timeout = &ts;
      }
      int n = ::kevent(kq_, nullptr, 0, events, max_events, timeout);
      if (n >= 0 || errno != EINTR) return n;
    }
  }

  int kq_ = -1;
};

}  // namespace

std::unique_ptr<reactor> reactor::create() {
  return std::make_unique<kqueue_reactor>();
}

}  // namespace spindle::detail
