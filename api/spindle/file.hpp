// spindle::file: a file read and written at offsets without blocking the
// worker thread.
//
//   auto f = spindle::file::open("data.bin");          // O_RDONLY
//   std::array<std::byte, 4096> page;
//   std::size_t n = f.read_at(page, 8192);             // short only at end of file
//   auto log = spindle::file::open("log", O_WRONLY | O_CREAT | O_APPEND);
//   log.write_at(bytes, log.size());
//
// How a call runs: in a fiber of a runtime on the io_uring backend
// (runtime::io()), it is a request in the worker's ring (a read or write at
// the offset, like a socket's; the buffer stays where it is, and the fiber
// parks until the kernel is done); in a fiber of an epoll runtime it is
// pread(2)/pwrite(2) on the blocking pool (run_blocking); on a plain thread,
// pread/pwrite in place.
//
// Cancellation and timeouts: a file call is not cut short. A cancelled
// fiber's read or write finishes first (a disk read takes a bounded time,
// and the kernel is writing into the caller's buffer), then the fiber's
// next wait throws spindle::cancelled; a fiber cancelled before the call
// throws at once. Shutdown likewise waits for calls in progress.
//
// Closing: close() (or the destructor) while other fibers are inside calls
// marks the file closed; they finish, and every call after it throws
// std::system_error operation_canceled; the descriptor is closed when the
// last call leaves, so a call never reaches another file that was given the
// same number (as for sockets, spindle/detail/socket_fd.hpp). Moving or
// destroying a file while another fiber is inside a call is a bug.
//
// Errors throw std::system_error with the errno value (generic_category),
// prefixed with the call and the path ("spindle::file::read_at data.bin").
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <spindle/detail/socket_fd.hpp>
#include <string>
#include <utility>

namespace spindle {

class file {
 public:
  // An empty file object: every call throws bad_file_descriptor.
  file() noexcept = default;
  // Opens `path` with open(2) `flags` (O_RDONLY, O_WRONLY | O_CREAT |
  // O_TRUNC, ...; O_CLOEXEC is added) and, for a file it creates, `mode`.
  // Throws std::system_error naming the path.
  static file open(const std::string& path, int flags = 0, mode_t mode = 0644);

  file(file&&) noexcept = default;
  file& operator=(file&&) noexcept = default;
  ~file() = default;

  // Reads up to buf.size() bytes at `offset`; returns how many, fewer only
  // at the end of the file (0 at or past it). Concurrent calls are fine.
  std::size_t read_at(std::span<std::byte> buf, std::uint64_t offset);
  // Writes all of `data` at `offset` (in several writes if the kernel takes
  // less at once; O_APPEND files write at their end whatever the offset).
  void write_at(std::span<const std::byte> data, std::uint64_t offset);
  // The file's size now (fstat).
  std::uint64_t size() const;

  // Closes the file (see above); idempotent.
  void close() noexcept { fd_.close(); }
  bool is_open() const noexcept { return fd_.get() >= 0; }
  // The descriptor, or -1; for fcntl, fsync and foreign calls.
  int native_handle() const noexcept { return fd_.get(); }
  const std::string& path() const noexcept { return path_; }

 private:
  file(int fd, std::string path) noexcept : fd_(fd), path_(std::move(path)) {}

  detail::socket_fd fd_;  // not a socket: its references and close are what a file needs too
  std::string path_;
};

}  // namespace spindle
