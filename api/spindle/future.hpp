// spindle futures: promise/future, async, when_all and when_any.
//
//   spindle::promise<int> p;  spindle::future<int> f = p.get_future();
//   auto g = spindle::async(fn, args...);             // fn in a new fiber
//   auto all = spindle::when_all(std::move(futures)); // future<std::vector<T>>
//   auto any = spindle::when_any(std::move(futures)); // future<std::size_t>
//
// Each lives in its own header; see them for the exact semantics.
#pragma once

#include <spindle/async.hpp>
#include <spindle/packaged_task.hpp>
#include <spindle/promise.hpp>
#include <spindle/when_all.hpp>
#include <spindle/when_any.hpp>
