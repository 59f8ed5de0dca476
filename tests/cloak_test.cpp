#include "transports/cloak.hpp"

#include <stdexcept>

#include <sodium.h>

#include "core/sha256.hpp"
#include "gtest/gtest.h"

namespace e3x {
namespace {

// A plain packet always starts with 0x00 (LENGTH < 256 in practice).
Bytes plain_packet(Random& random, std::size_t size) {
  Bytes packet(size);
  random.fill(packet);
  packet[0] = 0x00;
  return packet;
}

// A random source that returns a programmed byte sequence, to force zero first bytes.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(Bytes script) : script_(std::move(script)) {}
  void fill(std::span<std::uint8_t> out) override {
    for (std::uint8_t& byte : out) byte = script_.at(position_++);
  }
  std::size_t used() const { return position_; }

 private:
  Bytes script_;
  std::size_t position_ = 0;
};

TEST(Cloak, OneLayerMatchesChaCha20WithTheTelehashKey) {
  SeededRandom random(1);
  const Bytes packet = plain_packet(random, 100);
  const std::array<std::uint8_t, 8> nonce = {0x11, 2, 3, 4, 5, 6, 7, 8};
  const Bytes cloaked = cloak_once(packet, nonce);
  ASSERT_EQ(cloaked.size(), packet.size() + 8);
  EXPECT_TRUE(std::equal(nonce.begin(), nonce.end(), cloaked.begin()));
  const Digest key = sha256(as_bytes("telehash"));
  Bytes expected(packet.size());
  crypto_stream_chacha20_xor(expected.data(), packet.data(), packet.size(), nonce.data(),
                             key.data());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), cloaked.begin() + 8));
}

TEST(Cloak, ZeroFirstNonceByteIsRefused) {
  const std::array<std::uint8_t, 8> nonce = {0, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_THROW(cloak_once(Bytes{0, 0, 1}, nonce), std::invalid_argument);
}

TEST(Cloak, RoundTripsOneToEightLayers) {
  SeededRandom random(2);
  for (int layers = 1; layers <= kMaxCloakLayers; ++layers) {
    SCOPED_TRACE("layers " + std::to_string(layers));
    const Bytes packet = plain_packet(random, 20 + static_cast<std::size_t>(layers));
    const Bytes cloaked = cloak(packet, random, layers);
    EXPECT_EQ(cloaked.size(), packet.size() + 8 * static_cast<std::size_t>(layers));
    EXPECT_NE(cloaked[0], 0x00);
    std::optional<Uncloaked> result = uncloak(cloaked);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->packet, packet);
    EXPECT_EQ(result->layers, layers);
  }
}

TEST(Cloak, LayerCountOutOfRangeIsRefused) {
  SeededRandom random(3);
  EXPECT_THROW(cloak(Bytes{0, 0}, random, 0), std::invalid_argument);
  EXPECT_THROW(cloak(Bytes{0, 0}, random, 9), std::invalid_argument);
}

TEST(Cloak, NineLayersAreRejected) {
  SeededRandom random(4);
  const Bytes packet = plain_packet(random, 30);
  Bytes nine = cloak(packet, random, 8);
  const std::array<std::uint8_t, 8> nonce = {0x77, 0, 0, 0, 0, 0, 0, 1};
  nine = cloak_once(nine, nonce);
  EXPECT_FALSE(uncloak(nine).has_value());
}

TEST(Cloak, PlainPacketPassesThrough) {
  const Bytes packet = {0x00, 0x01, 0x3a, 0xff};
  std::optional<Uncloaked> result = uncloak(packet);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->packet, packet);
  EXPECT_EQ(result->layers, 0);
}

TEST(Cloak, EmptyAndShortLayersRejected) {
  EXPECT_FALSE(uncloak(ByteView{}).has_value());
  // Shorter than a nonce.
  for (std::size_t size = 1; size < 8; ++size) {
    EXPECT_FALSE(uncloak(Bytes(size, 0x42)).has_value()) << "size " << size;
  }
  // Exactly a nonce: nothing is left inside.
  EXPECT_FALSE(uncloak(Bytes(8, 0x42)).has_value());
  // A valid outer layer around an inner layer that is too short.
  const std::array<std::uint8_t, 8> outer_nonce = {9, 9, 9, 9, 9, 9, 9, 9};
  EXPECT_FALSE(uncloak(cloak_once(Bytes{0x05, 0x06, 0x07}, outer_nonce)).has_value());
}

TEST(Cloak, RandomNonceFirstByteIsRedrawnWhenZero) {
  // First draw: 8 bytes with a zero first byte; then two zero redraws; then 0x5a.
  ScriptedRandom random({0x00, 1, 2, 3, 4, 5, 6, 7, 0x00, 0x00, 0x5a});
  const Bytes cloaked = cloak(Bytes{0x00, 0x00}, random, 1);
  EXPECT_EQ(random.used(), 11u);
  EXPECT_EQ(Bytes(cloaked.begin(), cloaked.begin() + 8), (Bytes{0x5a, 1, 2, 3, 4, 5, 6, 7}));
  std::optional<Uncloaked> result = uncloak(cloaked);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->packet, (Bytes{0x00, 0x00}));
}

TEST(Cloak, RandomGarbageNeverCrashes) {
  SeededRandom random(5);
  for (int i = 0; i < 20000; ++i) {
    const std::size_t size = random.uniform(120);
    Bytes garbage(size);
    random.fill(garbage);
    std::optional<Uncloaked> result = uncloak(garbage);
    if (result) {
      ASSERT_FALSE(result->packet.empty());
      EXPECT_EQ(result->packet[0], 0x00);
      EXPECT_LE(result->layers, kMaxCloakLayers);
      EXPECT_EQ(result->packet.size() + 8 * static_cast<std::size_t>(result->layers), size);
    }
  }
}

}  // namespace
}  // namespace e3x
