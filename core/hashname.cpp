#include "core/hashname.hpp"

#include <algorithm>

#include "core/base32.hpp"

namespace e3x {

namespace {

constexpr std::size_t kHashnameLength = 52;

// A compact-key name is exactly two hex digits; from_hex alone would accept "3A" and "3a"
// alike, which is what we want, but not lengths other than 2.
std::optional<std::uint8_t> csid_from_key(std::string_view key) {
  if (key.size() != 2) return std::nullopt;
  std::optional<Bytes> byte = from_hex(key);
  if (!byte) return std::nullopt;
  return (*byte)[0];
}

}  // namespace

std::string Hashname::to_string() const {
  return base32_encode(digest);
}

std::optional<Hashname> Hashname::parse(std::string_view text) {
  if (text.size() != kHashnameLength) return std::nullopt;
  std::optional<Bytes> bytes = base32_decode(text);
  if (!bytes || bytes->size() != Digest{}.size()) return std::nullopt;
  Hashname hashname;
  std::copy(bytes->begin(), bytes->end(), hashname.digest.begin());
  return hashname;
}

Hashname hashname_of(const PublicKey& key_3a, const CompactKeys& others) {
  // The rollup runs over all CSIDs in ascending order; std::map is already sorted, and the
  // 3a key is slotted in where it belongs. A 0x3a entry in `others` is ignored: the real
  // key always wins.
  CompactKeys all = others;
  all[kCsid3a] = sha256(key_3a);

  Digest rollup{};
  bool first = true;
  for (const auto& [csid, intermediate] : all) {
    const std::uint8_t csid_byte[1] = {csid};
    // The rollup starts from an empty hash, so the first step hashes the CSID alone.
    rollup = first ? sha256(ByteView(csid_byte)) : sha256({rollup, ByteView(csid_byte)});
    first = false;
    rollup = sha256({rollup, intermediate});
  }
  return Hashname{rollup};
}

std::optional<CompactKeys> parse_compact_keys(const boost::json::object& json) {
  CompactKeys keys;
  for (const auto& entry : json) {
    std::optional<std::uint8_t> csid = csid_from_key(entry.key());
    if (!csid || *csid == kCsid3a) return std::nullopt;
    if (!entry.value().is_string()) return std::nullopt;
    const boost::json::string& text = entry.value().get_string();
    std::optional<Bytes> intermediate = base32_decode(std::string_view(text));
    if (!intermediate || intermediate->size() != Digest{}.size()) return std::nullopt;
    Digest digest;
    std::copy(intermediate->begin(), intermediate->end(), digest.begin());
    keys[*csid] = digest;
  }
  return keys;
}

Order order_of(const PublicKey& ours, const PublicKey& theirs) {
  // std::array compares lexicographically as unsigned bytes: big-endian order.
  if (ours > theirs) return Order::kHigh;
  if (ours < theirs) return Order::kLow;
  return Order::kSame;
}

}  // namespace e3x
