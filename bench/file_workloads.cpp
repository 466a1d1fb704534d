// file_read: 4 KiB reads at random page offsets of a 256 MiB file from 64
// fibers (issue 12), two ways in one run: spindle::file::read_at (through
// the worker's io_uring ring, or the blocking pool on an epoll runtime) and
// pread(2) inside run_blocking, as code without spindle::file does it.
// The file is written first, so it is in the page cache: the figure is the
// cost of getting each read to the kernel and back, not the disk's.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <spindle/spindle.hpp>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace bench {
namespace {

constexpr std::size_t page = 4096;
constexpr int fibers = 64;

// A 256 MiB file of its own under $TMPDIR (or /tmp), removed when done.
class scratch_file {
 public:
  explicit scratch_file(std::size_t bytes) {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/spindle-bench-file-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    const int fd = ::mkstemp(name.data());
    if (fd < 0) fail("file_read_mbs", "cannot create a file under %s", pattern.c_str());
    path_ = name.data();
    std::vector<char> chunk(1 << 20, 'x');
    for (std::size_t done = 0; done < bytes; done += chunk.size()) {
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size()))
        fail("file_read_mbs", "cannot write %s", path_.c_str());
    }
    ::close(fd);
  }
  ~scratch_file() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `read(buf, offset)` `per_fiber` times in each of 64 fibers at random
// page offsets; returns MB/s (10^6 bytes).
template <class Read>
double read_mbs(spindle::runtime& rt, std::size_t pages, int per_fiber, Read read) {
  const clock::time_point t0 = clock::now();
  rt.block_on([&] {
    std::vector<spindle::task<void>> ts;
    for (int f = 0; f < fibers; ++f) {
      ts.push_back(spindle::spawn([&, f] {
        std::byte buf[page];
        std::uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(f + 1);
        for (int i = 0; i < per_fiber; ++i) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          if (read(buf, (x % pages) * page) != page) fail("file_read_mbs", "short read");
        }
      }));
    }
    for (auto& t : ts) t.join();
  });
  const double seconds = ms_since(t0) / 1000;
  return static_cast<double>(page) * fibers * per_fiber / seconds / 1e6;
}

}  // namespace

void file_read(const args& a) {
  const std::size_t bytes = a.quick ? (std::size_t{16} << 20) : (std::size_t{256} << 20);
  const int per_fiber = a.quick ? 256 : 4096;
  scratch_file data(bytes);
  spindle::runtime rt(spindle::options{.workers = a.workers});
  auto f = spindle::file::open(data.path());
  const int fd = f.native_handle();
  const std::size_t pages = bytes / page;
  // Warm both paths (pool threads, stacks) before timing either.
  read_mbs(rt, pages, 16, [&](std::byte* b, std::uint64_t at) { return f.read_at({b, page}, at); });
  const double ring = read_mbs(rt, pages, per_fiber, [&](std::byte* b, std::uint64_t at) {
    return f.read_at({b, page}, at);
  });
  const double blocking = read_mbs(rt, pages, per_fiber, [&](std::byte* b, std::uint64_t at) {
    return static_cast<std::size_t>(spindle::run_blocking(
        [&] { return ::pread(fd, b, page, static_cast<off_t>(at)); }));
  });
  std::fprintf(stderr, "io backend: %s\n", rt.io() == spindle::io_backend::io_uring ? "io_uring" : "epoll");
  result("file_read_mbs", ring, 1, "MB/s");
  result("file_read_blocking_mbs", blocking, 1, "MB/s");
}

}  // namespace bench
