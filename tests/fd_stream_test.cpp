// net::fd_stream: the stream calls over pipes, socketpairs and eventfds, in
// fibers and on plain threads; end of stream, close, timeouts, cancellation,
// a pipe without a reader (broken_pipe, no SIGPIPE), and what adopt refuses.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <spindle/cancel.hpp>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "net_support.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using spindle::net::fd_stream;
using spindle::test::as_string;
using spindle::test::error_code_of;
using spindle::test::expect_errc;

namespace {

// Both ends of a new pipe as streams: {read end, write end}.
std::pair<fd_stream, fd_stream> pipe_streams() {
  int p[2];
  if (::pipe(p) < 0) throw std::system_error(errno, std::generic_category(), "pipe");
  return {fd_stream::adopt(p[0]), fd_stream::adopt(p[1])};
}

constexpr std::size_t mib = 1 << 20;

// Writes 1 MiB through `out` (in uneven pieces) while reading it from `in`
// in uneven pieces too; true when every byte arrived in order.
bool one_mib_through(fd_stream& in, fd_stream& out) {
  const auto sent = spindle::test::pattern_message(3, 5, mib);
  std::vector<std::byte> got(mib);
  auto writer = spindle::spawn([&] {
    std::span<const std::byte> rest(sent);
    for (std::size_t piece = 1; !rest.empty(); piece = piece * 3 % 70001 + 1) {
      const std::size_t n = std::min(piece, rest.size());
      out.write_all(rest.first(n));
      rest = rest.subspan(n);
    }
  });
  std::size_t done = 0;
  for (std::size_t piece = 7; done < mib; piece = piece * 5 % 90001 + 1) {
    const std::size_t n = in.read_some(std::span(got).subspan(done, std::min(piece, mib - done)));
    if (n == 0) break;
    done += n;
  }
  writer.join();
  return done == mib && got == sent;
}

}  // namespace

TEST(FdStream, OneMebibyteThroughAPipeBetweenTwoFibers) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto in_out = pipe_streams();  // not a structured binding: clang 14 cannot capture one
    auto& in = in_out.first;
    auto& out = in_out.second;
    EXPECT_TRUE(one_mib_through(in, out));
    out.close();
    std::array<std::byte, 1> one{};
    EXPECT_EQ(in.read_some(one), 0u);  // the write end is closed: end of stream
  });
}

TEST(FdStream, OverASocketpairBothWays) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    auto a = fd_stream::adopt(sv[0]);
    auto b = fd_stream::adopt(sv[1]);
    EXPECT_TRUE(one_mib_through(a, b));
    EXPECT_TRUE(one_mib_through(b, a));
  });
}

TEST(FdStream, EndOfStreamWhenTheWriteEndCloses) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto in_out = pipe_streams();  // not a structured binding: clang 14 cannot capture one
    auto& in = in_out.first;
    auto& out = in_out.second;
    auto reader = spindle::spawn([&in = in] {
      std::array<std::byte, 8> buf{};
      std::string got;
      while (const std::size_t n = in.read_some(buf)) got += as_string(std::span(buf.data(), n));
      return got;
    });
    out.write_all("tail bytes");
    spindle::this_fiber::sleep_for(10ms);
    out.close();  // the reader is (most likely) parked; the hang-up must wake it
    EXPECT_EQ(reader.join(), "tail bytes");
    std::array<std::byte, 4> four{};
    expect_errc([&] { in.read_exact(four); }, std::errc::connection_aborted);
  });
}

TEST(FdStream, WritingToAPipeWithoutAReaderIsBrokenPipeNotSigpipe) {
  // The default disposition of SIGPIPE kills the process: the test dies if
  // the signal gets through.
  struct sigaction old {};
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, &old);
  {
    auto in_out = pipe_streams();  // not a structured binding: clang 14 cannot capture one
    auto& in = in_out.first;
    auto& out = in_out.second;
    in.close();
    expect_errc([&] { out.write_all("nobody reads"); }, std::errc::broken_pipe);
    std::error_code ec;
    EXPECT_EQ(out.try_write_some(std::as_bytes(std::span("x", 1)), ec), 0u);
    EXPECT_EQ(ec, std::errc::broken_pipe);
    sigset_t pending;
    sigpending(&pending);
    EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  }
  ::sigaction(SIGPIPE, &old, nullptr);
}

TEST(FdStream, CloseFromAnotherFiberWakesABlockedRead) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto in_out = pipe_streams();  // not a structured binding: clang 14 cannot capture one
    auto& in = in_out.first;
    auto reader = spindle::spawn([&in = in] {
      std::array<std::byte, 8> buf{};
      return error_code_of([&] { in.read_some(buf); });
    });
    spindle::this_fiber::sleep_for(20ms);
    in.close();
    EXPECT_EQ(reader.join(), std::errc::operation_canceled);
    std::array<std::byte, 1> one{};
    expect_errc([&] { in.read_some(one); }, std::errc::operation_canceled);
  });
}

