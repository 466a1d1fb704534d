// cpu_quota: the affinity mask and the cgroup v2 cpu.max quota.
#include "sched/cpu_quota.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

namespace spindle::detail {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "QUOTA PERIOD" of one cpu.max in whole CPUs, or 0 for "max" or unreadable.
std::size_t quota_cpus(const std::string& cpu_max) {
  long long quota = 0, period = 0;
  const char* p = cpu_max.data();
  const char* end = p + cpu_max.size();
  auto [q_end, q_err] = std::from_chars(p, end, quota);
  if (q_err != std::errc() || q_end == end || *q_end != ' ') return 0;  // "max", or junk
  auto [p_end, p_err] = std::from_chars(q_end + 1, end, period);
  if (p_err != std::errc() || quota <= 0 || period <= 0) return 0;
  return static_cast<std::size_t>((quota + period - 1) / period);
}

}  // namespace

std::size_t cgroup_cpu_limit(const std::string& mount, const std::string& proc_self_cgroup) {
  // cgroup v2 has one line "0::/path"; v1 lines have controller names.
  std::istringstream lines(proc_self_cgroup);
  std::string line, path;
  while (std::getline(lines, line)) {
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  }
  if (path.empty() || path[0] != '/') return 0;
  std::size_t limit = 0;
  // The tightest quota on the way from this cgroup up to the root.
  for (;;) {
    const std::size_t cpus =
        quota_cpus(read_file(std::string(mount).append(path).append("/cpu.max")));
    if (cpus && (!limit || cpus < limit)) limit = cpus;
    if (path == "/") break;
    path.erase(path.find_last_of('/'));
    if (path.empty()) path.push_back('/');  // (not = "/": a false -Wrestrict in GCC 12 -O3)
  }
  return limit;
}

std::size_t available_cpus() {
  std::size_t n = std::thread::hardware_concurrency();
#ifdef __linux__
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) n = static_cast<std::size_t>(CPU_COUNT(&mask));
  const std::size_t quota = cgroup_cpu_limit("/sys/fs/cgroup", read_file("/proc/self/cgroup"));
  if (quota) n = std::min(n, quota);
#endif
  return std::max<std::size_t>(n, 1);
}

}  // namespace spindle::detail
