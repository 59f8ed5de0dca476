#include <string_view>

#include "config/config.hpp"

namespace e3x::config {

namespace {
constexpr std::string_view kLevelNames[] = {"trace", "debug", "info", "warn", "error"};
}

const char* to_string(LogLevel level) {
  return kLevelNames[static_cast<int>(level)].data();  // literals: NUL-terminated
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (int i = 0; i < 5; ++i) {
    if (kLevelNames[i] == text) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

}  // namespace e3x::config
