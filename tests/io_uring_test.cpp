// The IO backends (options::io): how one is chosen, and the edges of the
// io_uring backend, where a read or write is with the kernel while its fiber
// waits: cancelled, timed out, closed, more of them than the ring holds, a
// runtime destroyed with them in flight. Every network suite also runs once
// per backend (tests/CMakeLists.txt: the "epoll." copies).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <spindle/spindle.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "net_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::io_backend;
using spindle::net::unix_stream;
using spindle::test::scaled;

namespace {

// Makes `rt` a runtime on the io_uring backend; false (the caller skips the
// test) where the kernel refuses it.
bool make_ring_runtime(std::optional<spindle::runtime>& rt, std::size_t workers = 2) {
  try {
    rt.emplace(spindle::options{.workers = workers, .io = io_backend::io_uring});
    return true;
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::function_not_supported);
    return false;
  }
}

constexpr const char* no_ring = "io_uring is not offered here";

std::string as_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Writes `text` on `from` and expects to read exactly it on `to`.
void expect_passes(unix_stream& from, unix_stream& to, const std::string& text) {
  from.write_all(text);
  std::vector<std::byte> buf(text.size());
  to.read_exact(buf);
  EXPECT_EQ(as_string(buf), text);
}

// Runs `wait` in a fiber of `rt`, lets it get to the kernel, then calls
// `stop(task)` (a cancel, or a close of what it waits on) and joins it.
template <class Wait, class Stop>
void interrupt_while_waiting(spindle::runtime& rt, Wait wait, Stop stop) {
  std::atomic<bool> entered{false};
  auto t = rt.spawn([&] {
    entered = true;
    wait();
  });
  while (!entered) std::this_thread::yield();
  std::this_thread::sleep_for(2ms);  // most likely with the kernel by now; either way the same
  stop(t);
  t.join();
}

// Sets SPINDLE_IO for the life of the object.
class environment_io {
 public:
  explicit environment_io(const char* value) {
    if (const char* v = std::getenv("SPINDLE_IO")) saved_ = v;
    ::setenv("SPINDLE_IO", value, 1);
  }
  ~environment_io() {
    if (saved_) ::setenv("SPINDLE_IO", saved_->c_str(), 1);
    else ::unsetenv("SPINDLE_IO");
  }

 private:
  std::optional<std::string> saved_;
};

}  // namespace

TEST(IoBackend, EpollWhenAskedFor) {
  spindle::runtime rt(spindle::options{.workers = 1, .io = io_backend::epoll});
  EXPECT_EQ(rt.io(), io_backend::epoll);
}

TEST(IoBackend, AutomaticResolvesToARealBackend) {
  spindle::runtime rt(spindle::options{.workers = 1});
  EXPECT_TRUE(rt.io() == io_backend::epoll || rt.io() == io_backend::io_uring);
}

TEST(IoBackend, TheEnvironmentChoosesForAutomatic) {
  environment_io env("epoll");
  spindle::runtime rt(spindle::options{.workers = 1});
  EXPECT_EQ(rt.io(), io_backend::epoll);
}

TEST(IoBackend, KqueueOnLinuxIsRefusedByName) {
  try {
    spindle::runtime rt(spindle::options{.workers = 1, .io = io_backend::kqueue});
    FAIL() << "kqueue accepted on Linux";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("spindle::options::io"), std::string::npos) << e.what();
  }
}

TEST(IoBackend, AnUnknownEnvironmentValueIsRefusedByName) {
  environment_io env("iouring2");
  try {
    spindle::runtime rt(spindle::options{.workers = 1});
    FAIL() << "SPINDLE_IO=iouring2 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("SPINDLE_IO=iouring2"), std::string::npos) << e.what();
  }
}

TEST(Ring, IoUringWhenAskedFor) {
  std::optional<spindle::runtime> ring;
  if (!make_ring_runtime(ring)) GTEST_SKIP() << no_ring;
  spindle::runtime& rt = *ring;
  EXPECT_EQ(rt.io(), io_backend::io_uring);
}

