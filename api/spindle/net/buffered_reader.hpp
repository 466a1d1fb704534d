// spindle::net::buffered_reader: line- and delimiter-oriented reading over a
// stream, with a bound on how much one line may take.
//
//   spindle::net::buffered_reader in(stream);              // tcp_stream& (or any
//   while (auto line = in.read_line()) handle(*line);     //  stream with read_some)
//
//   std::array<std::byte, 16> header;
//   in.read_exact(header);                                  // binary framing too
//
// Reads go to the stream only when the buffer cannot answer, and then with
// one read_some() of whatever fits, so a burst of pipelined lines costs one
// system call. The reader refers to the stream; it does not own it.
//
// Limits: a line (or a read_until record) longer than `max_line` bytes throws
// std::system_error with std::errc::message_size: a peer cannot make the
// reader buffer without bound. The reader has then consumed an unspecified
// part of that line; close the connection. Memory: the buffer starts at
// `buffer_size` and grows only while one record needs it, to at most
// max(buffer_size, max_line) bytes.
//
// End of stream: read_line/read_until return what is left without a
// delimiter (if anything), then std::nullopt. read_exact at end of stream
// throws std::errc::connection_aborted, as tcp_stream::read_exact does.
// Errors and timeouts are the stream's (its set_timeout applies to each read).
// Not thread-safe: one fiber reads at a time, as with the stream itself.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <spindle/net/tcp_stream.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace spindle::net {

struct buffered_reader_options {
  std::size_t buffer_size = 16 * 1024;  // bytes read at once, at first
  std::size_t max_line = 64 * 1024;     // longest line or record, delimiter included
};

template <class Stream = tcp_stream>
class buffered_reader {
 public:
  explicit buffered_reader(Stream& s, buffered_reader_options opts = {})
      : stream_(&s), opts_(checked(opts)), buf_(opts_.buffer_size) {}

  // The next line without its "\n" (nor a "\r" before it); std::nullopt at
  // end of stream.
  std::optional<std::string> read_line() {
    std::optional<std::string> line = read_until('\n');
    if (line && !line->empty() && line->back() == '\n') {
      line->pop_back();
      if (!line->empty() && line->back() == '\r') line->pop_back();
    }
    return line;
  }

  // The bytes up to and including the next `delim`; at end of stream what is
  // left (without a delimiter), then std::nullopt.
  std::optional<std::string> read_until(char delim) {
    std::size_t scanned = 0;  // bytes of the buffer known to hold no delim
    for (;;) {
      const char* data = reinterpret_cast<const char*>(buf_.data()) + begin_;
      if (const void* hit = std::memchr(data + scanned, delim, buffered() - scanned)) {
        const std::size_t n = static_cast<const char*>(hit) - data + 1;
        if (n > opts_.max_line) throw_too_long("read_until");
        return take_string(n);
      }
      scanned = buffered();
      // max_line bytes without a delimiter: the record cannot fit any more.
      if (scanned >= opts_.max_line) throw_too_long("read_until");
      if (!fill()) {
        if (buffered() == 0) return std::nullopt;
        return take_string(buffered());
      }
    }
  }

  // Fills `out` completely.
  void read_exact(std::span<std::byte> out) {
    while (!out.empty()) {
      const std::size_t n = read_some(out);
      if (n == 0) {
        throw std::system_error(std::make_error_code(std::errc::connection_aborted),
                                "spindle::net::buffered_reader::read_exact: end of stream");
      }
      out = out.subspan(n);
    }
  }

  // What is buffered, or else one read of the stream; 0 at end of stream (or
  // for an empty `out`). A large `out` with an empty buffer is read into
  // directly, not through the buffer.
  std::size_t read_some(std::span<std::byte> out) {
    if (out.empty()) return 0;
    if (buffered() == 0) {
      if (out.size() >= buf_.size()) return stream_->read_some(out);
      if (!fill()) return 0;
    }
    const std::size_t n = std::min(out.size(), buffered());
    std::memcpy(out.data(), buf_.data() + begin_, n);
    begin_ += n;
    return n;
  }

  // Bytes read from the stream and not yet returned.
  std::size_t buffered() const noexcept { return end_ - begin_; }

  Stream& stream() const noexcept { return *stream_; }

 private:
  static buffered_reader_options checked(buffered_reader_options o) {
    if (o.buffer_size == 0 || o.max_line == 0) {
      throw std::invalid_argument(
          "spindle::net::buffered_reader: buffer_size and max_line must be positive");
    }
    return o;
  }

  // One read_some() into the free space after the buffered bytes (moved to
  // the front first, and the buffer doubled up to max_line if it is full:
  // callers never fill with max_line bytes buffered). False at end of stream.
  bool fill() {
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, buffered());
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buf_.size()) {
      buf_.resize(std::min(buf_.size() * 2, opts_.max_line));
    }
    const std::size_t n = stream_->read_some(std::span(buf_).subspan(end_));
    end_ += n;
    return n > 0;
  }

  std::string take_string(std::size_t n) {
    std::string s(reinterpret_cast<const char*>(buf_.data()) + begin_, n);
    begin_ += n;
    return s;
  }

  [[noreturn]] void throw_too_long(const char* call) const {
    throw std::system_error(std::make_error_code(std::errc::message_size),
                            std::string("spindle::net::buffered_reader::") + call +
                                ": a record is longer than max_line (" +
                                std::to_string(opts_.max_line) + " bytes)");
  }

  Stream* stream_;
  buffered_reader_options opts_;
  std::vector<std::byte> buf_;
  std::size_t begin_ = 0;  // buf_[begin_, end_) is read and not yet returned
  std::size_t end_ = 0;
};

}  // namespace spindle::net
