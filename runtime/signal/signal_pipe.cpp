#include "signal/signal_pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

namespace spindle::detail {
namespace {

// The handler's state. Lock-free atomics only: they are what a handler may
// touch. Sequentially consistent on purpose (see ~signal_pipe).
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

// The write end, or -1 while no pipe exists. Written by the pipe's owner.
std::atomic<int> handler_fd{-1};
// Handlers between loading handler_fd and their write(2).
std::atomic<int> handlers_writing{0};
// raised[s]: a byte for signal s is in the pipe, unread. Set by the handler,
// cleared by next() when it reads that byte, and reset when a pipe opens.
std::atomic<bool> raised[NSIG];

// The stop byte: no signal has the number 0.
constexpr unsigned char stop_byte = 0;

extern "C" void on_signal(int signo) {
  const int saved_errno = errno;
  handlers_writing.fetch_add(1);
  const int fd = handler_fd.load();
  if (fd >= 0 && !raised[signo].exchange(true)) {
    const auto byte = static_cast<unsigned char>(signo);
    // Cannot fail for a full pipe: it holds at most one byte per signal.
    [[maybe_unused]] const auto n = ::write(fd, &byte, 1);
  }
  handlers_writing.fetch_sub(1);
  errno = saved_errno;
}

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

signal_pipe::signal_pipe() {
  int fds[2];
  if (::pipe(fds) != 0) throw_errno("spindle::signal_set: pipe");
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  // pipe2 is not on every system; nobody else knows these descriptors yet.
  ::fcntl(read_fd_, F_SETFD, FD_CLOEXEC);
  ::fcntl(write_fd_, F_SETFD, FD_CLOEXEC);
  ::fcntl(write_fd_, F_SETFL, ::fcntl(write_fd_, F_GETFL) | O_NONBLOCK);
  // Flags left set by bytes the previous pipe took with it; no handler writes
  // while handler_fd is -1.
  for (auto& r : raised) r.store(false);
  handler_fd.store(write_fd_);
}

signal_pipe::~signal_pipe() {
  // A handler that loaded the old descriptor incremented handlers_writing
  // first; in the single total order of these seq_cst operations that
  // increment precedes the store of -1 and hence the loads below, which so
  // wait for its write to end. A handler that starts later sees -1.
  handler_fd.store(-1);
  while (handlers_writing.load() != 0) std::this_thread::yield();
  ::close(read_fd_);
  ::close(write_fd_);
}

void signal_pipe::catch_signal(int signo, struct sigaction& previous) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (::sigaction(signo, &sa, &previous) == 0) return;
  if (errno == EINVAL) {
    throw std::invalid_argument("spindle::signal_set: signal " + std::to_string(signo) +
                                " cannot be caught on this system");
  }
  throw_errno("spindle::signal_set: sigaction");
}

void signal_pipe::restore(int signo, const struct sigaction& previous) noexcept {
  ::sigaction(signo, &previous, nullptr);
}

int signal_pipe::next() noexcept {
  for (;;) {
    unsigned char byte;
    const auto n = ::read(read_fd_, &byte, 1);
    if (n == 1) {
      // Cleared before the signal is handed on: an occurrence from now on
      // writes a byte of its own.
      if (byte != stop_byte) raised[byte].store(false);
      return byte;
    }
    if (n < 0 && errno == EINTR) continue;
    // The pipe is ours and open until the hub thread has ended: unreachable
    // unless the process closed a descriptor it does not own.
    const std::string why =
        n < 0 ? std::generic_category().message(errno) : std::string("end of file");
    std::fprintf(stderr,
                 "spindle: the signal_set pipe failed (%s); signals are no longer delivered\n",
                 why.c_str());
    return stop_byte;
  }
}

void signal_pipe::stop() noexcept {
  [[maybe_unused]] const auto n = ::write(write_fd_, &stop_byte, 1);
}

}  // namespace spindle::detail
