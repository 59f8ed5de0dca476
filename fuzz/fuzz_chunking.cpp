// The chunk deframer (transports/chunking.hpp) that reads TCP streams. The first input byte
// picks how the stream is split into reads; the rest is the stream.
//
// Invariants: splitting the stream differently never changes the packets or the status;
// packets are non-empty and within kMaxChunkedPacket; nothing is made up (the packets fit in
// the stream); a poisoned decoder stays poisoned and holds nothing; and every packet
// survives chunk_encode -> feed at the chunk size the input chose.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_support.hpp"
#include "transports/chunking.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace e3x;
  if (size == 0) return 0;
  const std::uint8_t split = data[0];
  const ByteView stream = fuzz::view_of(data + 1, size - 1);

  ChunkDecoder whole;
  std::vector<Bytes> whole_packets;
  const auto whole_status = whole.feed(stream, whole_packets);

  // Reads of 1..16 bytes in a pattern derived from `split`, as a slow TCP peer delivers them.
  ChunkDecoder pieces;
  std::vector<Bytes> piece_packets;
  auto piece_status = ChunkDecoder::Status::kOk;
  for (std::size_t offset = 0, step = 0; offset < stream.size(); ++step) {
    const std::size_t read =
        std::min<std::size_t>(1 + ((split >> (step % 4)) + step) % 16, stream.size() - offset);
    piece_status = pieces.feed(stream.subspan(offset, read), piece_packets);
    offset += read;
    if (piece_status != ChunkDecoder::Status::kOk) break;
  }
  E3X_FUZZ_CHECK(piece_status == whole_status);
  E3X_FUZZ_CHECK(piece_packets == whole_packets);

  std::size_t total = 0;
  for (const Bytes& packet : whole_packets) {
    E3X_FUZZ_CHECK(!packet.empty() && packet.size() <= kMaxChunkedPacket);
    total += packet.size();
  }
  E3X_FUZZ_CHECK(total + whole.buffered() <= stream.size());
  E3X_FUZZ_CHECK(whole.buffered() <= kMaxChunkedPacket);
  if (whole_status == ChunkDecoder::Status::kFrameTooLarge) {
    E3X_FUZZ_CHECK(whole.buffered() == 0);
    std::vector<Bytes> more;
    E3X_FUZZ_CHECK(whole.feed(stream, more) == ChunkDecoder::Status::kFrameTooLarge);
    E3X_FUZZ_CHECK(more.empty());
  } else {
    E3X_FUZZ_CHECK(whole.buffered() == pieces.buffered());
  }

  // Round trip at a chunk size of 2..256.
  const std::size_t chunk_size = 2 + split % 255;
  for (const Bytes& packet : whole_packets) {
    const Bytes encoded = chunk_encode(packet, chunk_size);
    ChunkDecoder decoder;
    std::vector<Bytes> decoded;
    E3X_FUZZ_CHECK(decoder.feed(encoded, decoded) == ChunkDecoder::Status::kOk);
    E3X_FUZZ_CHECK(decoded.size() == 1 && decoded[0] == packet && decoder.buffered() == 0);
  }
  return 0;
}
