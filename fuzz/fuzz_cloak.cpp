// Decloaking (transports/cloak.hpp): every UDP datagram is uncloaked before anything else.
//
// Invariants: a result starts with 0x00 and lost exactly 8 bytes per layer; peeling one layer
// by hand and uncloaking the rest gives the same packet; a packet that was plain comes back
// unchanged; and cloak -> uncloak round-trips with 1..8 layers.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "core/random.hpp"
#include "fuzz/fuzz_support.hpp"
#include "transports/cloak.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace e3x;
  const ByteView datagram = fuzz::view_of(data, size);
  const auto uncloaked = uncloak(datagram);
  if (uncloaked) {
    E3X_FUZZ_CHECK(!uncloaked->packet.empty() && uncloaked->packet[0] == 0x00);
    E3X_FUZZ_CHECK(uncloaked->layers >= 0 && uncloaked->layers <= kMaxCloakLayers);
    E3X_FUZZ_CHECK(uncloaked->packet.size() + 8 * std::size_t(uncloaked->layers) == size);
    if (uncloaked->layers == 0) {
      E3X_FUZZ_CHECK(uncloaked->packet == Bytes(datagram.begin(), datagram.end()));
    } else {
      // Cloaking is its own inverse under the same nonce: re-applying the first nonce to
      // the rest removes the outer layer.
      std::array<std::uint8_t, 8> nonce;
      std::copy_n(data, 8, nonce.begin());
      const Bytes peeled = cloak_once(datagram.subspan(8), nonce);
      const auto rest = uncloak(ByteView(peeled).subspan(8));
      E3X_FUZZ_CHECK(rest.has_value() && rest->packet == uncloaked->packet);
      E3X_FUZZ_CHECK(rest->layers == uncloaked->layers - 1);
      E3X_FUZZ_CHECK(cloak_once(ByteView(peeled).subspan(8), nonce) ==
                     Bytes(datagram.begin(), datagram.end()));
    }
  } else {
    E3X_FUZZ_CHECK(size == 0 || data[0] != 0x00);
  }

  // A plain packet (first byte 0x00) of the input's bytes, cloaked 1..8 times.
  if (size > 0) {
    Bytes plain(datagram.begin(), datagram.end());
    plain[0] = 0x00;
    SeededRandom random(data[size - 1]);
    const int layers = 1 + data[size - 1] % kMaxCloakLayers;
    const Bytes cloaked = cloak(plain, random, layers);
    E3X_FUZZ_CHECK(cloaked.size() == plain.size() + 8 * std::size_t(layers));
    const auto back = uncloak(cloaked);
    E3X_FUZZ_CHECK(back.has_value() && back->packet == plain && back->layers == layers);
  }
  return 0;
}
