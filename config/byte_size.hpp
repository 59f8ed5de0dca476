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

}  // namespace e3x
