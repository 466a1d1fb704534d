// sleep_word: a thread sleeps until a 32-bit atomic changes, as on Linux's
// futex: the primitive under the idle workers' parker (sched/parker.cpp).
//
// Why not a mutex and a condition variable: the waker must take the mutex to
// notify, and the woken thread then needs the same mutex to return from
// wait(), so a wake often meant a second sleep and wake on the mutex
// (`__lll_lock_wait` in a profile of the http server: ~2% of its CPU). Here
// a wake is one system call and the sleeper returns without a lock.
//
// The contract (both implementations):
//  * sleep_while(w, v, deadline) returns at once if w != v; else it sleeps
//    until a wake_one(w) after w changed, or the deadline (no_deadline:
//    none). It may also return for no reason: callers re-check w.
//  * The waker changes w first, then calls wake_one(w): a sleeper that read
//    the old value is asleep by then or returns at once, so no wake is lost.
//
// Linux: the futex system call (sleep_word_futex.cpp). Elsewhere: a table of
// mutexes and condition variables hashed by address (sleep_word_portable.cpp,
// the kqueue platforms). runtime/CMakeLists.txt picks one.
#pragma once

#include <atomic>
#include <spindle/detail/clock.hpp>

namespace spindle::detail {

void sleep_while(std::atomic<int>& word, int value, clock::time_point deadline) noexcept;
void wake_one(std::atomic<int>& word) noexcept;

}  // namespace spindle::detail
