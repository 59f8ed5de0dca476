// The hostile packets e3x_flood sends (issue 5, "Load and hostile traffic"), built with the
// core's own codec (core/cs3a.hpp, core/lob.hpp) so they are well-formed exactly where the
// mode says they are. Building is done once, before the flood, into a pool that is then
// resent: the target's validation cache only knows KEYs of its own exchanges, so a pool of
// distinct unknown KEYs costs it one X25519 per packet however often it is resent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/cs3a.hpp"
#include "core/random.hpp"

namespace e3x::flood {

// random        datagrams of random bytes and length, half of them starting 0x00 (a plain
//               packet to parse), half not (a cloaked one to peel)
// unknown-keys  handshakes sealed to the target from fresh identities it does not know
// bad-auth      handshakes claiming `peer_key` (a peer the target knows), AUTH made with
//               another static key
// replay        genuine handshakes from `identity` (the known peer's key pair), each with its
//               own KEY and SEQs from `first_seq` up in the sender's parity, as if captured
//               from earlier exchanges (a day ago, say) and resent
std::vector<Bytes> random_datagrams(Random& random, std::size_t count);
std::vector<Bytes> unknown_key_handshakes(Random& random, const PublicKey& target,
                                          std::size_t count);
std::vector<Bytes> bad_auth_handshakes(Random& random, const PublicKey& target,
                                       const PublicKey& peer_key, std::size_t count);
std::vector<Bytes> replayed_handshakes(Random& random, const PublicKey& target,
                                       const KeyPair& identity, std::uint32_t first_seq,
                                       std::size_t count);

// A capture file: one packet per line in hex (blank lines and lines starting '#' skipped).
// Throws std::runtime_error naming the line of a bad one.
std::vector<Bytes> read_capture(const std::string& file);
void write_capture(const std::string& file, const std::vector<Bytes>& packets);

}  // namespace e3x::flood