// A read with the kernel is cancelled: it throws spindle::cancelled, and the
// socket still works: the next bytes are read whole by the next reader. Then
// close() from another thread ends a read that is with the kernel.
TEST(Ring, ACancelledReadLeavesTheSocketUsableAndACloseEndsOne) {
  std::optional<spindle::runtime> ring;
  if (!make_ring_runtime(ring)) GTEST_SKIP() << no_ring;
  spindle::runtime& rt = *ring;
  auto [a, b] = unix_stream::pair();
  interrupt_while_waiting(
      rt,
      [&b = b] {
        std::array<std::byte, 8> buf{};
        EXPECT_THROW(b.read_some(buf), spindle::cancelled);
      },
      [](spindle::task<void>& t) { t.cancel(); });
  rt.block_on([&a = a, &b = b] { expect_passes(a, b, "hello"); });
  interrupt_while_waiting(
      rt,
      [&b = b] {
        std::array<std::byte, 8> buf{};
        EXPECT_EQ(spindle::test::error_code_of([&] { b.read_some(buf); }),
                  std::errc::operation_canceled);
      },
      [&b = b](spindle::task<void>&) { b.close(); });
}

// A read timeout ends a read with the kernel; bytes sent afterwards are all
// read, none lost to the cancelled request.
TEST(Ring, AReadTimeoutThenTheBytes) {
  std::optional<spindle::runtime> ring;
  if (!make_ring_runtime(ring)) GTEST_SKIP() << no_ring;
  spindle::runtime& rt = *ring;
  auto [a, b] = unix_stream::pair();
  rt.block_on([&, &a = a, &b = b] {
    b.set_read_timeout(10ms);
    std::array<std::byte, 4> buf{};
    EXPECT_EQ(spindle::test::error_code_of([&] { b.read_some(buf); }), std::errc::timed_out);
    expect_passes(a, b, "late");
  });
}

// A cancel racing with the completion of a one-byte read, 10,000 times on
// one connection: each byte is either returned by the cancelled read (which
// then throws at its next wait) or left for the next reader; the bytes read
// are exactly the bytes sent, in order.
TEST(Ring, CancelRacingACompletionLosesNoByte) {
  std::optional<spindle::runtime> ring;
  if (!make_ring_runtime(ring)) GTEST_SKIP() << no_ring;
  spindle::runtime& rt = *ring;
  auto [a, b] = unix_stream::pair();
  const int rounds = scaled(10'000, 2'000);
  int by_cancelled = 0;
  rt.block_on([&, &a = a, &b = b] {
    for (int i = 0; i < rounds; ++i) {
      const auto sent = static_cast<std::byte>(i & 0xff);
      std::optional<std::byte> got;
      std::atomic<bool> entered{false};
      auto reader = spindle::spawn([&] {
        std::byte c{};
        entered = true;
        try {
          if (b.read_some(std::span(&c, 1)) == 1) got = c;
        } catch (const spindle::cancelled&) {
        }
      });
      while (!entered) spindle::this_fiber::yield();
      for (int k = 0; k < i % 3; ++k) spindle::this_fiber::yield();  // vary the interleaving
      if (i % 2) {
        reader.cancel();  // most likely before the byte: the read is cancelled in the kernel
        a.write_all(std::span(&sent, 1));
      } else {
        a.write_all(std::span(&sent, 1));
        reader.cancel();
      }
      reader.join();
      if (got) {
        ++by_cancelled;
      } else {
        std::byte c{};
        ASSERT_EQ(b.read_some(std::span(&c, 1)), 1u) << "round " << i;
        got = c;
      }
      ASSERT_EQ(*got, sent) << "round " << i;
    }
    b.set_read_timeout(1ms);  // nothing is left over
    std::byte c{};
    EXPECT_EQ(spindle::test::error_code_of([&] { b.read_some(std::span(&c, 1)); }),
              std::errc::timed_out);
  });
  std::printf("reads that completed although cancelled: %d of %d\n", by_cancelled, rounds);
}

