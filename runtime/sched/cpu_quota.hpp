// cpu_quota: how many workers "one per core" means for this process -- the
// CPUs it may run on, not the CPUs the machine has.
//
// Two limits apply, whichever is smaller:
//  * the affinity mask (taskset, cpusets, `docker --cpuset-cpus`);
//  * the cgroup v2 CPU bandwidth quota (`docker --cpus 2`, Kubernetes CPU
//    limits): cpu.max "QUOTA PERIOD" in the process's cgroup and each of its
//    ancestors, rounded up to whole CPUs. A container limited to 2 CPUs on a
//    64-core host gets 2 workers, not 64 (which would spend its quota in a
//    burst and then stall, throttled, for the rest of each period).
// Go 1.25 and the JVM do the same; Tokio and Rayon read the mask only.
#pragma once

#include <cstddef>
#include <string>

namespace spindle::detail {

// The default worker count: min(affinity mask, cgroup quota), at least 1.
std::size_t available_cpus();

// The cgroup v2 quota in whole CPUs (rounded up), or 0 for none. `mount` is
// where the cgroup2 hierarchy is mounted (/sys/fs/cgroup), `proc_self_cgroup`
// the text of /proc/self/cgroup. Separate for tests.
std::size_t cgroup_cpu_limit(const std::string& mount, const std::string& proc_self_cgroup);

}  // namespace spindle::detail
