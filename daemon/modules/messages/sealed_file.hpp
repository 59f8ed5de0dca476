// `e3xctl seal` and `e3xctl open`: one application message in a file, made and checked with
// no daemon (docs/messages.md, "Sealed files"). The file holds exactly the OUTER packet bytes
// (PROTOCOL.md section 4), sealed under a fresh ephemeral key, so `e3xctl inbox import` (or a
// peer's e3xd receiving it as a datagram) accepts it as it is.
#pragma once

#include <cstdint>
#include <string>

#include "core/bytes.hpp"
#include "core/cs3a.hpp"
#include "core/hashname.hpp"
#include "core/random.hpp"
#include "core/result.hpp"

namespace e3x::daemon {

// How long a sealed file is valid by default: a recipient refuses it (PROTOCOL.md 10.7) once
// it has expired, so it must be imported within this time.
inline constexpr std::int64_t kSealedFileValidity = 7 * 24 * 3600;

// Seals `payload` from `identity` for `recipient`, with message id `id`, type "msg" and an
// expiry `valid_for` seconds after `unix_now`. Its SEQ is `unix_now` (a recipient does not
// order application messages by it).
Bytes seal_file(const KeyPair& identity, const PublicKey& recipient, std::string_view id,
                ByteView payload, Random& random, std::int64_t unix_now,
                std::int64_t valid_for = kSealedFileValidity);

struct OpenedFile {
  Hashname from;
  std::string id;
  std::string type;
  Bytes payload;
  std::optional<std::int64_t> expires;  // Unix seconds, when the file carries one
};

// Opens a sealed file for `identity`, accepting it only from `expected_sender`. The error is
// a sentence for a person: which of wrong recipient, wrong sender or tampering it is, as far
// as the cryptography can tell them apart.
Result<OpenedFile, std::string> open_file(const KeyPair& identity, const PublicKey& expected_sender,
                                          ByteView sealed);

}  // namespace e3x::daemon
