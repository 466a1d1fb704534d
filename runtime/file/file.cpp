// spindle::file: reads and writes at offsets through the worker's io_uring
// ring, the blocking pool, or in place (api/spindle/file.hpp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <spindle/cancel.hpp>
#include <spindle/file.hpp>
#include <spindle/runtime.hpp>
#include <spindle/this_fiber.hpp>
#include <string>
#include <vector>

#include "io/errors.hpp"
#include "io/uring/ring_call.hpp"

namespace spindle {
namespace {

using detail::io_ring;

std::string what_of(const char* call, const std::string& path) {
  std::string s = "spindle::file::";
  return s.append(call).append(" ").append(path);
}

// The result of one pread/pwrite: a count, or -1 with the errno.
struct transfer {
  ssize_t n;
  int err;
};

// One pread or pwrite on the blocking pool, for a fiber of a runtime
// without io_uring. The job owns everything the call touches -- a
// duplicate of the descriptor and a buffer of its own -- so that it may
// outlive the fiber (shutdown unwinds a fiber before its blocking calls
// end): the caller's buffer and descriptor are used only by the fiber.
transfer on_blocking_pool(int fd, io_ring::op_code code, std::span<std::byte> buf,
                          std::uint64_t offset) {
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return {-1, errno};
  buf = buf.first(std::min(buf.size(), io_ring::max_request_bytes));  // a short count, as pread
  std::vector<std::byte> copy(buf.size());
  if (code == io_ring::op_code::write_at) std::memcpy(copy.data(), buf.data(), buf.size());
  struct done {
    transfer t;
    std::vector<std::byte> bytes;
  };
  done d = run_blocking([own, code, offset, bytes = std::move(copy)]() mutable {
    const auto off = static_cast<off_t>(offset);
    const ssize_t n = code == io_ring::op_code::read_at ? ::pread(own, bytes.data(), bytes.size(), off)
                                                        : ::pwrite(own, bytes.data(), bytes.size(), off);
    const int err = errno;
    ::close(own);
    return done{{n, err}, std::move(bytes)};
  });
  if (code == io_ring::op_code::read_at && d.t.n > 0)
    std::memcpy(buf.data(), d.bytes.data(), static_cast<std::size_t>(d.t.n));
  return d.t;
}

// One read or write at `offset` on `fd` (of `file`, inside a use of it),
// however this caller does it; retried on EINTR and EAGAIN. Throws
// std::system_error prefixed `what`.
std::size_t transfer_once(const file& f, int fd, io_ring::op_code code, std::span<std::byte> buf,
                          std::uint64_t offset, const std::string& what) {
  // Not cut short: the kernel, or a pool thread, writes into `buf` until it
  // is done (file.hpp). Nothing on a plain thread.
  shield s;
  for (;;) {
    transfer t;
    if (io_ring* ring = detail::current_ring()) {
      const int r = ring->call(
          {.code = code, .fd = fd, .buf = buf.data(), .len = buf.size(), .offset = offset}, &f,
          detail::no_deadline);
      t = r >= 0 ? transfer{r, 0} : transfer{-1, -r};
    } else if (in_fiber()) {
      t = on_blocking_pool(fd, code, buf, offset);
    } else {
      const auto off = static_cast<off_t>(offset);
      t.n = code == io_ring::op_code::read_at ? ::pread(fd, buf.data(), buf.size(), off)
                                              : ::pwrite(fd, buf.data(), buf.size(), off);
      t.err = errno;
    }
    if (t.n >= 0) return static_cast<std::size_t>(t.n);
    if (t.err != EINTR && t.err != EAGAIN) detail::throw_errno(t.err, what);
  }
}

// A fiber cancelled before a file call does not start it (file.hpp).
void throw_if_cancelled_in_fiber() {
  if (in_fiber()) this_fiber::throw_if_cancelled();
}

}  // namespace

file file::open(const std::string& path, int flags, mode_t mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) detail::throw_errno(errno, what_of("open", path));
  return file(fd, path);
}

// Both hold the file open (its use) for the whole call, which may take
// several transfers.
std::size_t file::read_at(std::span<std::byte> buf, std::uint64_t offset) {
  throw_if_cancelled_in_fiber();
  const std::string what = what_of("read_at", path_);
  const detail::socket_fd::use use(fd_, what.c_str());
  // Until the buffer is full or the file ends: one read may stop short of
  // either (a buffer over max_request_bytes, a signal).
  std::size_t done = 0;
  while (done < buf.size()) {
    const std::size_t n = transfer_once(*this, use.fd(), io_ring::op_code::read_at,
                                        buf.subspan(done), offset + done, what);
    if (n == 0) break;
    done += n;
  }
  return done;
}

void file::write_at(std::span<const std::byte> data, std::uint64_t offset) {
  throw_if_cancelled_in_fiber();
  const std::string what = what_of("write_at", path_);
  const detail::socket_fd::use use(fd_, what.c_str());
  // Only read from: the ring's request and pwrite take a non-const pointer.
  std::span<std::byte> rest(const_cast<std::byte*>(data.data()), data.size());
  while (!rest.empty()) {
    const std::size_t n =
        transfer_once(*this, use.fd(), io_ring::op_code::write_at, rest, offset, what);
    if (n == 0) detail::throw_errno(EIO, what);  // a write that takes nothing would loop for ever
    rest = rest.subspan(n);
    offset += n;
  }
}

std::uint64_t file::size() const {
  const std::string what = what_of("size", path_);
  const detail::socket_fd::use use(fd_, what.c_str());
  struct stat st {};
  if (::fstat(use.fd(), &st) < 0) detail::throw_errno(errno, what);
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace spindle
