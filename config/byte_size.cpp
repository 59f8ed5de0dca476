#include "config/byte_size.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace e3x {

namespace {

constexpr std::array<std::pair<std::string_view, std::uint64_t>, 8> kUnits{{
    {"B", 1},
    {"kB", 1000},
    {"KB", 1000},
    {"KiB", 1024},
    {"MB", 1000 * 1000},
    {"MiB", 1024 * 1024},
    {"GB", 1000 * 1000 * 1000},
    {"GiB", 1024ull * 1024 * 1024},
}};

std::string_view trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

}  // namespace

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  text = trim(text);
  std::size_t number_end = 0;
  while (number_end < text.size() &&
         ((text[number_end] >= '0' && text[number_end] <= '9') || text[number_end] == '.')) {
    ++number_end;
  }
  const std::string_view number = text.substr(0, number_end);
  const std::string_view unit = trim(text.substr(number_end));
  if (number.empty() || number.front() == '.' || number.back() == '.') return std::nullopt;

  std::uint64_t multiplier = 1;
  if (!unit.empty()) {
    bool known = false;
    for (const auto& [name, value] : kUnits) {
      if (unit == name) {
        multiplier = value;
        known = true;
      }
    }
    if (!known) return std::nullopt;
  }

  if (number.find('.') == std::string_view::npos) {
    std::uint64_t whole = 0;
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), whole);
    if (error != std::errc{} || end != number.data() + number.size()) return std::nullopt;
    if (whole > UINT64_MAX / multiplier) return std::nullopt;
    return whole * multiplier;
  }
  // A fraction: only with a unit larger than a byte, and only one point.
  if (multiplier == 1 || number.find('.') != number.rfind('.')) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (error != std::errc{} || end != number.data() + number.size()) return std::nullopt;
  const double bytes = std::floor(value * static_cast<double>(multiplier));
  // 2^64 as a double; anything at or beyond it does not fit.
  if (!(bytes < 18446744073709551616.0)) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

std::optional<std::uint64_t> parse_byte_rate(std::string_view text) {
  text = trim(text);
  if (!text.ends_with("/s")) return std::nullopt;
  const std::string_view size = trim(text.substr(0, text.size() - 2));
  // The unit is what says bytes (and not bits, or packets): it is required.
  if (size.empty() || (size.back() >= '0' && size.back() <= '9')) return std::nullopt;
  const std::optional<std::uint64_t> bytes = parse_byte_size(size);
  if (!bytes || *bytes == 0) return std::nullopt;
  return bytes;
}

}  // namespace e3x
