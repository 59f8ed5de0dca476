#include "core/cs3a.hpp"

#include <algorithm>

#include <sodium.h>

#include "core/lob.hpp"
#include "core/sha256.hpp"
#include "core/sodium_init.hpp"

namespace e3x {

namespace {

constexpr std::size_t kSeqBytes = 4;
constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kTagBytes = crypto_secretbox_MACBYTES;  // 16
constexpr std::size_t kAuthBytes = crypto_onetimeauth_BYTES;  // 16
static_assert(kTagBytes == 16 && kAuthBytes == 16);
static_assert(crypto_box_BEFORENMBYTES == 32 && crypto_scalarmult_BYTES == 32);
static_assert(crypto_secretbox_NONCEBYTES == 24 && crypto_secretbox_KEYBYTES == 32);

// Moves a digest into secret storage and wipes the plain copy.
SharedKey to_secret(Digest& digest) {
  SharedKey key{std::span<const std::uint8_t, 32>(digest)};
  sodium_memzero(digest.data(), digest.size());
  return key;
}

// N = SEQ(4, BE) || 20 zero bytes.
ByteArray<crypto_secretbox_NONCEBYTES> message_nonce(ByteView seq_bytes) {
  ByteArray<crypto_secretbox_NONCEBYTES> nonce{};
  std::copy_n(seq_bytes.begin(), kSeqBytes, nonce.begin());
  return nonce;
}

// K_auth = SHA256(SEQ || KEY || S_static).
SharedKey auth_key(ByteView seq_and_key, const SharedKey& s_static) {
  Digest digest = sha256({seq_and_key, s_static.view()});
  return to_secret(digest);
}

}  // namespace

KeyPair generate_keypair(Random& random) {
  SecretKey secret;
  random.fill(secret.span());
  return keypair_from_secret(secret);
}

KeyPair keypair_from_secret(const SecretKey& secret) {
  ensure_sodium();
  KeyPair pair;
  pair.secret_key = secret;
  crypto_scalarmult_base(pair.public_key.data(), secret.data());
  return pair;
}

SharedKey x25519_shared(const PublicKey& their_public, const SecretKey& our_secret) {
  ensure_sodium();
  SharedKey shared;
  if (crypto_box_beforenm(shared.data(), their_public.data(), our_secret.data()) != 0) {
    // A low-order public key makes X25519 output all zeros, which an attacker can predict.
    // Instead of a predictable key we return one derived from our own secret: nobody else
    // can compute it, and it matches nothing the peer can compute, so whatever is sealed
    // or authenticated "under" it simply fails to verify. Callers need no special case.
    Digest fallback = sha256({as_bytes("e3x-invalid-shared"), our_secret.view()});
    shared = to_secret(fallback);
  }
  return shared;
}

Token token_of(const PublicKey& ephemeral_public) {
  const Digest digest = sha256(ByteView(ephemeral_public).first(16));
  Token token;
  std::copy_n(digest.begin(), token.size(), token.begin());
  return token;
}

std::optional<MessageParts> parse_message(ByteView outer) {
  auto packet = lob_decode(outer);
  if (!packet) return std::nullopt;
  if (packet->head.size() != 1 || packet->head[0] != kCsid3a) return std::nullopt;
  const ByteView body = packet->body;
  if (body.size() < kMessageMinBody) return std::nullopt;

  MessageParts parts;
  parts.seq = read_u32_be(body);
  std::copy_n(body.begin() + kSeqBytes, kKeyBytes, parts.key.begin());
  parts.seq_key_box = body.first(body.size() - kAuthBytes);
  parts.box = parts.seq_key_box.subspan(kSeqBytes + kKeyBytes);
  parts.auth = body.last(kAuthBytes);
  return parts;
}

Bytes seal_message(std::uint32_t seq, const PublicKey& ephemeral_public, const SharedKey& k_box,
                   const SharedKey& s_static, ByteView inner) {
  ensure_sodium();
  Bytes body;
  body.reserve(kSeqBytes + kKeyBytes + inner.size() + kTagBytes + kAuthBytes);
  append_u32_be(body, seq);
  append(body, ephemeral_public);

  const auto nonce = message_nonce(body);
  const std::size_t box_offset = body.size();
  body.resize(box_offset + inner.size() + kTagBytes);
  crypto_secretbox_easy(body.data() + box_offset, inner.data(), inner.size(), nonce.data(),
                        k_box.data());

  const SharedKey k_auth = auth_key(ByteView(body).first(kSeqBytes + kKeyBytes), s_static);
  std::uint8_t auth[kAuthBytes];
  crypto_onetimeauth(auth, body.data(), body.size(), k_auth.data());
  append(body, auth);

  const std::uint8_t head[1] = {kCsid3a};
  return lob_encode(head, body);
}

std::optional<Bytes> open_message_box(const MessageParts& parts, const SharedKey& k_box) {
  ensure_sodium();
  if (parts.box.size() < kTagBytes || parts.seq_key_box.size() < kSeqBytes) return std::nullopt;
  const auto nonce = message_nonce(parts.seq_key_box);
  Bytes inner(parts.box.size() - kTagBytes);
  if (crypto_secretbox_open_easy(inner.data(), parts.box.data(), parts.box.size(), nonce.data(),
                                 k_box.data()) != 0) {
    return std::nullopt;
  }
  return inner;
}

bool verify_message_auth(const MessageParts& parts, const SharedKey& s_static) {
  ensure_sodium();
  if (parts.auth.size() != kAuthBytes || parts.seq_key_box.size() < kSeqBytes + kKeyBytes) {
    return false;
  }
  const SharedKey k_auth = auth_key(parts.seq_key_box.first(kSeqBytes + kKeyBytes), s_static);
  return crypto_onetimeauth_verify(parts.auth.data(), parts.seq_key_box.data(),
                                   parts.seq_key_box.size(), k_auth.data()) == 0;
}

ChannelKeys derive_channel_keys(const SharedKey& s_eph, const PublicKey& our_ephemeral,
                                const PublicKey& their_ephemeral) {
  Digest out = sha256({s_eph.view(), our_ephemeral, their_ephemeral});
  Digest in = sha256({s_eph.view(), their_ephemeral, our_ephemeral});
  return ChannelKeys{to_secret(out), to_secret(in)};
}

std::optional<ChannelParts> parse_channel(ByteView outer) {
  auto packet = lob_decode(outer);
  if (!packet) return std::nullopt;
  if (!packet->head.empty()) return std::nullopt;
  const ByteView body = packet->body;
  if (body.size() < kChannelMinBody) return std::nullopt;

  ChannelParts parts;
  std::copy_n(body.begin(), parts.token.size(), parts.token.begin());
  std::copy_n(body.begin() + parts.token.size(), parts.nonce.size(), parts.nonce.begin());
  parts.ciphertext = body.subspan(parts.token.size() + parts.nonce.size());
  return parts;
}

Bytes seal_channel(const Token& token, const ChannelNonce& nonce, const SharedKey& k_out,
                   ByteView inner) {
  ensure_sodium();
  Bytes body;
  body.reserve(token.size() + nonce.size() + inner.size() + kTagBytes);
  append(body, token);
  append(body, nonce);
  const std::size_t box_offset = body.size();
  body.resize(box_offset + inner.size() + kTagBytes);
  crypto_secretbox_easy(body.data() + box_offset, inner.data(), inner.size(), nonce.data(),
                        k_out.data());
  return lob_encode(ByteView{}, body);
}

std::optional<Bytes> open_channel(const ChannelParts& parts, const SharedKey& k_in) {
  ensure_sodium();
  if (parts.ciphertext.size() < kTagBytes) return std::nullopt;
  Bytes inner(parts.ciphertext.size() - kTagBytes);
  if (crypto_secretbox_open_easy(inner.data(), parts.ciphertext.data(), parts.ciphertext.size(),
                                 parts.nonce.data(), k_in.data()) != 0) {
    return std::nullopt;
  }
  return inner;
}

}  // namespace e3x
