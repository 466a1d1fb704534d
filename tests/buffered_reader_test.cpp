// spindle::net::buffered_reader: lines and records split across reads in
// every way, CRLF, end of stream with and without a last delimiter, the
// max_line bound, binary reads mixed with lines, and a real TCP stream with
// a thousand pipelined lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "test_support.hpp"

using spindle::net::buffered_reader;
using spindle::test::error_code_of;

namespace {

// A stream that returns scripted chunks, at most `cap` bytes per read.
struct scripted_stream {
  std::vector<std::string> chunks;
  std::size_t cap = SIZE_MAX;
  std::size_t next = 0;
  std::size_t offset = 0;
  int reads = 0;
  std::size_t read_some(std::span<std::byte> out) {
    ++reads;
    if (next == chunks.size()) return 0;
    const std::string& c = chunks[next];
    const std::size_t n = std::min({out.size(), c.size() - offset, cap});
    std::memcpy(out.data(), c.data() + offset, n);
    offset += n;
    if (offset == c.size()) {
      ++next;
      offset = 0;
    }
    return n;
  }
};

TEST(BufferedReader, LinesSplitAtEveryPossiblePlace) {
  const std::string text = "alpha\r\nbeta\n\ngamma\r\nlast-without-newline";
  for (std::size_t cut = 1; cut < text.size(); ++cut) {
    for (std::size_t cap : {std::size_t{1}, std::size_t{3}, SIZE_MAX}) {
      scripted_stream s{{text.substr(0, cut), text.substr(cut)}, cap};
      buffered_reader<scripted_stream> in(s, {.buffer_size = 4, .max_line = 64});
      std::vector<std::string> got;
      while (auto line = in.read_line()) got.push_back(*line);
      EXPECT_EQ(got,
                (std::vector<std::string>{"alpha", "beta", "", "gamma", "last-without-newline"}))
          << "cut " << cut << " cap " << cap;
      EXPECT_FALSE(in.read_line());  // stays at end of stream
    }
  }
}

TEST(BufferedReader, ReadUntilKeepsTheDelimiter) {
  scripted_stream s{{"*3\r\n$3\r", "\nSET\r\n"}};
  buffered_reader<scripted_stream> in(s);
  EXPECT_EQ(in.read_until('\n'), "*3\r\n");
  EXPECT_EQ(in.read_until('\n'), "$3\r\n");
  EXPECT_EQ(in.read_until('\n'), "SET\r\n");
  EXPECT_EQ(in.read_until('\n'), std::nullopt);
}

TEST(BufferedReader, ALineLongerThanMaxLineThrowsMessageSize) {
  const std::string long_line(100, 'x');
  scripted_stream s{{long_line + "\n"}, 7};
  buffered_reader<scripted_stream> in(s, {.buffer_size = 8, .max_line = 50});
  EXPECT_EQ(error_code_of([&] { in.read_line(); }), std::errc::message_size);
  EXPECT_LE(in.buffered(), 50u);  // it stopped reading at the bound

  // Exactly max_line bytes, delimiter included, is accepted; one more is not.
  scripted_stream fits{{std::string(49, 'y') + "\n" + std::string(50, 'z') + "\n"}};
  buffered_reader<scripted_stream> in2(fits, {.buffer_size = 8, .max_line = 50});
  EXPECT_EQ(in2.read_line(), std::string(49, 'y'));
  EXPECT_EQ(error_code_of([&] { in2.read_line(); }), std::errc::message_size);
}

TEST(BufferedReader, BinaryReadsAndLinesInterleave) {
  scripted_stream s{{"LEN 4\n", "ab", "cdrest\n"}, 3};
  buffered_reader<scripted_stream> in(s, {.buffer_size = 16, .max_line = 16});
  EXPECT_EQ(in.read_line(), "LEN 4");
  std::byte body[4];
  in.read_exact(body);
  EXPECT_EQ(std::memcmp(body, "abcd", 4), 0);
  EXPECT_EQ(in.read_line(), "rest");
  std::byte more[1];
  EXPECT_EQ(in.read_some(more), 0u);
  EXPECT_EQ(error_code_of([&] { in.read_exact(more); }), std::errc::connection_aborted);
}

TEST(BufferedReader, BadOptionsThrow) {
  scripted_stream s;
  EXPECT_THROW(buffered_reader<scripted_stream>(s, {.buffer_size = 0}), std::invalid_argument);
  EXPECT_THROW(buffered_reader<scripted_stream>(s, {.max_line = 0}), std::invalid_argument);
}

TEST(BufferedReader, PipelinedLinesOverTcpArriveInOrder) {
  spindle::runtime rt(spindle::test::two_workers());
  rt.block_on([] {
    auto listener = spindle::net::tcp_listener::bind(spindle::net::endpoint::parse("127.0.0.1:0"));
    const int lines = 1000;
    auto writer = spindle::spawn([&] {
      auto c = spindle::net::tcp_stream::connect(listener.local_endpoint());
      std::string all;
      for (int i = 0; i < lines; ++i) all += "line " + std::to_string(i) + "\r\n";
      c.write_all(all);
      c.shutdown_write();
    });
    spindle::net::tcp_stream conn = listener.accept();
    buffered_reader in(conn);
    int i = 0;
    while (auto line = in.read_line()) {
      ASSERT_EQ(*line, "line " + std::to_string(i));
      ++i;
    }
    EXPECT_EQ(i, lines);
    writer.join();
  });
}

}  // namespace
