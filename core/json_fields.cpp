#include "core/json_fields.hpp"

#include <cmath>

namespace e3x {

std::optional<std::uint32_t> json_u32(const boost::json::value& value) {
  if (value.is_int64()) {
    const std::int64_t number = value.get_int64();
    if (number < 0 || static_cast<std::uint64_t>(number) > kU32Max) return std::nullopt;
    return static_cast<std::uint32_t>(number);
  }
  if (value.is_uint64()) {
    const std::uint64_t number = value.get_uint64();
    if (number > kU32Max) return std::nullopt;
    return static_cast<std::uint32_t>(number);
  }
  return std::nullopt;
}

std::optional<std::uint32_t> json_positive_u32(const boost::json::value& value) {
  auto number = json_u32(value);
  if (!number || *number == 0) return std::nullopt;
  return number;
}

bool json_is_true(const boost::json::value* value) {
  return value != nullptr && value->is_bool() && value->get_bool();
}

bool json_all_finite(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::double_:
      return std::isfinite(value.get_double());
    case boost::json::kind::array:
      for (const auto& item : value.get_array()) {
        if (!json_all_finite(item)) return false;
      }
      return true;
    case boost::json::kind::object:
      for (const auto& [key, item] : value.get_object()) {
        if (!json_all_finite(item)) return false;
      }
      return true;
    default:
      return true;
  }
}

}  // namespace e3x
