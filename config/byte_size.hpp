// Sizes in the configuration: an integer is bytes, a string carries its unit ("4 MiB",
// "512 KiB", "2 MB", "100 B"), binary units being powers of 1024 and decimal ones powers of
// 1000, as people write them (and as `ip`, `tc` and systemd read them).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace e3x {

// The size in bytes, or nullopt when `text` is not a number with a known unit or does not fit
// in 64 bits. Fractions are allowed with a unit ("1.5 MiB") and rounded down to a byte.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

// The units parse_byte_size knows, for error messages.
inline constexpr std::string_view kByteSizeUnits = "B, kB, KiB, MB, MiB, GB, GiB";

// A rate in bytes per second: a byte size with its unit, then "/s" ("2 MB/s", "512 KiB/s",
// "1000 B/s"). The unit is required (a bare "1000/s" is refused, as is "2 MB" without "/s"),
// and so is a rate of at least one byte a second: nullopt otherwise.
std::optional<std::uint64_t> parse_byte_rate(std::string_view text);

}  // namespace e3x
