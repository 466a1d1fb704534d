// parker: how an idle worker sleeps, and who drives the reactor meanwhile
// (Tokio: scheduler/multi_thread/park.rs, the same four states).
//
// A worker with nothing to run parks (worker::find_work, after idle_set has
// listed it as parked). One parked worker at a time becomes the *driver*: it
// takes the runtime's driver seat and blocks in reactor::poll(), so IO
// readiness needs no thread of its own; every other parked worker sleeps on
// its own park word (wait/sleep_word.hpp: a futex on Linux). Either way a
// sleeper wakes by unpark(), or at its runtime's nearest timer at the latest,
// and then fires the due timers.
//
// The states of one worker's parker (`state_`), between the worker (owner)
// and unpark() (any thread):
//
//   empty           running, no notification pending
//   notified        unpark() came: the next park() returns at once, consuming it
//   parked_asleep   asleep on `state_` itself (sleep_while)
//   parked_driver   asleep in reactor::poll() with the driver seat
//
//   park():   notified -> empty, return           (no sleep)
//             empty -> parked_driver | parked_asleep -> (woken) -> empty
//   unpark(): any -> notified; a parked_asleep sleeper is woken by wake_one
//             on `state_`, a parked_driver sleeper by reactor::wake()
//
// With the io_uring backend (io/uring/io_ring.hpp) every parked worker
// sleeps in its own ring instead, so the completions of its fibers'
// operations wake it: the driver with a poll request on the reactor's
// descriptor in the ring, the others with the ring alone; unpark() of an
// asleep worker writes the ring's wake eventfd instead of a futex wake.
//
// Invariants:
//  * Only the holder of the driver seat (`driver_seat::busy`) calls
//    reactor::poll(), blocking or not; at most one worker holds it.
//  * An unpark() is never lost: it either finds the state it must wake (and
//    wakes it: the sleeper sleeps only while `state_` is still
//    parked_asleep, and unpark changed it before its wake_one;
//    reactor::wake() is sticky until the next poll), or it leaves `notified`
//    for the next park().
//  * Nobody sleeps past the nearest timer: the driver polls until it, a
//    sleeping worker waits until it (in case the driver is busy running
//    fibers). A timer that becomes the earliest deadline while they sleep
//    goes through on_earlier_deadline(): after a full fence it wakes the
//    driver if `driver_seat::sleeping` is set, else one asleep worker. The
//    driver sets `sleeping` and fences before it reads the next deadline, so
//    either it sees the new timer or on_earlier_deadline() sees it asleep.
//  * Fibers a poll readies go to the polling worker's own ring, in event
//    order (worker::polling); other workers are told once, after the poll
//    (worker::polled_work).
#pragma once

#include <atomic>
#include <spindle/detail/waiter.hpp>

namespace spindle::detail {

class io_ring;
class reactor;
class runtime_core;
class worker;

// The right to block in reactor::poll(), one per runtime (Tokio: the driver's
// TryLock). Touched only by parker.
struct driver_seat {
  // At most one worker polls the reactor; it holds this flag meanwhile.
  alignas(64) std::atomic<bool> busy{false};
  // True while the holder is inside a blocking reactor::poll().
  std::atomic<bool> sleeping{false};
};

// One per worker.
class parker {
 public:
  explicit parker(reactor& r) noexcept : reactor_(r) {}
  parker(const parker&) = delete;
  parker& operator=(const parker&) = delete;

  // The io_uring backend: park in `r` from now on. Before the worker starts.
  void sleep_in(io_ring* r) noexcept { ring_ = r; }

  // Owner only: sleeps until unpark(), IO (as the driver) or the runtime's
  // nearest timer, then fires the due timers. Returns at once if an unpark()
  // is pending or the runtime is stopping.
  void park(worker& w);

  // Any thread: wakes the worker if it sleeps, or makes its next park()
  // return at once.
  void unpark() noexcept;

  // Owner only (worker::periodic_check): polls the reactor without blocking,
  // unless it has no sockets or another worker holds the driver seat.
  static void poll_io_nonblocking(worker& w) noexcept;

  // Any thread: a timer became the earliest deadline, so a sleeper must
  // shorten its sleep (runtime_core::add_timer).
  static void on_earlier_deadline(runtime_core& rt) noexcept;

 private:
  enum : int { empty = 0, notified = 1, parked_asleep = 2, parked_driver = 3 };

  void park_driver(worker& w);
  void park_asleep(worker& w);
  // Polls the reactor until `deadline` (see reactor::poll) with worker::polling set.
  static void poll_io(worker& w, clock::time_point deadline) noexcept;

  reactor& reactor_;  // the runtime's; outlives the workers
  io_ring* ring_ = nullptr;  // the worker's, with the io_uring backend
  std::atomic<int> state_{empty};
};

}  // namespace spindle::detail
