// Channel packets (core/cs3a.hpp, PROTOCOL.md section 6) as B opens what A's exchange sent:
// parse_channel and open_channel with B's fixed `in` key (the vectors' exchange), then the
// LOB parser on the opened INNER. The vectors' channel packet (a seed) opens.
//
// Invariants: the parts tile the packet; a packet that opens is exactly what seal_channel
// makes of its parts; and seal/open round-trips the input used as INNER.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/cs3a.hpp"
#include "core/lob.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace e3x;
  const fuzz::FixedKeys& keys = fuzz::fixed_keys();
  const ByteView outer = fuzz::view_of(data, size);

  if (const auto parts = parse_channel(outer)) {
    // LENGTH 0 | TOKEN(16) NONCE(24) CIPHERTEXT(16+).
    E3X_FUZZ_CHECK(size >= 2 + kChannelMinBody && data[0] == 0 && data[1] == 0);
    E3X_FUZZ_CHECK(std::equal(parts->token.begin(), parts->token.end(), data + 2));
    E3X_FUZZ_CHECK(std::equal(parts->nonce.begin(), parts->nonce.end(), data + 2 + 16));
    E3X_FUZZ_CHECK(parts->ciphertext.data() == data + 2 + 16 + 24);
    E3X_FUZZ_CHECK(parts->ciphertext.size() == size - 2 - 16 - 24);

    if (const auto inner = open_channel(*parts, keys.b_channel.in)) {
      E3X_FUZZ_CHECK(inner->size() == parts->ciphertext.size() - 16);
      (void)lob_decode(*inner);
      const Bytes resealed = seal_channel(parts->token, parts->nonce, keys.b_channel.in, *inner);
      E3X_FUZZ_CHECK(resealed == Bytes(outer.begin(), outer.end()));
    }
  } else {
    E3X_FUZZ_CHECK(size < 2 + kChannelMinBody || data[0] != 0 || data[1] != 0);
  }

  // The input as INNER, sealed as A would (B's `in` is A's `out`) and opened by B.
  ChannelNonce nonce{};
  std::copy_n(data, std::min(size, nonce.size()), nonce.begin());
  const Bytes sealed = seal_channel(keys.a_token, nonce, keys.b_channel.in, outer);
  const auto parts = parse_channel(sealed);
  E3X_FUZZ_CHECK(parts.has_value() && parts->token == keys.a_token && parts->nonce == nonce);
  const auto opened = open_channel(*parts, keys.b_channel.in);
  E3X_FUZZ_CHECK(opened.has_value() && *opened == Bytes(outer.begin(), outer.end()));
  // Under the other direction's key it must not open.
  E3X_FUZZ_CHECK(!open_channel(*parts, keys.b_channel.out).has_value());
  return 0;
}
