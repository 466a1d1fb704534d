// spindle-bench: spindle's implementation of the workloads in bench/README.md.
//
// Usage: spindle-bench <workload> [--workers N] [--port P] [--quick]
// Workloads: yield yield_traced spawn skynet fib pingpong mpmc mutex idle sleep echo http
//            cancel deadline stall file_read
// --quick runs cancel and deadline at tiny sizes (a smoke run, not figures).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: spindle-bench <workload> [--workers N] [--port P] [--quick]\n");
    return 2;
  }
  bench::args a;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) {
      a.workers = std::strtoul(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--port") && i + 1 < argc) {
      a.port = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--quick")) {
      a.quick = true;
    } else {
      std::fprintf(stderr, "spindle-bench: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  const std::string w = argv[1];
  struct entry {
    const char* name;
    void (*run)(const bench::args&);
  };
  const entry workloads[] = {
      {"yield", bench::yield},       {"yield_traced", bench::yield_traced},
      {"spawn", bench::spawn},       {"skynet", bench::skynet},
      {"fib", bench::fib},           {"pingpong", bench::pingpong}, {"mpmc", bench::mpmc},
      {"mutex", bench::mutex},       {"idle", bench::idle},   {"sleep", bench::sleep},
      {"echo", bench::echo},         {"http", bench::http},
      {"cancel", bench::cancel},     {"deadline", bench::deadline},
      {"stall", bench::stall},       {"file_read", bench::file_read},
  };
  for (const entry& e : workloads) {
    if (w == e.name) {
      e.run(a);
      return 0;
    }
  }
  std::fprintf(stderr, "spindle-bench: unknown workload %s\n", w.c_str());
  return 2;
}
