// stream_names: what a stream type's error messages say, one string per call
// ("spindle::net::unix_stream::read_some"), built at compile time from the
// type's name so that each type states it once:
//
//   constexpr detail::stream_names names = detail::stream_names::of("spindle::net::fd_stream");
//
// The strings live in the object, which must have static storage duration
// (descriptor_stream keeps a pointer to it).
#pragma once

#include <cstddef>
#include <spindle/detail/descriptor_stream.hpp>
#include <string_view>

namespace spindle::detail {

struct stream_names {
  // Room for "spindle::net::" + a type name + "::" + the longest call name.
  static constexpr std::size_t capacity = 80;
  using text = char[capacity];

  text read_some{};
  text read_exact{};
  text write_some{};
  text write_all{};
  text try_read_some{};
  text try_write_some{};
  text shutdown_write{};

  static consteval stream_names of(std::string_view type) {
    stream_names n;
    join(n.read_some, type, "::read_some");
    join(n.read_exact, type, "::read_exact");
    join(n.write_some, type, "::write_some");
    join(n.write_all, type, "::write_all");
    join(n.try_read_some, type, "::try_read_some");
    join(n.try_write_some, type, "::try_write_some");
    join(n.shutdown_write, type, "::shutdown_write");
    return n;
  }

 private:
  // out = a + b, NUL-terminated; a name too long fails the constant evaluation.
  static consteval void join(text& out, std::string_view a, std::string_view b) {
    if (a.size() + b.size() >= capacity) throw "stream_names: type name too long";
    std::size_t i = 0;
    for (char c : a) out[i++] = c;
    for (char c : b) out[i++] = c;
    out[i] = '\0';
  }
};

}  // namespace spindle::detail
