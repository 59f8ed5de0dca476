#include "transports/cloak.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include <sodium.h>

#include "core/sodium_init.hpp"

namespace e3x {

namespace {

constexpr std::size_t kNonceBytes = crypto_stream_chacha20_NONCEBYTES;
static_assert(kNonceBytes == 8);

// K_cloak = SHA256("telehash"), a well-known constant: cloaking hides patterns from
// middleboxes, it is not encryption.
constexpr std::array<std::uint8_t, crypto_stream_chacha20_KEYBYTES> kCloakKey = {
    0xd7, 0xf0, 0xe5, 0x55, 0x54, 0x62, 0x41, 0xb2, 0xa9, 0x44, 0xec, 0xd6, 0xd0, 0xde, 0x66, 0x85,
    0x6a, 0xc5, 0x0b, 0x0b, 0xab, 0xa7, 0x6a, 0x6f, 0x5a, 0x47, 0x82, 0x95, 0x6c, 0xa9, 0x45, 0x9a};

// XORs the ChaCha20 keystream under `nonce` into `data` (cloaking and uncloaking are the
// same operation).
void chacha_xor(std::uint8_t* out, ByteView data, const std::uint8_t* nonce) {
  if (data.empty()) return;  // libsodium rejects null pointers, even for 0 bytes
  ensure_sodium();
  crypto_stream_chacha20_xor(out, data.data(), data.size(), nonce, kCloakKey.data());
}

}  // namespace

Bytes cloak_once(ByteView packet, std::span<const std::uint8_t, 8> nonce) {
  // A zero first byte would make the result look like a plain packet to the receiver.
  if (nonce[0] == 0) throw std::invalid_argument("cloak nonce must not start with 0x00");
  Bytes out(kNonceBytes + packet.size());
  std::copy(nonce.begin(), nonce.end(), out.begin());
  chacha_xor(out.data() + kNonceBytes, packet, nonce.data());
  return out;
}

Bytes cloak(ByteView packet, Random& random, int layers) {
  if (layers < 1 || layers > kMaxCloakLayers) {
    throw std::invalid_argument("cloak layers must be 1..8");
  }
  Bytes current(packet.begin(), packet.end());
  for (int layer = 0; layer < layers; ++layer) {
    std::array<std::uint8_t, kNonceBytes> nonce;
    random.fill(nonce);
    // Redraw only the first byte, so the other seven stay uniformly random.
    while (nonce[0] == 0) random.fill(std::span(nonce).first(1));
    current = cloak_once(current, nonce);
  }
  return current;
}

std::optional<Uncloaked> uncloak(ByteView datagram) {
  Uncloaked result;
  result.packet.assign(datagram.begin(), datagram.end());
  for (;;) {
    if (result.packet.empty()) return std::nullopt;
    if (result.packet[0] == 0x00) return result;
    if (result.layers == kMaxCloakLayers) return std::nullopt;
    if (result.packet.size() < kNonceBytes) return std::nullopt;

    std::array<std::uint8_t, kNonceBytes> nonce;
    std::copy_n(result.packet.begin(), kNonceBytes, nonce.begin());
    const ByteView ciphertext = ByteView(result.packet).subspan(kNonceBytes);
    Bytes inner(ciphertext.size());
    chacha_xor(inner.data(), ciphertext, nonce.data());
    result.packet = std::move(inner);
    ++result.layers;
  }
}

}  // namespace e3x
