// io_ring where spindle is built without liburing (not Linux, or Linux
// without liburing-dev): supported() is false, so no runtime makes a ring
// and none of the other members is ever called.
#include "io/uring/io_ring.hpp"

#include <cerrno>

namespace spindle::detail {

struct ring_op {};
struct io_ring::kernel_ring {};

bool io_ring::supported() noexcept { return false; }
std::unique_ptr<io_ring> io_ring::create(worker&, int) { return nullptr; }
io_ring::~io_ring() = default;
int io_ring::call(const request&, const void*, clock::time_point) { return -ENOSYS; }
void io_ring::flush(worker&) noexcept {}
void io_ring::try_flush(worker&) noexcept {}
void io_ring::sleep(clock::time_point, bool) noexcept {}
void io_ring::wake() noexcept {}
void io_ring::drain() noexcept {}

}  // namespace spindle::detail
