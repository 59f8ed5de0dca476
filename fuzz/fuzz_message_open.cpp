// Message packets (core/cs3a.hpp, PROTOCOL.md section 4) as B opens what A's exchange sent:
// parse_message, open_message_box and verify_message_auth with the vectors' fixed keys, then
// the LOB parser on the opened INNER. The message vector (a seed) opens and authenticates, so
// mutations of it exercise every step after the structural checks.
//
// Invariants: the parts tile the packet; a packet that opens and authenticates is exactly
// what seal_message makes of its parts; and seal/open round-trips the input used as INNER.
#include <cstddef>
#include <cstdint>

#include "core/cs3a.hpp"
#include "core/lob.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace e3x;
  const fuzz::FixedKeys& keys = fuzz::fixed_keys();
  const ByteView outer = fuzz::view_of(data, size);

  if (const auto parts = parse_message(outer)) {
    // LENGTH(2) HEAD(1) | SEQ KEY BOX | AUTH(16), each view inside the input.
    E3X_FUZZ_CHECK(size >= 3 + kMessageMinBody && data[0] == 0 && data[1] == 1);
    E3X_FUZZ_CHECK(data[2] == kCsid3a);
    E3X_FUZZ_CHECK(parts->seq_key_box.data() == data + 3);
    E3X_FUZZ_CHECK(parts->seq_key_box.size() + parts->auth.size() == size - 3);
    E3X_FUZZ_CHECK(parts->auth.size() == 16 && parts->auth.data() == data + size - 16);
    E3X_FUZZ_CHECK(parts->box.data() == data + 3 + 4 + 32 && parts->box.size() >= 16);
    E3X_FUZZ_CHECK(parts->seq == read_u32_be(parts->seq_key_box));

    const auto inner = open_message_box(*parts, keys.k_box);
    const bool authentic = verify_message_auth(*parts, keys.s_static);
    if (inner) {
      E3X_FUZZ_CHECK(inner->size() == parts->box.size() - 16);
      (void)lob_decode(*inner);
      if (authentic) {
        const Bytes resealed =
            seal_message(parts->seq, parts->key, keys.k_box, keys.s_static, *inner);
        E3X_FUZZ_CHECK(resealed == Bytes(outer.begin(), outer.end()));
      }
    }
  } else {
    E3X_FUZZ_CHECK(size < 3 + kMessageMinBody || data[0] != 0 || data[1] != 1 ||
                   data[2] != kCsid3a);
  }

  // The input as INNER: what A seals, B opens and authenticates, byte for byte. An INNER is a
  // LOB packet, so at least its 2-byte LENGTH (kMessageMinBody counts on that).
  if (size < 2) return 0;
  std::uint32_t seq = 0;
  if (size >= 4) seq = read_u32_be(outer);
  const Bytes sealed =
      seal_message(seq, keys.a_ephemeral.public_key, keys.k_box, keys.s_static, outer);
  const auto parts = parse_message(sealed);
  E3X_FUZZ_CHECK(parts.has_value() && parts->seq == seq);
  E3X_FUZZ_CHECK(parts->key == keys.a_ephemeral.public_key);
  const auto opened = open_message_box(*parts, keys.k_box);
  E3X_FUZZ_CHECK(opened.has_value() && *opened == Bytes(outer.begin(), outer.end()));
  E3X_FUZZ_CHECK(verify_message_auth(*parts, keys.s_static));
  return 0;
}
