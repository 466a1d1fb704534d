// reply_writer: a connection's answers, sent without making its reader wait
// for the client to read them (echo_server, http_hello, kv_server).
//
// A server that answers with write_all() stops reading while the client's
// receive window is full; a client that pipelines requests and reads answers
// only between its own writes then blocks writing too, and both sides wait
// for ever. Here the reading fiber hands each batch of answers to send():
//  * while nothing is waiting, send() writes what the socket takes now
//    (try_write_some: one system call, no other fiber; the usual case);
//  * the rest waits in `pending_`, and a writer fiber, started the first time
//    it is needed, writes it while the reader goes on reading requests;
//  * send() waits only while `limit` bytes or more wait to be written: the
//    server then stops reading, so the client's own writes push back on it
//    through TCP, and memory stays bounded (at most about twice `limit`, plus
//    one batch: what waits and what the writer is writing).
// What no bounded server can do is serve a client that never reads: once the
// limit and the kernel's socket buffers are full, both sides wait.
//
// Threads: send() and finish() are the reading fiber's; the writer fiber is
// this object's. `pending_`, `done_` and `error_` are guarded by `m_` once
// the writer exists (before that only the reader touches them). The writer
// takes all of `pending_` at once and writes it before it takes more, and
// the reader never writes itself once the writer exists: bytes go out in the
// order they were sent.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <span>
#include <spindle/spindle.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace spindle_samples {

class reply_writer {
 public:
  static constexpr std::size_t default_limit = 1 << 20;

  // `on_written` is called after each write that moved bytes (the idle
  // policy's connection::active).
  reply_writer(spindle::net::tcp_stream& s, std::function<void()> on_written,
               std::size_t limit = default_limit)
      : stream_(s), on_written_(std::move(on_written)), limit_(limit) {}

  reply_writer(const reply_writer&) = delete;
  reply_writer& operator=(const reply_writer&) = delete;

  // Stops the writer if it still runs (the reader is unwinding: a reset,
  // the idle timeout, the server's cancellation): what waited is dropped.
  ~reply_writer() {
    if (!writer_.joinable()) return;
    spindle::shield s;  // the join must not be cut short by our own cancellation
    writer_.cancel();
    try {
      writer_.join();
    } catch (...) {  // spindle::cancelled, or the write's error: the connection is over
    }
  }

  // Queues `bytes` after everything sent before. Throws the std::system_error
  // of an earlier failed write (the client reset), and whatever a wait throws
  // (spindle::cancelled).
  void send(std::string_view bytes) {
    if (!writer_.joinable()) {
      std::error_code ec;
      const std::size_t n = stream_.try_write_some(std::as_bytes(std::span(bytes)), ec);
      if (ec && ec != std::errc::operation_would_block) throw std::system_error(ec, "write");
      if (n > 0) on_written_();
      if (n == bytes.size()) return;
      pending_.assign(bytes.substr(n));
      writer_ = spindle::spawn([this] { write_loop(); });
      return;
    }
    std::unique_lock lock(m_);
    if (error_) throw std::system_error(error_, "write");
    pending_.append(bytes);
    if (pending_.size() == bytes.size()) changed_.notify_all();  // it had nothing to write
    while (pending_.size() >= limit_ && !error_) changed_.wait(lock);
    if (error_) throw std::system_error(error_, "write");
  }

  // Waits until every byte sent is written; throws the write's error.
  void finish() {
    if (!writer_.joinable()) return;
    {
      std::lock_guard lock(m_);
      done_ = true;
    }
    changed_.notify_all();
    writer_.join();  // write_loop ends once nothing waits
    if (error_) throw std::system_error(error_, "write");
  }

 private:
  // The writer fiber: takes everything waiting and writes it, until finish()
  // found nothing left, or a write fails.
  void write_loop() {
    std::string chunk;
    for (;;) {
      {
        std::unique_lock lock(m_);
        while (pending_.empty() && !done_) changed_.wait(lock);
        if (pending_.empty()) return;  // done_ and all written
        chunk.clear();
        chunk.swap(pending_);  // the reader may fill pending_ again meanwhile
      }
      changed_.notify_all();  // a reader waiting for room has it
      std::error_code ec;
      const std::size_t n = stream_.write_all(std::as_bytes(std::span(chunk)), ec);
      if (n > 0) on_written_();
      if (ec) {
        {
          std::lock_guard lock(m_);
          error_ = ec;
        }
        changed_.notify_all();
        return;
      }
    }
  }

  spindle::net::tcp_stream& stream_;
  std::function<void()> on_written_;
  const std::size_t limit_;
  spindle::mutex m_;
  spindle::condition_variable changed_;  // pending_ filled or emptied, done_ or error_ set
  std::string pending_;
  bool done_ = false;
  std::error_code error_;
  spindle::task<void> writer_;  // empty until the socket first takes less than it was given
};

}  // namespace spindle_samples
