// spindle::file: reads and writes at offsets, from fibers (through the
// io_uring ring, or the blocking pool with SPINDLE_IO=epoll: this suite runs
// once per backend, tests/CMakeLists.txt) and from plain threads; exact
// bytes, end of file, errors, close.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <numeric>
#include <spindle/spindle.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "test_support.hpp"

namespace {

// A fresh path under $TMPDIR (or /tmp), removed with the object.
class temp_path {
 public:
  temp_path() {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/spindle-file-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    const int fd = ::mkstemp(buf.data());
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = buf.data();
  }
  ~temp_path() { ::unlink(path_.c_str()); }
  const std::string& str() const { return path_; }

 private:
  std::string path_;
};

std::byte byte_at(std::uint64_t i) { return static_cast<std::byte>((i * 131 + (i >> 9)) & 0xff); }

// Writes `size` pattern bytes to `path` in chunks of `chunk` at their offsets.
void write_pattern(const std::string& path, std::size_t size, std::size_t chunk) {
  auto f = spindle::file::open(path, O_WRONLY | O_TRUNC);
  std::vector<std::byte> buf(chunk);
  for (std::size_t at = 0; at < size; at += chunk) {
    const std::size_t n = std::min(chunk, size - at);
    for (std::size_t i = 0; i < n; ++i) buf[i] = byte_at(at + i);
    f.write_at(std::span<const std::byte>(buf.data(), n), at);
  }
}

}  // namespace

TEST(File, WriteThenReadAtOffsetsInAFiber) {
  temp_path p;
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([&] {
    write_pattern(p.str(), 100'000, 4096);
    auto f = spindle::file::open(p.str());
    EXPECT_EQ(f.size(), 100'000u);
    std::array<std::byte, 1000> buf{};
    ASSERT_EQ(f.read_at(buf, 12'345), buf.size());
    for (std::size_t i = 0; i < buf.size(); ++i) ASSERT_EQ(buf[i], byte_at(12'345 + i)) << i;
    EXPECT_EQ(f.read_at(buf, 99'500), 500u);  // short only at the end
    for (std::size_t i = 0; i < 500; ++i) ASSERT_EQ(buf[i], byte_at(99'500 + i)) << i;
    EXPECT_EQ(f.read_at(buf, 100'000), 0u);
    EXPECT_EQ(f.read_at(buf, 1'000'000), 0u);
  });
}

TEST(File, SixtyFourFibersReadTheirOwnPages) {
  temp_path p;
  constexpr std::size_t page = 4096;
  constexpr std::size_t pages = 256;
  write_pattern(p.str(), page * pages, 64 * 1024);  // from this plain thread
  spindle::runtime rt(spindle::test::two_workers());
  auto f = spindle::file::open(p.str());
  std::atomic<std::size_t> right{0};
  rt.block_on([&] {
    std::vector<spindle::task<void>> readers;
    for (int r = 0; r < 64; ++r) {
      readers.push_back(spindle::spawn([&, r] {
        std::array<std::byte, page> buf{};
        for (std::size_t k = 0; k < pages; k += 16) {
          const std::size_t at = ((k + static_cast<std::size_t>(r)) % pages) * page;
          if (f.read_at(buf, at) != page) continue;
          bool ok = true;
          for (std::size_t i = 0; i < page; ++i) ok = ok && buf[i] == byte_at(at + i);
          if (ok) ++right;
        }
      }));
    }
    for (auto& t : readers) t.join();
  });
  EXPECT_EQ(right.load(), 64u * (pages / 16));
}

TEST(File, OnAPlainThread) {
  temp_path p;
  write_pattern(p.str(), 10'000, 3000);
  auto f = spindle::file::open(p.str());
  std::array<std::byte, 100> buf{};
  ASSERT_EQ(f.read_at(buf, 9'950), 50u);
  for (std::size_t i = 0; i < 50; ++i) ASSERT_EQ(buf[i], byte_at(9'950 + i));
}

TEST(File, OpeningAMissingFileNamesIt) {
  try {
    spindle::file::open("/nonexistent/spindle/file");
    FAIL() << "opened";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find("spindle::file::open /nonexistent/spindle/file"),
              std::string::npos)
        << e.what();
  }
}

TEST(File, ReadingAWriteOnlyFileThrowsBadDescriptor) {
  temp_path p;
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([&] {
    auto f = spindle::file::open(p.str(), O_WRONLY);
    std::array<std::byte, 8> buf{};
    EXPECT_EQ(spindle::test::error_code_of([&] { f.read_at(buf, 0); }),
              std::errc::bad_file_descriptor);
  });
}

TEST(File, CallsAfterCloseThrowOperationCanceled) {
  temp_path p;
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([&] {
    auto f = spindle::file::open(p.str(), O_RDWR);
    f.close();
    EXPECT_FALSE(f.is_open());
    std::array<std::byte, 8> buf{};
    EXPECT_EQ(spindle::test::error_code_of([&] { f.read_at(buf, 0); }),
              std::errc::operation_canceled);
    EXPECT_EQ(spindle::test::error_code_of([&] { f.write_at(buf, 0); }),
              std::errc::operation_canceled);
    spindle::file empty;
    EXPECT_EQ(spindle::test::error_code_of([&] { empty.size(); }), std::errc::bad_file_descriptor);
  });
}

// A cancelled fiber does not start a file call; one cancelled during the call
// finishes it (the bytes are read), and its next wait throws.
TEST(File, CancelledBeforeTheCallThrowsAtOnce) {
  temp_path p;
  write_pattern(p.str(), 4096, 4096);
  spindle::runtime rt(spindle::test::two_workers());
  auto f = spindle::file::open(p.str());
  std::atomic<bool> go{false};
  std::atomic<int> outcome{0};
  auto t = rt.spawn([&] {
    while (!go) spindle::this_fiber::yield();
    std::array<std::byte, 16> buf{};
    try {
      f.read_at(buf, 0);
      outcome = 1;
    } catch (const spindle::cancelled&) {
      outcome = 2;
    }
  });
  t.cancel();
  go = true;
  t.join();
  EXPECT_EQ(outcome.load(), 2);
}
