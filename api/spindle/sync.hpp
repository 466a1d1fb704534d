// spindle/sync.hpp: fiber-aware synchronisation. Every primitive suspends only
// the calling fiber (its worker runs other fibers meanwhile), works across
// workers, and also works from a plain thread, which then blocks. Each one
// lives in its own header under spindle/sync/.
#pragma once

#include <spindle/sync/barrier.hpp>
#include <spindle/sync/condition_variable.hpp>
#include <spindle/sync/condition_variable_any.hpp>
#include <spindle/sync/latch.hpp>
#include <spindle/sync/mutex.hpp>
#include <spindle/sync/recursive_mutex.hpp>
#include <spindle/sync/semaphore.hpp>
#include <spindle/sync/shared_mutex.hpp>
#include <spindle/sync/wait_group.hpp>
