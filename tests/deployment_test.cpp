// What a runtime does for the machine it is deployed on: the default worker
// count follows the affinity mask and the cgroup v2 CPU quota, worker and
// blocking-pool threads carry names, and worker start/stop hooks run on each
// worker thread.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <spindle/runtime.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "sched/cpu_quota.hpp"

namespace {

namespace fs = std::filesystem;

// A fake cgroup2 mount: cpu.max files along a path.
struct fake_cgroups {
  fs::path root = fs::temp_directory_path() / ("spindle-cgroup-" + std::to_string(::getpid()));
  fake_cgroups() { fs::create_directories(root); }
  ~fake_cgroups() { fs::remove_all(root); }
  void cpu_max(const std::string& path, const std::string& text) {
    fs::create_directories(root / path.substr(1));
    std::ofstream(root / path.substr(1) / "cpu.max") << text;
  }
};

TEST(CpuQuota, TheTightestQuotaOnThePathRoundedUp) {
  fake_cgroups cg;
  cg.cpu_max("/", "max 100000\n");
  cg.cpu_max("/kubepods", "400000 100000\n");        // 4 CPUs
  cg.cpu_max("/kubepods/pod1", "150000 100000\n");   // 1.5 CPUs -> 2
  cg.cpu_max("/kubepods/pod1/app", "max 100000\n");  // no limit of its own
  EXPECT_EQ(spindle::detail::cgroup_cpu_limit(cg.root.string(), "0::/kubepods/pod1/app\n"), 2u);
  EXPECT_EQ(spindle::detail::cgroup_cpu_limit(cg.root.string(), "0::/kubepods\n"), 4u);
  EXPECT_EQ(spindle::detail::cgroup_cpu_limit(cg.root.string(), "0::/\n"), 0u);
}

TEST(CpuQuota, NoV2LineOrNoFilesMeansNoLimit) {
  fake_cgroups cg;
  EXPECT_EQ(spindle::detail::cgroup_cpu_limit(cg.root.string(), "4:cpu,cpuacct:/docker/abc\n"), 0u);
  EXPECT_EQ(spindle::detail::cgroup_cpu_limit(cg.root.string(), "0::/nothing/here\n"), 0u);
  cg.cpu_max("/junk", "lots of cpu\n");
  EXPECT_EQ(spindle::detail::cgroup_cpu_limit(cg.root.string(), "0::/junk\n"), 0u);
}

TEST(CpuQuota, TheDefaultWorkerCountFollowsTheAffinityMask) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &saved)) {
      CPU_SET(c, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  std::size_t workers = 0;
  {
    spindle::runtime rt;  // the workers inherit the one-CPU mask too
    workers = rt.workers();
  }
  sched_setaffinity(0, sizeof saved, &saved);
  EXPECT_EQ(workers, 1u);
  EXPECT_EQ(spindle::runtime().workers(), spindle::detail::available_cpus());
}

// The names of this process's threads right now.
std::multiset<std::string> thread_names() {
  std::multiset<std::string> names;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::string name;
    std::getline(std::ifstream(task.path() / "comm"), name);
    names.insert(name);
  }
  return names;
}

TEST(WorkerThreads, CarryNames) {
  spindle::runtime rt(spindle::options{.workers = 3});
  rt.block_on([] { spindle::run_blocking([] {}); });
  // Each worker names itself when its thread starts, which nothing here
  // waits for: look again until all three have (bounded, not timed).
  auto names = thread_names();
  for (int i = 0; i < 1000 && !(names.count("spindle-w0") && names.count("spindle-w1") &&
                                names.count("spindle-w2"));
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    names = thread_names();
  }
  EXPECT_EQ(names.count("spindle-w0"), 1u);
  EXPECT_EQ(names.count("spindle-w1"), 1u);
  EXPECT_EQ(names.count("spindle-w2"), 1u);
  EXPECT_GE(names.count("spindle-blk"), 1u);
}

TEST(WorkerThreads, StartAndStopHooksRunOnEachWorker) {
  std::mutex m;
  std::set<std::size_t> started, stopped;
  std::set<std::thread::id> start_threads, stop_threads;
  std::atomic<int> fibers_seen_by_started_workers{0};
  {
    spindle::options o{.workers = 3};
    o.on_worker_start = [&](std::size_t i) {
      std::lock_guard g(m);
      started.insert(i);
      start_threads.insert(std::this_thread::get_id());
    };
    o.on_worker_stop = [&](std::size_t i) {
      std::lock_guard g(m);
      stopped.insert(i);
      stop_threads.insert(std::this_thread::get_id());
    };
    spindle::runtime rt(o);
    rt.block_on([&] {
      std::lock_guard g(m);
      if (start_threads.count(std::this_thread::get_id())) ++fibers_seen_by_started_workers;
    });
  }
  EXPECT_EQ(started, (std::set<std::size_t>{0, 1, 2}));
  EXPECT_EQ(stopped, (std::set<std::size_t>{0, 1, 2}));
  EXPECT_EQ(start_threads, stop_threads);               // each on its own worker thread
  EXPECT_EQ(fibers_seen_by_started_workers.load(), 1);  // hooks ran before any fiber
}

TEST(WorkerThreads, AThrowingHookIsReportedAndIgnored) {
  spindle::options o{.workers = 2};
  o.on_worker_start = [](std::size_t) { throw std::runtime_error("pinning failed"); };
  testing::internal::CaptureStderr();
  int v = 0;
  {
    spindle::runtime rt(o);
    v = rt.block_on([] { return 7; });
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(v, 7);
  EXPECT_NE(
      err.find("spindle: options::on_worker_start threw on worker 0: pinning failed (ignored)"),
      std::string::npos)
      << err;
}

}  // namespace
