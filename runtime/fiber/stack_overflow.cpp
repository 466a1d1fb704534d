#include "fiber/stack_overflow.hpp"

#include "sched/context.hpp"
#include "sched/runtime_core.hpp"
#include "sched/worker.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace spindle::detail {
namespace {

struct sigaction previous_segv, previous_bus;

// The guard region is at least as deep as any frame the compiler lets skip
// past untouched (stack_pool.hpp), so an overflow faults inside it. Below it
// lies the top of the next stack down: a fault there is no overflow of this
// stack.
bool in_guard_zone(const stack_block* s, const char* addr, std::size_t guard) {
  return addr < s->bottom && addr >= s->bottom - guard;
}

// Appends the decimal digits of n at p; returns the new end. snprintf is not
// async-signal-safe.
char* append_decimal(char* p, unsigned long long n) {
  char digits[20];
  int k = 0;
  do digits[k++] = static_cast<char>('0' + n % 10);
  while (n /= 10);
  while (k) *p++ = digits[--k];
  return p;
}

char* append(char* p, const char* text) {
  while (*text) *p++ = *text++;
  return p;
}

// "spindle: fiber stack overflow (stack_size = N KiB) in fiber ID "NAME"",
// written with one write(2). The fiber is whoever runs: a child that join()
// runs inline on its joiner's stack is named, not the joiner.
void report_overflow(const fiber& f) {
  const fiber& who = running_on(f);
  char msg[128 + fiber_name::inline_capacity];
  char* p = append(msg, "spindle: fiber stack overflow (stack_size = ");
  p = append_decimal(p, f.sched.stack->pool->stack_size() / 1024);
  p = append(p, " KiB) in fiber ");
  p = append_decimal(p, who.sched.id);
  if (!who.name.empty()) {
    std::string_view name = who.name.view().substr(0, fiber_name::inline_capacity);
    *p++ = ' ';
    *p++ = '"';
    for (char c : name) *p++ = c;
    *p++ = '"';
  }
  *p++ = '\n';
  [[maybe_unused]] auto r = ::write(STDERR_FILENO, msg, static_cast<std::size_t>(p - msg));
}

void forward(int sig, siginfo_t* info, void* uctx) {
  const struct sigaction& prev = sig == SIGBUS ? previous_bus : previous_segv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // Default action: re-raise with the default disposition on return.
  signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  worker* w = current_worker();
  fiber* f = w ? w->current : nullptr;
  if (f && f->sched.stack &&
      in_guard_zone(f->sched.stack, static_cast<const char*>(info->si_addr),
                    f->sched.stack->pool->guard_size())) {
    report_overflow(*f);
    std::abort();
  }
  forward(sig, info, uctx);
}

void install_handler_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
  });
}

}  // namespace

stack_overflow_guard::stack_overflow_guard() {
  install_handler_once();
  stack_t current;
  if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // one exists
  size_ = std::max<std::size_t>(SIGSTKSZ, 64 * 1024);
  altstack_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (altstack_ == MAP_FAILED) {
    altstack_ = nullptr;
    return;
  }
  stack_t ss{};
  ss.ss_sp = altstack_;
  ss.ss_size = size_;
  installed_ = sigaltstack(&ss, nullptr) == 0;
}

stack_overflow_guard::~stack_overflow_guard() {
  if (installed_) {
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
  }
  if (altstack_) ::munmap(altstack_, size_);
}

}  // namespace spindle::detail
