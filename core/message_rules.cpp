#include "core/message_rules.hpp"

#include "core/sha256.hpp"

namespace e3x {

const char* to_string(ExpiryVerdict verdict) {
  switch (verdict) {
    case ExpiryVerdict::kValid:
      return "valid";
    case ExpiryVerdict::kMissing:
      return "no expiry";
    case ExpiryVerdict::kExpired:
      return "expired";
    case ExpiryVerdict::kTooFarAhead:
      return "expiry too far ahead";
  }
  return "?";
}

std::optional<std::int64_t> message_expires(const boost::json::object& head) {
  const boost::json::value* expires = head.if_contains("expires");
  if (!expires) return std::nullopt;
  if (expires->is_int64()) return expires->get_int64();
  if (expires->is_uint64() && expires->get_uint64() <= INT64_MAX) {
    return static_cast<std::int64_t>(expires->get_uint64());
  }
  return std::nullopt;
}

ExpiryVerdict check_expiry(const boost::json::object& head, std::int64_t unix_now,
                           std::int64_t max_ahead) {
  const auto expires = message_expires(head);
  if (!expires) return ExpiryVerdict::kMissing;
  if (*expires <= unix_now) return ExpiryVerdict::kExpired;
  if (*expires - unix_now > max_ahead) return ExpiryVerdict::kTooFarAhead;
  return ExpiryVerdict::kValid;
}

std::string payload_sha256(ByteView body) {
  return to_hex(sha256(body));
}

}  // namespace e3x
