// The rules every application message must pass before anyone acts on it (PROTOCOL.md
// section 10 rule 7), as pure functions, so the Endpoint (messages from the network), the
// daemon (sealed files handed in, mail picked up from a mailbox) and the tests apply the same
// ones.
//
// - A message must carry "expires" (Unix seconds): one without it, one whose time has passed,
//   or one further ahead than the recipient's maximum is dropped without a receipt. A replay
//   of an old message is therefore refused once it has expired, and a recipient only has to
//   remember (tombstone) what it acknowledged until then.
// - The inbox de-duplicates on (sender, id, SHA-256 of the payload), and the receipt carries
//   that hash, so a sender only counts a message delivered when the recipient stored exactly
//   what it sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "core/bytes.hpp"

namespace e3x {

// How far ahead a message's "expires" may be by default (30 days).
inline constexpr std::int64_t kDefaultMaxMessageAhead = 30 * 24 * 3600;

enum class ExpiryVerdict {
  kValid,
  kMissing,      // no "expires", or not an integer
  kExpired,      // expires <= now
  kTooFarAhead,  // expires > now + the recipient's maximum
};
const char* to_string(ExpiryVerdict verdict);

// The "expires" of a message head, if it is an integer.
std::optional<std::int64_t> message_expires(const boost::json::object& head);
ExpiryVerdict check_expiry(const boost::json::object& head, std::int64_t unix_now,
                           std::int64_t max_ahead = kDefaultMaxMessageAhead);

// The hash a receipt names: lower-case hex SHA-256 of the payload.
std::string payload_sha256(ByteView body);

// The type of the message that acknowledges another; its head carries the acknowledged
// message's "id" and "sha256" (PROTOCOL.md 10.7).
inline constexpr const char* kReceiptType = "receipt";

}  // namespace e3x
