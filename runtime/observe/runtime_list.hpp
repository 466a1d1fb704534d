// runtime_list: every live runtime of the process, linked from one global,
// so that a debugger can find them without any thread's help: the gdb
// script (scripts/gdb/spindle.py) starts from `spindle::detail::all_runtimes`
// and walks each runtime's fiber registry, in a live process or a core file.
//
// Nothing in spindle reads the list. An entry is a member of runtime_core: it
// links itself in when the runtime is built and out when it is destroyed,
// under a mutex (runtime_list.cpp), twice per runtime's life.
#pragma once

namespace spindle::detail {

class runtime_core;

struct runtime_list_entry {
  explicit runtime_list_entry(runtime_core& r);
  ~runtime_list_entry();
  runtime_list_entry(const runtime_list_entry&) = delete;
  runtime_list_entry& operator=(const runtime_list_entry&) = delete;

  runtime_core* const rt;
  runtime_list_entry* prev = nullptr;  // guarded by the list's mutex
  runtime_list_entry* next = nullptr;
};

// The newest runtime's entry, or null; guarded by the list's mutex.
extern runtime_list_entry* all_runtimes;

}  // namespace spindle::detail
