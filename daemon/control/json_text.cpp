#include "daemon/control/json_text.hpp"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>

namespace e3x::control {

namespace json = boost::json;

namespace {

// The shortest digits that denote the same double: without an exponent from 1e-6 up to
// 1e21, with one beyond, as JavaScript writes numbers (hundreds of digits help nobody, and
// Boost's parser misreads the longest).
void write_double(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  const double magnitude = std::fabs(value);
  const bool plain = magnitude == 0 || (magnitude >= 1e-6 && magnitude < 1e21);
  char buffer[64];
  const auto [end, error] =
      std::to_chars(buffer, buffer + sizeof buffer, value,
                    plain ? std::chars_format::fixed : std::chars_format::scientific);
  if (error != std::errc()) {  // cannot happen with this buffer; Boost's form is still JSON
    out += json::serialize(json::value(value));
    return;
  }
  const std::string_view digits(buffer, static_cast<std::size_t>(end - buffer));
  out += digits;
  if (plain && digits.find('.') == std::string_view::npos) out += ".0";
}

void write(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += value.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      out += std::to_string(value.get_int64());
      return;
    case json::kind::uint64:
      out += std::to_string(value.get_uint64());
      return;
    case json::kind::double_:
      write_double(out, value.get_double());
      return;
    case json::kind::string:
      out += json::serialize(value.get_string());
      return;
    case json::kind::array: {
      out += '[';
      bool comma = false;
      for (const json::value& item : value.get_array()) {
        if (comma) out += ',';
        comma = true;
        write(out, item);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      out += '{';
      bool comma = false;
      for (const auto& [key, item] : value.get_object()) {
        if (comma) out += ',';
        comma = true;
        out += json::serialize(key);
        out += ':';
        write(out, item);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string to_json_text(const json::value& value) {
  std::string out;
  write(out, value);
  return out;
}

}  // namespace e3x::control
