// "Did you mean ...?" for a mistyped name: the configuration's unknown keys (config.cpp) and
// e3xctl's unknown commands share one rule, so both guess alike.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace e3x::config {

// Edit distance counting a swap of neighbours as one edit (optimal string alignment).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate a mistyped `word` most likely meant: the nearest within two edits (the first
// of equally near ones), for words of three characters or more (shorter ones are within two
// edits of too much); none otherwise.
std::optional<std::string_view> did_you_mean(std::string_view word,
                                             const std::vector<std::string_view>& candidates);

}  // namespace e3x::config
