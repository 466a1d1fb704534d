// io_backend: which IO backend a runtime uses (options::io, SPINDLE_IO), and
// the rings of the io_uring backend.
#pragma once

#include <memory>
#include <spindle/runtime.hpp>
#include <vector>

namespace spindle::detail {

class worker;

// Resolves `asked` (options::io) to the backend to try: automatic becomes
// SPINDLE_IO's choice if it is set, else io_uring where io_ring::supported(),
// else the platform's readiness backend. Throws std::invalid_argument for a
// backend of another platform or an unknown SPINDLE_IO, std::system_error
// (function_not_supported) for io_uring asked where the kernel refuses it.
io_backend pick_io_backend(io_backend asked);

// Gives every worker its ring (before they start) when `backend` is
// io_uring, watching `reactor_fd`. Returns the backend in use: epoll when a
// ring could not be made and io_uring was not asked for by name (`asked`),
// for which it throws std::system_error instead.
io_backend start_rings(io_backend backend, io_backend asked,
                       const std::vector<std::unique_ptr<worker>>& workers, int reactor_fd);

}  // namespace spindle::detail
