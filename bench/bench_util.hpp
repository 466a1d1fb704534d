// Output and measurement helpers shared by the spindle-bench workloads
// (bench/README.md, "Workloads": one "<metric> <value> <unit>" line per result on
// stdout, everything else on stderr, "FAILED <metric> <reason>" + exit 1).
#pragma once

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace bench {

using clock = std::chrono::steady_clock;

struct args {
  std::size_t workers = 0;  // 0 = all cores
  int port = 0;             // 0 = the workload's default
  // --quick: tiny sizes, to check that a workload runs (its figures are not
  // the workload's: README sizes are fixed). Honoured by cancel and deadline.
  bool quick = false;
};

inline void result(const char* metric, double value, int decimals, const char* unit) {
  std::printf("%s %.*f %s\n", metric, decimals, value, unit);
  std::fflush(stdout);
}

// Exits at once: it may run on a worker thread, under running fibers.
[[noreturn]] __attribute__((format(printf, 2, 3))) inline void fail(const char* metric, const char* fmt, ...) {
  std::printf("FAILED %s ", metric);
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(1);
}

inline double ms_since(clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
}
inline double ns_since(clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(clock::now() - t0).count();
}

// VmRSS of /proc/self/status, in KiB; -1 if unreadable.
inline long vm_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long v;
      in >> v;
      return v;
    }
    std::getline(in, key);
  }
  return -1;
}

// The workloads, one family per file.
void yield(const args&);
void yield_traced(const args&);
void spawn(const args&);
void skynet(const args&);
void fib(const args&);
void idle(const args&);
void sleep(const args&);
void stall(const args&);
void pingpong(const args&);
void mpmc(const args&);
void mutex(const args&);
void echo(const args&);
void http(const args&);
void cancel(const args&);
void deadline(const args&);
void file_read(const args&);

}  // namespace bench
