#include "daemon/modules/messages/sealed_file.hpp"

#include "core/message_rules.hpp"
#include "core/sealed_message.hpp"

namespace e3x::daemon {

Bytes seal_file(const KeyPair& identity, const PublicKey& recipient, std::string_view id,
                ByteView payload, Random& random, std::int64_t unix_now, std::int64_t valid_for) {
  const auto seq = static_cast<std::uint32_t>(std::max<std::int64_t>(unix_now, 1));
  // A recipient refuses a message without an expiry (PROTOCOL.md 10.7).
  return seal_application_message(identity, recipient, seq, "msg", id,
                                  boost::json::object{{"expires", unix_now + valid_for}}, payload,
                                  random);
}

Result<OpenedFile, std::string> open_file(const KeyPair& identity, const PublicKey& expected_sender,
                                          ByteView sealed) {
  const Hashname expected = hashname_of(expected_sender);
  std::optional<Hashname> named;  // the sender the file claims, once BOX has opened
  auto opened = open_application_message(identity, sealed,
                                         [&](const Hashname& sender) -> std::optional<PublicKey> {
                                           named = sender;
                                           if (sender == expected) return expected_sender;
                                           return std::nullopt;
                                         });
  if (opened) {
    return OpenedFile{opened->from, std::move(opened->id), std::move(opened->type),
                      std::move(opened->body), message_expires(opened->head)};
  }
  const std::string me = hashname_of(identity.public_key).to_string();
  switch (opened.error()) {
    case OpenMessageError::kMalformed:
      return unexpected(std::string("not a sealed message (too short, or not cipher set 3a)"));
    case OpenMessageError::kNotForUs:
      return unexpected("it was not sealed for this identity (" + me +
                        "), or it was altered: it does not decrypt");
    case OpenMessageError::kNotApplication:
      return unexpected(std::string("it decrypts, but holds no message (a handshake packet?)"));
    case OpenMessageError::kUnknownSender:
      return unexpected("wrong sender: it was sealed by " +
                        (named ? named->to_string() : std::string("an unreadable hashname")) +
                        ", not by the expected " + expected.to_string());
    case OpenMessageError::kBadAuth:
      return unexpected("it was altered, or forged: it names " + expected.to_string() +
                        " as its sender but does not authenticate with that key");
  }
  return unexpected(std::string("cannot open it"));
}

}  // namespace e3x::daemon
