// spindle: an embeddable M:N fiber runtime. This header brings in everything.
#pragma once

#include <spindle/cancel.hpp>
#include <spindle/channel.hpp>
#include <spindle/fiber_local.hpp>
#include <spindle/file.hpp>
#include <spindle/future.hpp>
#include <spindle/net.hpp>
#include <spindle/runtime.hpp>
#include <spindle/signal_set.hpp>
#include <spindle/sync.hpp>
#include <spindle/task.hpp>
#include <spindle/this_fiber.hpp>
#include <spindle/version.hpp>
