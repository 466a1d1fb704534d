// parked_fibers: a program for tests/gdb/check.sh. Four named fibers block,
// each in a function of its own (a mutex, a channel, a sleep, a pipe read);
// the program prints "fiber <name> <id>" for each, then "ready", and raises
// SIGTRAP, which stops it under gdb: the script then lists the fibers and
// their backtraces, live and from a core file. Not meant to run outside gdb
// (SIGTRAP would end it).
//
//   parked_fibers [no-guard]
//
// `no-guard` turns options::stack_guard off: gdb's generate-core-file (and
// gcore) reads memory a MiB at a time and writes zeros for a whole MiB it
// cannot read, and with the guard regions of kernels >= 6.13
// (MADV_GUARD_INSTALL) inside the stack slabs, that is every fiber stack.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <spindle/spindle.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

spindle::mutex lock;
spindle::channel<int> never;
int pipe_fds[2];

// After a blocking call: the call is then no tail call, so the function
// keeps its frame and shows in the backtrace.
void keep_frame() {
  asm volatile("" ::: "memory");
}

[[gnu::noinline]] void hold_the_lock() {
  std::lock_guard g(lock);
  (void)never.recv();
  keep_frame();
}

[[gnu::noinline]] void wait_for_the_lock() {
  std::lock_guard g(lock);
  keep_frame();
}

[[gnu::noinline]] void sleep_for_an_hour() {
  spindle::this_fiber::sleep_for(std::chrono::hours(1));
  keep_frame();
}

[[gnu::noinline]] void wait_for_input() {
  spindle::io::wait_readable(pipe_fds[0]);
  keep_frame();
}

// Every fiber named in `names` shows as waiting in the dump.
bool all_waiting(spindle::runtime& rt, const std::vector<std::string>& names) {
  const std::string d = rt.dump();
  for (const std::string& n : names) {
    const auto at = d.find('"' + n + '"');
    if (at == std::string::npos) return false;
    const auto eol = d.find('\n', at);
    if (d.substr(at, eol - at).find(" waiting ") == std::string::npos) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) return 1;
  const bool guard = !(argc == 2 && std::string(argv[1]) == "no-guard");
  spindle::runtime rt(spindle::options{.workers = 2, .stack_guard = guard});
  std::vector<spindle::task<void>> tasks;
  const std::vector<std::string> names = {"holder", "locker", "sleeper", "reader"};
  tasks.push_back(rt.spawn(spindle::fiber_options{.name = "holder"}, hold_the_lock));
  while (!all_waiting(rt, {"holder"})) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  tasks.push_back(rt.spawn(spindle::fiber_options{.name = "locker"}, wait_for_the_lock));
  tasks.push_back(rt.spawn(spindle::fiber_options{.name = "sleeper"}, sleep_for_an_hour));
  tasks.push_back(rt.spawn(spindle::fiber_options{.name = "reader"}, wait_for_input));
  for (int i = 0; i < 10000 && !all_waiting(rt, names); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!all_waiting(rt, names)) {
    std::fprintf(stderr, "parked_fibers: the fibers did not all block:\n%s", rt.dump().c_str());
    return 1;
  }
  for (std::size_t i = 0; i < tasks.size(); ++i)
    std::printf("fiber %s %llu\n", names[i].c_str(),
                static_cast<unsigned long long>(tasks[i].id()));
  std::printf("ready\n");
  std::fflush(stdout);
  ::raise(SIGTRAP);
  std::_Exit(
      0);  // resumed under gdb (`continue`): the fibers stay blocked, the runtime is not unwound
}
