// Chunk framing for stream transports (PROTOCOL.md section 7, telehash-v3/chunking.md):
// each packet is sent as fragments of 1..255 bytes, each prefixed by its length byte, and
// ended by a zero byte. A lone zero byte outside a packet is an ack and is ignored.
#pragma once

#include <cstddef>
#include <vector>

#include "core/bytes.hpp"

namespace e3x {

inline constexpr std::size_t kDefaultChunkSize = 256;        // length byte + up to 255 bytes
inline constexpr std::size_t kMaxChunkedPacket = 64 * 1024;  // a larger frame closes the link

// chunk_size counts the length byte: 2..256.
Bytes chunk_encode(ByteView packet, std::size_t chunk_size = kDefaultChunkSize);

// Incremental decoder: feed it whatever the stream delivered.
class ChunkDecoder {
 public:
  enum class Status { kOk, kFrameTooLarge };

  // Appends every completed packet to `packets`. After kFrameTooLarge the decoder is
  // poisoned (the caller closes the connection) and further input is ignored.
  Status feed(ByteView data, std::vector<Bytes>& packets);

  // Bytes held for a packet not yet terminated.
  std::size_t buffered() const { return packet_.size(); }

 private:
  Bytes packet_;
  std::size_t fragment_left_ = 0;
  bool poisoned_ = false;
};

}  // namespace e3x
