// Cipher set 3a: keys, message packets (PROTOCOL.md section 4) and channel packets
// (section 6). Every function here is pure: keys and nonces come in as arguments.
//
// X25519 is the expensive operation; callers that must count it (validation caching is
// measured by counting) call x25519_shared / public_from_secret through their own counter.
#pragma once

#include <cstdint>
#include <optional>

#include "core/bytes.hpp"
#include "core/random.hpp"
#include "core/secret.hpp"

namespace e3x {

inline constexpr std::uint8_t kCsid3a = 0x3a;

using PublicKey = ByteArray<32>;
using SecretKey = Secret<32>;
using SharedKey = Secret<32>;
using Token = ByteArray<16>;
using ChannelNonce = ByteArray<24>;

struct KeyPair {
  PublicKey public_key{};
  SecretKey secret_key;
};

// X25519 operations (each one counts as one in Endpoint stats).
KeyPair generate_keypair(Random& random);               // random secret + base mult
KeyPair keypair_from_secret(const SecretKey& secret);   // base mult
SharedKey x25519_shared(const PublicKey& their_public,  // crypto_box_beforenm
                        const SecretKey& our_secret);

// TOKEN = SHA256(key[0:16])[0:16].
Token token_of(const PublicKey& ephemeral_public);

// ---- Message packets (section 4) ----

inline constexpr std::size_t kMessageMinBody = 4 + 32 + 16 + 2 + 16;  // 70

// The parts of an OUTER message packet, pointing into the caller's buffer.
struct MessageParts {
  std::uint32_t seq = 0;
  PublicKey key{};       // the sender exchange's ephemeral public key
  ByteView seq_key_box;  // SEQ || KEY || BOX: what AUTH covers
  ByteView box;          // secretbox ciphertext with its 16-byte tag
  ByteView auth;         // 16 bytes
};

// Structural checks only, no crypto: HEAD is exactly the 1 byte 0x3a and BODY is at least
// 70 bytes. nullopt otherwise (drop the packet).
std::optional<MessageParts> parse_message(ByteView outer);

// K_box as the sender computes it: crypto_box_beforenm(recipient.static_public, E.secret);
// as the recipient computes it: crypto_box_beforenm(KEY, recipient.static_secret). Both are
// x25519_shared. S_static likewise.
//
// Builds the OUTER packet (LOB with 1-byte HEAD 0x3a).
Bytes seal_message(std::uint32_t seq, const PublicKey& ephemeral_public, const SharedKey& k_box,
                   const SharedKey& s_static, ByteView inner);

// Opens BOX with K_box; nullopt if it does not authenticate.
std::optional<Bytes> open_message_box(const MessageParts& parts, const SharedKey& k_box);

// AUTH check with K_auth = SHA256(SEQ || KEY || S_static), in constant time.
bool verify_message_auth(const MessageParts& parts, const SharedKey& s_static);

// ---- Channel packets (section 6) ----

struct ChannelKeys {
  SharedKey out;  // K_out = SHA256(S_eph || E.public || remote.ephemeral_public)
  SharedKey in;   // K_in  = SHA256(S_eph || remote.ephemeral_public || E.public)
};
// s_eph = x25519_shared(remote.ephemeral_public, E.secret).
ChannelKeys derive_channel_keys(const SharedKey& s_eph, const PublicKey& our_ephemeral,
                                const PublicKey& their_ephemeral);

inline constexpr std::size_t kChannelMinBody = 16 + 24 + 16;

struct ChannelParts {
  Token token{};
  ChannelNonce nonce{};
  ByteView ciphertext;  // secretbox output including its tag
};

// Structural checks only: LENGTH 0 and BODY of at least 56 bytes.
std::optional<ChannelParts> parse_channel(ByteView outer);

// OUTER = LOB(LENGTH 0, TOKEN || NONCE || secretbox(INNER, NONCE, K_out)).
Bytes seal_channel(const Token& token, const ChannelNonce& nonce, const SharedKey& k_out,
                   ByteView inner);

// nullopt if the ciphertext does not authenticate under K_in.
std::optional<Bytes> open_channel(const ChannelParts& parts, const SharedKey& k_in);

}  // namespace e3x
