// The LOB packet parser (core/lob.hpp): every datagram and every opened INNER goes through it.
// Beyond "does not crash": a packet that decodes re-encodes to exactly its bytes, the error
// says why it did not, and a decoded JSON head survives a re-encode.
#include <cstddef>
#include <cstdint>

#include "core/lob.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace e3x;
  const ByteView packet = fuzz::view_of(data, size);
  const auto decoded = lob_decode(packet);
  if (!decoded) {
    const std::size_t head_length = size < 2 ? 0 : (std::size_t{data[0]} << 8) | data[1];
    switch (decoded.error()) {
      case LobError::kShort:
        E3X_FUZZ_CHECK(size < 2);
        break;
      case LobError::kLength:
        E3X_FUZZ_CHECK(size >= 2 && head_length > size - 2);
        break;
      case LobError::kJson:
        E3X_FUZZ_CHECK(size >= 2 && head_length >= 7 && head_length <= size - 2);
        break;
    }
    return 0;
  }

  // The views lie inside the input, back to back after the 2-byte LENGTH.
  E3X_FUZZ_CHECK(size >= 2);
  E3X_FUZZ_CHECK(decoded->head.data() == data + 2);
  E3X_FUZZ_CHECK(decoded->body.data() == data + 2 + decoded->head.size());
  E3X_FUZZ_CHECK(2 + decoded->head.size() + decoded->body.size() == size);
  E3X_FUZZ_CHECK(decoded->json.has_value() == (decoded->head.size() >= 7));

  const Bytes again = lob_encode(decoded->head, decoded->body);
  E3X_FUZZ_CHECK(again == Bytes(packet.begin(), packet.end()));

  if (decoded->json) {
    // The canonical form may differ from the input text, but it must decode to the same
    // object (lob_encode of a small head always yields 7+ bytes: "{}" is the only shorter).
    const Bytes canonical = lob_encode(*decoded->json, decoded->body);
    const auto redecoded = lob_decode(canonical);
    E3X_FUZZ_CHECK(redecoded.has_value());
    if (redecoded->json) {
      E3X_FUZZ_CHECK(fuzz::json_equivalent(*redecoded->json, *decoded->json));
    } else {
      E3X_FUZZ_CHECK(redecoded->head.size() < 7);
    }
    E3X_FUZZ_CHECK(Bytes(redecoded->body.begin(), redecoded->body.end()) ==
                   Bytes(decoded->body.begin(), decoded->body.end()));
  }
  return 0;
}
