#include "core/sha256.hpp"

#include <sodium.h>

#include "core/sodium_init.hpp"

namespace e3x {

Digest sha256(ByteView data) {
  return sha256({data});
}

Digest sha256(std::initializer_list<ByteView> parts) {
  ensure_sodium();
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  for (ByteView part : parts) crypto_hash_sha256_update(&state, part.data(), part.size());
  Digest digest;
  crypto_hash_sha256_final(&state, digest.data());
  // The state may have hashed secrets (K_auth, channel keys), so it is wiped.
  sodium_memzero(&state, sizeof state);
  return digest;
}

}  // namespace e3x
