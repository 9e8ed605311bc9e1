// SPDX-License-Identifier: Apache-2.0
// Lenient readers of JSON members, for JSON the reader did not validate itself (a plugin's
// result in the host, a backend's answer in a plugin): a missing member or one of another type
// gives nullopt, and the caller says what stands in for it. (Requests a plugin must refuse when
// malformed are read with the strict accessors of plugin.hpp instead.) Header-only.
#pragma once

#include <boost/json.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agent_runner::sdk {
inline namespace v1 {

// The value as an int64_t when it is a whole number that fits (converting a double outside the
// range would be undefined behaviour).
inline std::optional<int64_t> exact_int(const boost::json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    // 2^63 is exactly representable; every double below it converts.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != std::trunc(d))
      return std::nullopt;
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

inline std::optional<std::string> string_member(const boost::json::object& o,
                                                std::string_view key) {
  if (const auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->get_string());
  return std::nullopt;
}

inline std::optional<int64_t> int_member(const boost::json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key)) return exact_int(*v);
  return std::nullopt;
}

inline std::optional<bool> bool_member(const boost::json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v && v->is_bool()) return v->get_bool();
  return std::nullopt;
}

}  // namespace v1
}  // namespace agent_runner::sdk
