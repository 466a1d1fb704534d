// epoll_reactor: the Linux backend. Each descriptor is registered once,
// edge-triggered, for both directions (EPOLLIN | EPOLLOUT | EPOLLRDHUP), so a
// wait costs no epoll_ctl; an eventfd interrupts a blocked poll.
//
// Deadlines use epoll_pwait2 (Linux >= 5.11, nanosecond timeout), falling back
// to epoll_wait with the timeout rounded *up* to whole milliseconds: a timer
// must never fire early.
#include "io/reactor.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <system_error>

namespace spindle::detail {
namespace {

class epoll_reactor final : public reactor {
 public:
  epoll_reactor() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    evfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (evfd_ < 0) {
      int e = errno;
      ::close(epfd_);
      throw std::system_error(e, std::generic_category(), "eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.ptr = nullptr;  // null marks the eventfd
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
  }
  ~epoll_reactor() override {
    ::close(evfd_);
    ::close(epfd_);
  }

  int poll(clock::time_point deadline, int max_events) override {
    epoll_event events[max_poll_events];
    int n = wait_events(events, std::clamp(max_events, 1, max_poll_events), deadline);
    if (n > 0) acquire_attachments();
    for (int i = 0; i < n; ++i) {
      auto* h = static_cast<io_handle*>(events[i].data.ptr);
      if (!h) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(evfd_, &count, sizeof count);
        continue;
      }
      const std::uint32_t e = events[i].events;
      const bool read_final = e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
      const bool write_final = e & (EPOLLHUP | EPOLLERR);
      if (read_final || (e & EPOLLIN)) h->signal(io_dir::read, read_final);
      if (write_final || (e & EPOLLOUT)) h->signal(io_dir::write, write_final);
    }
    return n < 0 ? 0 : n;
  }

  // Always writes: skipping the write while "a wake is pending" loses a wake
  // that lands between the poller's reset of that flag and its read.
  void wake() noexcept override {
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(evfd_, &one, sizeof one);
  }
  int descriptor() const noexcept override { return epfd_; }

 protected:
  void add_fd(int fd, io_handle* h) override {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = h;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0)
      throw std::system_error(errno, std::generic_category(), "epoll_ctl(EPOLL_CTL_ADD)");
  }
  void remove_fd(int fd) noexcept override { ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

 private:
  int wait_events(epoll_event* events, int max_events, clock::time_point deadline) {
    for (;;) {
      int n;
      if (deadline == no_deadline) {
        n = ::epoll_wait(epfd_, events, max_events, -1);
      } else {
        auto left = deadline - clock::now();
        if (left < clock::duration::zero()) left = clock::duration::zero();
        if (have_pwait2_) {
          auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
          timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
          n = ::epoll_pwait2(epfd_, events, max_events, &ts, nullptr);
          if (n < 0 && errno == ENOSYS) {
            have_pwait2_ = false;
            continue;
          }
        } else {
          n = ::epoll_wait(epfd_, events, max_events, timeout_ms(left));
        }
      }
      if (n >= 0 || errno != EINTR) return n;
    }
  }

  int epfd_ = -1;
  int evfd_ = -1;
  bool have_pwait2_ = true;  // only the driver polls with a deadline: one thread at a time
};

}  // namespace

std::unique_ptr<reactor> reactor::create() { return std::make_unique<epoll_reactor>(); }

}  // namespace spindle::detail
