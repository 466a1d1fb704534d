// Helpers shared by the network test suites: descriptor limits, byte
// patterns, an echo server, child processes, exact-error checks.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <span>
#include <spindle/cancelled.hpp>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace spindle::test {

// Raises the soft descriptor limit to the hard one; returns the soft limit.
inline rlim_t raise_fd_limit() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit want = lim;
    want.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) return want.rlim_cur;
  }
  return lim.rlim_cur;
}

// Byte `i` of message `m` on connection `c`: differs per connection,
// message and position, so a byte delivered to the wrong place shows.
inline std::byte pattern(std::size_t c, std::size_t m, std::size_t i) {
  return static_cast<std::byte>((c * 131 + m * 31 + i * 7 + (i >> 8)) & 0xff);
}

inline std::vector<std::byte> pattern_message(std::size_t c, std::size_t m, std::size_t size) {
  std::vector<std::byte> v(size);
  for (std::size_t i = 0; i < size; ++i) v[i] = pattern(c, m, i);
  return v;
}

// Echoes until end of stream (or a connection error), then closes.
inline void echo_connection(net::tcp_stream s) {
  std::byte buf[16 * 1024];
  try {
    for (;;) {
      const std::size_t n = s.read_some(buf);
      if (n == 0) return;
      s.write_all(std::span<const std::byte>(buf, n));
    }
  } catch (const std::system_error&) {
    // the peer reset or the test closed the stream: this connection is done
  }
}

// Accepts until the listener is closed, one echoing fiber per connection.
// Run it in a fiber of its own; close the listener to stop it.
inline void echo_server(net::tcp_listener& lst) {
  for (;;) {
    net::tcp_stream s;
    try {
      s = lst.accept();
    } catch (const std::system_error&) {
      return;  // closed
    }
    spindle::spawn(echo_connection, std::move(s)).detach();
  }
}

inline net::endpoint loopback_any_port() {
  return net::endpoint::parse("127.0.0.1:0");
}

// True when the process runs no thread but the calling one (and, under
// ThreadSanitizer, its background thread, which it starts with the first
// other thread and which fork() handles): fork() is then safe, and the child
// may start a runtime of its own.
inline bool single_threaded() {
  DIR* d = opendir("/proc/self/task");
  if (!d) return true;  // not Linux: trust the caller
  int n = 0;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
#if defined(__SANITIZE_THREAD__)
  return n <= 2;
#else
  return n == 1;
#endif
}

// Runs f() in a child process, which exits with f's result (2 if it throws).
template <class F>
pid_t fork_child(F f) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 2;
    try {
      code = f();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    std::fflush(nullptr);
    _exit(code);
  }
  return pid;
}

// The child's exit code, or -1 if it had to be killed after `limit` or died
// of a signal.
inline int wait_child(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

inline std::string as_string(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Expects f() to throw std::system_error with code `e` (a generic_category
// errno code, as every socket call throws).
template <class F>
void expect_errc(F f, std::errc e) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected " << std::make_error_code(e).message();
  } catch (const std::system_error& err) {
    EXPECT_EQ(err.code(), e) << err.what();
    EXPECT_EQ(err.code().category(), std::generic_category());
  }
}

// Runs blocking_call() in a new fiber, cancels that fiber once it has (most
// likely) blocked, and returns whether the call threw spindle::cancelled.
// Call it in a fiber.
template <class F>
bool cancelled_while_blocked(F blocking_call) {
  auto t = spindle::spawn([blocking_call]() mutable {
    try {
      blocking_call();
    } catch (const spindle::cancelled&) {
      return true;
    }
    return false;
  });
  spindle::this_fiber::sleep_for(std::chrono::milliseconds(20));  // either way it must throw
  t.cancel();
  return t.join();
}

}  // namespace spindle::test
