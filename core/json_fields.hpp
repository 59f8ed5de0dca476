// Reading protocol fields out of Boost.JSON values, whichever way the parser stored them.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>

#include <boost/json/value.hpp>

namespace e3x {

inline constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();

// A JSON integer in 0..2^32-1 (stored as int64 or uint64); nullopt for anything else.
std::optional<std::uint32_t> json_u32(const boost::json::value& value);
// The same, excluding 0 (channel ids, seq values).
std::optional<std::uint32_t> json_positive_u32(const boost::json::value& value);
// True only for the JSON literal true (a missing key is false).
bool json_is_true(const boost::json::value* value);
// False when any number in `value` (at any depth) is not finite. Boost.JSON parses a number
// too large for a double (1e400) as infinity and would serialize it as `Infinity`, which is
// not JSON: such input is refused at the edge so it is never passed on.
bool json_all_finite(const boost::json::value& value);

}  // namespace e3x
