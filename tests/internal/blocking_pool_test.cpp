// blocking_pool (runtime/sched/blocking_pool.hpp) tested directly: a job is
// never queued behind a running call while the pool may still start a thread.

#include "sched/blocking_pool.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using spindle::detail::blocking_job;
using spindle::detail::blocking_pool;

// Calls that each wait until `parties` of them run at the same time (or
// 30 s: a call queued behind another never sees the rest, and the test then
// fails instead of hanging).
struct rendezvous {
  explicit rendezvous(int parties) : parties(parties) {}
  const int parties;
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;
  int met = 0;  // calls that saw all the parties
  int ran = 0;

  void arrive() {
    std::unique_lock<std::mutex> g(m);
    ++ran;
    ++arrived;
    cv.notify_all();
    if (cv.wait_for(g, std::chrono::seconds(30), [&] { return arrived >= parties; })) ++met;
  }
  void wait_ran(int n) {
    std::unique_lock<std::mutex> g(m);
    cv.wait(g, [&] { return ran >= n; });
  }
};

class rendezvous_job final : public blocking_job {
 public:
  explicit rendezvous_job(rendezvous& r) : r_(r) {}

 private:
  void run() noexcept override { r_.arrive(); }
  rendezvous& r_;
};

// The submitter's reference, as run_blocking's frame holds it.
struct job_ref {
  blocking_job* job;
  explicit job_ref(blocking_job* j) : job(j) {}
  job_ref(const job_ref&) = delete;
  job_ref& operator=(const job_ref&) = delete;
  ~job_ref() { job->release(); }
};

void wait_idle(blocking_pool& pool, std::size_t n) {
  while (pool.current_counts().idle != n) std::this_thread::yield();
}

TEST(BlockingPool, TwoCallsSubmittedTogetherToOneIdleThreadRunAtOnce) {
  blocking_pool pool(4);
  rendezvous warm_up(1);
  job_ref first(new rendezvous_job(warm_up));
  pool.submit(*first.job);
  warm_up.wait_ran(1);
  wait_idle(pool, 1);  // one thread, waiting for work

  // Back to back: the thread notified for the first call has not run yet
  // when the second comes, and it will take only one of them.
  rendezvous pair(2);
  job_ref a(new rendezvous_job(pair));
  job_ref b(new rendezvous_job(pair));
  pool.submit(*a.job);
  pool.submit(*b.job);
  pair.wait_ran(2);
  pool.stop();
  EXPECT_EQ(pair.met, 2) << "a call waited behind the other instead of getting a thread";
  EXPECT_EQ(pool.current_counts().threads, 0u);
}

TEST(BlockingPool, AsManyThreadsAsCallsUpToTheBound) {
  constexpr int calls = 8;
  blocking_pool pool(calls);
  rendezvous all(calls);
  std::vector<std::unique_ptr<job_ref>> refs;
  for (int i = 0; i < calls; ++i) {
    refs.push_back(std::make_unique<job_ref>(new rendezvous_job(all)));
    pool.submit(*refs.back()->job);
  }
  all.wait_ran(calls);
  pool.stop();
  EXPECT_EQ(all.met, calls);
}

}  // namespace
