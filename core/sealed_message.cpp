#include "core/sealed_message.hpp"

#include "core/lob.hpp"

namespace e3x {

const char* to_string(OpenMessageError error) {
  switch (error) {
    case OpenMessageError::kMalformed:
      return "not a sealed message packet";
    case OpenMessageError::kNotForUs:
      return "it does not open with this identity: sealed for someone else, or altered";
    case OpenMessageError::kNotApplication:
      return "it is not an application message (a handshake, or no type/from/id)";
    case OpenMessageError::kUnknownSender:
      return "the sender is not known";
    case OpenMessageError::kBadAuth:
      return "authentication failed: altered, or not sealed by the sender it names";
  }
  return "?";
}

namespace {

const boost::json::string* string_member(const boost::json::object& json, const char* key) {
  const boost::json::value* value = json.if_contains(key);
  return value && value->is_string() ? &value->get_string() : nullptr;
}

}  // namespace

Result<ApplicationMessage, OpenMessageError> open_application_message(
    const KeyPair& identity, ByteView outer, const SenderKeyLookup& sender_key) {
  const auto parts = parse_message(outer);
  if (!parts) return unexpected(OpenMessageError::kMalformed);
  const SharedKey k_box = x25519_shared(parts->key, identity.secret_key);
  const auto inner = open_message_box(*parts, k_box);
  if (!inner) return unexpected(OpenMessageError::kNotForUs);
  const auto decoded = lob_decode(*inner);
  if (!decoded || !decoded->json) return unexpected(OpenMessageError::kNotApplication);
  const boost::json::object& head = *decoded->json;
  const auto* type = string_member(head, "type");
  const auto* from = string_member(head, "from");
  const auto* id = string_member(head, "id");
  if (!type || !from || !id) return unexpected(OpenMessageError::kNotApplication);
  const auto sender = Hashname::parse(std::string_view(*from));
  if (!sender) return unexpected(OpenMessageError::kUnknownSender);
  const auto key = sender_key(*sender);
  if (!key) return unexpected(OpenMessageError::kUnknownSender);
  const SharedKey s_static = x25519_shared(*key, identity.secret_key);
  if (!verify_message_auth(*parts, s_static)) return unexpected(OpenMessageError::kBadAuth);
  return ApplicationMessage{
      *sender,          parts->seq, std::string(*type),
      std::string(*id), head,       Bytes(decoded->body.begin(), decoded->body.end())};
}

Bytes seal_application_message(const KeyPair& identity, const PublicKey& recipient,
                               std::uint32_t seq, std::string_view type, std::string_view id,
                               const boost::json::object& extra, ByteView body, Random& random) {
  // Head order is type, from, id, then the caller's keys (as Endpoint::send_message does).
  boost::json::object head;
  head["type"] = type;
  head["from"] = hashname_of(identity.public_key).to_string();
  head["id"] = id;
  for (const auto& [key, value] : extra) {
    if (key != "type" && key != "from" && key != "id") head[key] = value;
  }
  const KeyPair ephemeral = generate_keypair(random);  // its secret zeroes itself
  const SharedKey k_box = x25519_shared(recipient, ephemeral.secret_key);
  const SharedKey s_static = x25519_shared(recipient, identity.secret_key);
  return seal_message(seq, ephemeral.public_key, k_box, s_static, lob_encode(head, body));
}

}  // namespace e3x
