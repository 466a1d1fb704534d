// spindle::net::fd_stream: a byte stream over any descriptor that can be
// polled -- a pipe or FIFO, a tty, an eventfd, a character device, a socket
// made elsewhere -- whose calls block only the calling fiber (a plain thread
// outside any runtime simply blocks).
//
//   int p[2];
//   pipe(p);
//   auto in = net::fd_stream::adopt(p[0]);
//   auto out = net::fd_stream::adopt(p[1]);
//   out.write_all("hello");     // a writer fiber
//   in.read_exact(buf);         // a reader fiber
//
// The reads, writes, error_code and try_ forms, timeouts and close() are
// tcp_stream's, written once (detail/descriptor_stream.hpp): end of stream
// (the write end of a pipe closed) is read_some returning 0; close() from any
// fiber or thread wakes every call with std::errc::operation_canceled; a
// cancelled fiber's blocked call throws spindle::cancelled. Writing to a pipe
// whose reader has gone throws std::errc::broken_pipe and never raises
// SIGPIPE (the signal is held back on the writing thread for each pipe
// write: two extra system calls per write, which sockets do not pay).
//
// Regular files, directories and block devices cannot be waited for (epoll
// refuses them with EPERM: they are always "ready", and a read of a slow disk
// blocks the whole worker): adopt() refuses them with std::invalid_argument.
// Read files with plain read(2) on the blocking pool (spindle::run_blocking).
#pragma once

#include <spindle/detail/descriptor_stream.hpp>
#include <spindle/detail/socket_fd.hpp>

namespace spindle::net {

class fd_stream : public detail::descriptor_stream {
 public:
  // A stream that is not open.
  fd_stream() noexcept;

  // Takes ownership of `fd` (the stream closes it) and sets O_NONBLOCK on
  // it. File status flags belong to the open file, not to the descriptor:
  // every dup of `fd` (and the same file in another process: a shared tty,
  // an inherited stdin) turns non-blocking too, so adopt a terminal or
  // stdin only if nothing else reads it blockingly. Throws, leaving `fd`
  // open and the caller's: std::system_error bad_file_descriptor for a
  // negative or closed `fd`, std::invalid_argument for a descriptor that
  // cannot be polled (see above).
  static fd_stream adopt(int fd);

 private:
  fd_stream(detail::socket_fd fd, detail::stream_kind kind) noexcept;
};

}  // namespace spindle::net
