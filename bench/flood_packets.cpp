#include "bench/flood_packets.hpp"

#include <fstream>
#include <stdexcept>

#include "core/hashname.hpp"
#include "core/lob.hpp"

namespace e3x::flood {

namespace {

// A handshake (PROTOCOL.md 5): INNER with an empty HEAD and the claimed static key as BODY,
// sealed under a fresh ephemeral to the target; AUTH comes from `auth_static`'s secret, so it
// verifies only when that is the claimed key's pair.
Bytes handshake(Random& random, const PublicKey& target, std::uint32_t seq,
                const PublicKey& claimed, const KeyPair& auth_static) {
  const KeyPair ephemeral = generate_keypair(random);
  const SharedKey k_box = x25519_shared(target, ephemeral.secret_key);
  const SharedKey s_static = x25519_shared(target, auth_static.secret_key);
  return seal_message(seq, ephemeral.public_key, k_box, s_static, lob_encode(ByteView{}, claimed));
}

// Any SEQ: these are dropped (policy, AUTH) before the target looks at it. Non-zero and
// around now-ish so nothing about it stands out.
std::uint32_t plausible_seq(Random& random) {
  return 1700000000u + random.uniform(100000000u);
}

}  // namespace

std::vector<Bytes> random_datagrams(Random& random, std::size_t count) {
  std::vector<Bytes> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Bytes datagram(1 + random.uniform(1400));
    random.fill(datagram);
    if (i % 2 == 0) datagram[0] = 0x00;
    out.push_back(std::move(datagram));
  }
  return out;
}

std::vector<Bytes> unknown_key_handshakes(Random& random, const PublicKey& target,
                                          std::size_t count) {
  std::vector<Bytes> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const KeyPair stranger = generate_keypair(random);
    out.push_back(handshake(random, target, plausible_seq(random), stranger.public_key, stranger));
  }
  return out;
}

std::vector<Bytes> bad_auth_handshakes(Random& random, const PublicKey& target,
                                       const PublicKey& peer_key, std::size_t count) {
  std::vector<Bytes> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const KeyPair impostor = generate_keypair(random);
    out.push_back(handshake(random, target, plausible_seq(random), peer_key, impostor));
  }
  return out;
}

std::vector<Bytes> replayed_handshakes(Random& random, const PublicKey& target,
                                       const KeyPair& identity, std::uint32_t first_seq,
                                       std::size_t count) {
  // The sender's own parity (PROTOCOL.md 2), so each looks like a handshake it once sent.
  const std::uint32_t parity = order_of(identity.public_key, target) == Order::kHigh ? 1 : 0;
  std::vector<Bytes> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto seq = static_cast<std::uint32_t>(((first_seq + 2 * i) & ~1u) + parity);
    out.push_back(handshake(random, target, seq, identity.public_key, identity));
  }
  return out;
}

std::vector<Bytes> read_capture(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::vector<Bytes> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    auto packet = from_hex(line);
    if (!packet || packet->empty()) {
      throw std::runtime_error(file + ":" + std::to_string(number) + ": not a hex packet");
    }
    out.push_back(std::move(*packet));
  }
  return out;
}

void write_capture(const std::string& file, const std::vector<Bytes>& packets) {
  std::ofstream out(file);
  out << "# e3x_flood capture: one packet per line, hex\n";
  for (const Bytes& packet : packets) out << to_hex(packet) << '\n';
  if (!out) throw std::runtime_error("cannot write " + file);
}

}  // namespace e3x::flood