TEST(FdStream, ReadTimeoutAndCancellationLeaveTheStreamUsable) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto in_out = pipe_streams();  // not a structured binding: clang 14 cannot capture one
    auto& in = in_out.first;
    auto& out = in_out.second;
    std::array<std::byte, 2> buf{};
    in.set_read_timeout(20ms);
    expect_errc([&] { in.read_some(buf); }, std::errc::timed_out);
    in.clear_timeout();
    EXPECT_TRUE(spindle::test::cancelled_while_blocked([&in = in] {
      std::array<std::byte, 2> inner{};
      in.read_some(inner);
    }));
    out.write_all("ok");
    in.read_exact(buf);
    EXPECT_EQ(as_string(buf), "ok");
    std::error_code ec;
    EXPECT_EQ(in.try_read_some(buf, ec), 0u);
    EXPECT_EQ(ec, std::errc::operation_would_block);
  });
}

TEST(FdStream, AnEventfdCounts) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    const int efd = ::eventfd(0, EFD_CLOEXEC);
    ASSERT_GE(efd, 0);
    auto ev = fd_stream::adopt(efd);
    auto waiter = spindle::spawn([&ev] {
      std::uint64_t count = 0;
      ev.read_exact(std::as_writable_bytes(std::span(&count, 1)));
      return count;
    });
    spindle::this_fiber::sleep_for(10ms);
    const std::uint64_t add = 42;
    ev.write_all(std::as_bytes(std::span(&add, 1)));
    EXPECT_EQ(waiter.join(), 42u);
  });
}

// A tty (a pseudo-terminal's two ends) in canonical mode hands out one line
// per read with more queued: the second line comes without new input (the
// read timeout turns a wait that never ends into a failure).
TEST(FdStream, ATtyHandsOutOneLinePerReadAndTheNextWithoutNewInput) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) < 0 || ::unlockpt(master) < 0) {
    GTEST_SKIP() << "no pseudo-terminals here";
  }
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(slave, 0);
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([&] {
    auto terminal = fd_stream::adopt(master);
    auto program = fd_stream::adopt(slave);
    program.set_read_timeout(10s);
    terminal.write_all("one\ntwo\n");
    std::array<std::byte, 64> buf{};
    std::size_t n = program.read_some(buf);
    EXPECT_EQ(as_string(std::span(buf.data(), n)), "one\n");
    n = program.read_some(buf);
    EXPECT_EQ(as_string(std::span(buf.data(), n)), "two\n");
  });
}

TEST(FdStream, AdoptSetsNonBlocking) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto in = fd_stream::adopt(p[0]);
  auto out = fd_stream::adopt(p[1]);
  EXPECT_TRUE(::fcntl(in.native_handle(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(out.native_handle(), F_GETFL) & O_NONBLOCK);
}

TEST(FdStream, AdoptRefusesBadDescriptorsAndRegularFilesClearly) {
  try {
    fd_stream::adopt(-1);
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
    EXPECT_NE(std::string(e.what()).find("fd_stream::adopt"), std::string::npos) << e.what();
  }
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[0]);
  ::close(p[1]);
  expect_errc([&] { fd_stream::adopt(p[0]); }, std::errc::bad_file_descriptor);

  char path[] = "/tmp/spindle-fd-stream-XXXXXX";
  const int file = ::mkstemp(path);
  ASSERT_GE(file, 0);
  ::unlink(path);
  try {
    fd_stream::adopt(file);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("regular file"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("EPERM"), std::string::npos) << e.what();
  }
  EXPECT_EQ(::fcntl(file, F_GETFL) & O_NONBLOCK, 0) << "a refused descriptor is left as it was";
  EXPECT_EQ(::close(file), 0) << "a refused descriptor stays the caller's";

  const int dir = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  EXPECT_THROW(fd_stream::adopt(dir), std::invalid_argument);
  EXPECT_EQ(::close(dir), 0);

  fd_stream never_open;
  std::array<std::byte, 1> one{};
  expect_errc([&] { never_open.read_some(one); }, std::errc::bad_file_descriptor);
}

TEST(FdStream, WorksOnPlainThreadsWithoutARuntime) {
  auto in_out = pipe_streams();  // not a structured binding: clang 14 cannot capture one
  auto& in = in_out.first;
  auto& out = in_out.second;
  const auto sent = spindle::test::pattern_message(7, 1, mib);
  std::thread writer([&out = out, &sent] {
    out.write_all(sent);
    out.close();
  });
  std::vector<std::byte> got(mib);
  in.read_exact(got);
  std::array<std::byte, 1> one{};
  EXPECT_EQ(in.read_some(one), 0u);
  writer.join();
  EXPECT_TRUE(got == sent);
  // A plain thread's blocked read is woken by a close on another thread.
  auto in2_out2 = pipe_streams();  // not a structured binding: clang 14 cannot capture one
  auto& in2 = in2_out2.first;
  std::thread closer([&in2 = in2] {
    std::this_thread::sleep_for(30ms);
    in2.close();
  });
  expect_errc([&in2 = in2, &one] { in2.read_some(one); }, std::errc::operation_canceled);
  closer.join();
}
