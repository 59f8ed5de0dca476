// Shared by the fuzz targets: an invariant check that libFuzzer reports as a crash, and the
// fixed keys the crypto targets use.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <boost/json/value.hpp>

#include "core/bytes.hpp"
#include "core/cs3a.hpp"

// A macro so the failure names the expression and line; abort() makes libFuzzer save the
// input as a crash, exactly like a sanitizer report.
#define E3X_FUZZ_CHECK(condition) \
  ((condition) ? (void)0 : ::e3x::fuzz::check_failed(#condition, __FILE__, __LINE__))

namespace e3x::fuzz {

[[noreturn]] inline void check_failed(const char* expression, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant failed: %s at %s:%d\n", expression, file, line);
  std::abort();
}

// The known-answer keys of ../shared/vectors/vectors.json ("keys"). With them the vectors'
// packets, which are the seeds, authenticate, so the fuzzer starts past the crypto checks.
// scripts/fuzz-seeds.py fails if these drift from the vectors.
inline constexpr std::string_view kSecretA =
    "3d16dfd265203fe56a7888ade2b43cd3043a12b7a4b6bc6456b70e58a2c78918";
inline constexpr std::string_view kSecretB =
    "d38018a4ba4875de21c827ccf85dfc73ef01288535eb3a4d00ff04ea6deccd3f";
inline constexpr std::string_view kSecretAEphemeral =
    "7b84f0e9c19678cdef4e0a4ea9160000168877e9418f32772e12c711e535f1de";
inline constexpr std::string_view kSecretBEphemeral =
    "1fb057e754e7a4ba2c34622447a7ac1727139403c760d75ed1f98a6664fe69af";

inline KeyPair keypair_from_hex(std::string_view secret_hex) {
  const Bytes bytes = from_hex(secret_hex).value();
  return keypair_from_secret(SecretKey(std::span<const std::uint8_t, 32>(bytes.data(), 32)));
}

// B's view of everything A (the vectors' sender) sends it: A's static and ephemeral keys,
// and the keys B opens A's messages and channel packets with. Built once per process.
struct FixedKeys {
  KeyPair a = keypair_from_hex(kSecretA);
  KeyPair b = keypair_from_hex(kSecretB);
  KeyPair a_ephemeral = keypair_from_hex(kSecretAEphemeral);
  KeyPair b_ephemeral = keypair_from_hex(kSecretBEphemeral);
  // Message packets from A's exchange to B (PROTOCOL.md section 4).
  SharedKey k_box = x25519_shared(a_ephemeral.public_key, b.secret_key);
  SharedKey s_static = x25519_shared(a.public_key, b.secret_key);
  // B's channel keys for the exchange between A's and B's ephemerals (section 6): B's `in`
  // is A's `out`.
  ChannelKeys b_channel =
      derive_channel_keys(x25519_shared(a_ephemeral.public_key, b_ephemeral.secret_key),
                          b_ephemeral.public_key, a_ephemeral.public_key);
  Token a_token = token_of(a_ephemeral.public_key);
};

inline const FixedKeys& fixed_keys() {
  static const FixedKeys keys;
  return keys;
}

// Equality of JSON values across a serialize -> parse round trip. Boost.JSON 1.81 parses
// doubles fast but not correctly rounded, so a double may come back an ulp or two off; that is
// the library's documented trade-off, not ours, and everything else must match exactly.
inline bool json_equivalent(const boost::json::value& a, const boost::json::value& b) {
  if (a.kind() != b.kind()) return false;
  if (a.is_double()) {
    const double x = a.get_double(), y = b.get_double();
    return x == y || std::abs(x - y) <= 1e-14 * std::max(std::abs(x), std::abs(y));
  }
  if (a.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!json_equivalent(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [key, value] : x) {
      const boost::json::value* other = y.if_contains(key);
      if (other == nullptr || !json_equivalent(value, *other)) return false;
    }
    return true;
  }
  return a == b;
}

inline ByteView view_of(const std::uint8_t* data, std::size_t size) {
  return {data, size};
}

// Reads a target's operation script; past the end every read yields zeros / empty, so any
// input is a whole script.
class ScriptReader {
 public:
  explicit ScriptReader(ByteView input) : input_(input) {}
  bool done() const { return position_ >= input_.size(); }
  std::uint8_t u8() { return done() ? 0 : input_[position_++]; }
  // Separate statements: the operands of | are unsequenced.
  std::uint16_t u16() {
    const std::uint16_t high = u8();
    return static_cast<std::uint16_t>((high << 8) | u8());
  }
  std::uint32_t u32() {
    const std::uint32_t high = u16();
    return (high << 16) | u16();
  }
  ByteView bytes(std::size_t wanted) {
    const std::size_t at = std::min(position_, input_.size());
    const std::size_t take = std::min(wanted, input_.size() - at);
    position_ += take;
    return input_.subspan(at, take);
  }
  ByteView rest() { return bytes(input_.size()); }

 private:
  ByteView input_;
  std::size_t position_ = 0;
};

}  // namespace e3x::fuzz