// More reads in flight than the submission queue holds (256 per worker):
// every one completes with its own connection's byte.
TEST(Ring, MoreReadsThanTheRingHolds) {
  spindle::test::raise_fd_limit();
  std::optional<spindle::runtime> ring;
  if (!make_ring_runtime(ring)) GTEST_SKIP() << no_ring;
  spindle::runtime& rt = *ring;
  const int n = scaled(1000, 300);
  std::vector<std::pair<unix_stream, unix_stream>> pairs;
  for (int i = 0; i < n; ++i) pairs.push_back(unix_stream::pair());
  std::atomic<int> right{0};
  std::atomic<int> waiting{0};
  rt.block_on([&] {
    std::vector<spindle::task<void>> readers;
    for (int i = 0; i < n; ++i) {
      readers.push_back(spindle::spawn([&, i] {
        std::byte c{};
        ++waiting;
        if (pairs[i].second.read_some(std::span(&c, 1)) == 1 &&
            c == static_cast<std::byte>(i & 0xff))
          ++right;
      }));
    }
    while (waiting < n) spindle::this_fiber::yield();
    for (int i = 0; i < n; ++i) {
      const auto c = static_cast<std::byte>(i & 0xff);
      pairs[i].first.write_all(std::span(&c, 1));
    }
    for (auto& r : readers) r.join();
  });
  EXPECT_EQ(right.load(), n);
}

// ~runtime() with reads in flight: each is cancelled in the kernel, its
// fiber unwinds (destructors run), and the buffers on the fibers' stacks are
// not written after they are gone (AddressSanitizer would say).
TEST(Ring, ARuntimeDestroyedWithReadsInFlight) {
  const int n = 64;
  std::vector<std::pair<unix_stream, unix_stream>> pairs;
  for (int i = 0; i < n; ++i) pairs.push_back(unix_stream::pair());
  std::atomic<int> unwound{0};
  std::atomic<int> waiting{0};
  {
    std::optional<spindle::runtime> ring;
  if (!make_ring_runtime(ring)) GTEST_SKIP() << no_ring;
  spindle::runtime& rt = *ring;
    struct count_on_exit {
      std::atomic<int>& c;
      ~count_on_exit() { ++c; }
    };
    for (int i = 0; i < n; ++i) {
      rt.spawn([&, i] {
        count_on_exit guard{unwound};
        std::array<std::byte, 256> buf{};
        ++waiting;
        pairs[i].second.read_some(buf);
        ADD_FAILURE() << "read " << i << " returned";
      }).detach();
    }
    while (waiting < n) std::this_thread::yield();
    std::this_thread::sleep_for(5ms);  // with the kernel by now
  }
  EXPECT_EQ(unwound.load(), n);
  // The connections still work.
  for (auto& [a, b] : pairs) expect_passes(a, b, "x");
}

// A datagram receive with the kernel, cancelled: the next datagram arrives
// whole, with its sender's address; close() ends a receive with the kernel.
TEST(Ring, DatagramsCancelledAndClosed) {
  std::optional<spindle::runtime> ring;
  if (!make_ring_runtime(ring)) GTEST_SKIP() << no_ring;
  spindle::runtime& rt = *ring;
  using spindle::net::udp_socket;
  auto any = spindle::net::endpoint::parse("127.0.0.1:0");
  auto a = udp_socket::bind(any);
  auto b = udp_socket::bind(any);
  interrupt_while_waiting(
      rt,
      [&] {
        std::array<std::byte, 64> buf{};
        EXPECT_THROW(b.recv_from(buf), spindle::cancelled);
      },
      [](spindle::task<void>& t) { t.cancel(); });
  rt.block_on([&] {
    EXPECT_EQ(a.send_to("datagram", b.local_endpoint()), 8u);
    std::array<std::byte, 64> buf{};
    auto [n, from] = b.recv_from(buf);
    EXPECT_EQ(as_string(std::span(buf).first(n)), "datagram");
    EXPECT_EQ(from, a.local_endpoint());
  });
  interrupt_while_waiting(
      rt,
      [&] {
        std::array<std::byte, 64> buf{};
        EXPECT_EQ(spindle::test::error_code_of([&] { b.recv_from(buf); }),
                  std::errc::operation_canceled);
      },
      [&](spindle::task<void>&) { b.close(); });
}
