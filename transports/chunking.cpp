#include "transports/chunking.hpp"

#include <algorithm>
#include <stdexcept>

namespace e3x {

namespace {

constexpr std::uint8_t kTerminator = 0x00;

}  // namespace

Bytes chunk_encode(ByteView packet, std::size_t chunk_size) {
  if (chunk_size < 2 || chunk_size > kDefaultChunkSize) {
    throw std::invalid_argument("chunk size must be 2..256");
  }
  // One byte of every chunk is its length byte.
  const std::size_t max_fragment = chunk_size - 1;
  Bytes stream;
  const std::size_t chunks = (packet.size() + max_fragment - 1) / max_fragment;
  stream.reserve(packet.size() + chunks + 1);
  for (std::size_t offset = 0; offset < packet.size(); offset += max_fragment) {
    const std::size_t fragment = std::min(max_fragment, packet.size() - offset);
    stream.push_back(static_cast<std::uint8_t>(fragment));
    append(stream, packet.subspan(offset, fragment));
  }
  // An empty packet becomes a lone terminator, which receivers ignore as an ack.
  stream.push_back(kTerminator);
  return stream;
}

ChunkDecoder::Status ChunkDecoder::feed(ByteView data, std::vector<Bytes>& packets) {
  if (poisoned_) return Status::kFrameTooLarge;
  std::size_t position = 0;
  while (position < data.size()) {
    if (fragment_left_ > 0) {
      // Copy as much of the current fragment as this read delivered.
      const std::size_t take = std::min(fragment_left_, data.size() - position);
      append(packet_, data.subspan(position, take));
      fragment_left_ -= take;
      position += take;
      continue;
    }
    const std::uint8_t length = data[position++];
    if (length == kTerminator) {
      // A zero outside a packet is an ack or keepalive: nothing to deliver.
      if (!packet_.empty()) {
        packets.push_back(std::move(packet_));
        packet_.clear();
      }
      continue;
    }
    // Refuse before buffering, so a hostile peer cannot make us hold more than the limit.
    if (packet_.size() + length > kMaxChunkedPacket) {
      poisoned_ = true;
      packet_.clear();
      packet_.shrink_to_fit();
      return Status::kFrameTooLarge;
    }
    fragment_left_ = length;
  }
  return Status::kOk;
}

}  // namespace e3x
