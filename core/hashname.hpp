// Hashnames and endpoint order (PROTOCOL.md section 2, telehash-v3/hashname.md).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/cs3a.hpp"
#include "core/sha256.hpp"

namespace e3x {

// The 32-byte digest behind a hashname; its text form is 52 base32 characters.
struct Hashname {
  Digest digest{};

  std::string to_string() const;
  // Accepts exactly 52 base32 characters that decode to 32 bytes.
  static std::optional<Hashname> parse(std::string_view text);

  friend auto operator<=>(const Hashname&, const Hashname&) = default;
};

// Intermediates of the sender's other cipher sets, by CSID byte (never 0x3a).
using CompactKeys = std::map<std::uint8_t, Digest>;

// hashname = rollup over the sorted CSIDs of (csid byte, intermediate), where the 3a
// intermediate is SHA256(key).
Hashname hashname_of(const PublicKey& key_3a, const CompactKeys& others = {});

// Parses a handshake's compact-key HEAD {"<csid hex>":"<base32 intermediate>"}.
// nullopt when a key is not two hex digits, is "3a", or a value is not 32 bytes of base32.
std::optional<CompactKeys> parse_compact_keys(const boost::json::object& json);

enum class Order {
  kHigh,  // our key is larger: odd SEQs and odd channel ids
  kLow,   // our key is smaller: even SEQs and even channel ids
  kSame,  // equal keys: the peer is ourselves, refuse it
};
// Compares the two 3a public keys as unsigned big-endian byte strings.
Order order_of(const PublicKey& ours, const PublicKey& theirs);

}  // namespace e3x

template <>
struct std::hash<e3x::Hashname> {
  std::size_t operator()(const e3x::Hashname& h) const noexcept {
    std::size_t out = 0;
    for (int i = 0; i < 8; ++i) out = (out << 8) | h.digest[i];
    return out;
  }
};
