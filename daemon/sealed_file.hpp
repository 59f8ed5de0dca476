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

// Seals `payload` from `identity` for `recipient`, with message id `id` and type "msg". Its
// SEQ is `unix_now` (a recipient does not order application messages by it).
Bytes seal_file(const KeyPair& identity, const PublicKey& recipient, std::string_view id,
                ByteView payload, Random& random, std::int64_t unix_now);

struct OpenedFile {
  Hashname from;
  std::string id;
  std::string type;
  Bytes payload;
};

// Opens a sealed file for `identity`, accepting it only from `expected_sender`. The error is
// a sentence for a person: which of wrong recipient, wrong sender or tampering it is, as far
// as the cryptography can tell them apart.
Result<OpenedFile, std::string> open_file(const KeyPair& identity, const PublicKey& expected_sender,
                                          ByteView sealed);

}  // namespace e3x::daemon
