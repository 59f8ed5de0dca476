// LinkModel: one direction of an emulated link, as pure logic driven by an explicit `now`
// (no clock, no sockets), so bench/link_emulator.cpp and tests/link_model_test.cpp run the
// very same code.
//
// A packet offered at `now` goes through, in this order:
//   1. random loss: dropped with probability `loss`, drawn from a PRNG seeded with `seed`;
//   2. the bottleneck: a FIFO served at `rate_bps` (a link of that rate, i.e. a token bucket
//      one packet deep: back-to-back packets leave (size + overhead)*8/rate apart, `overhead`
//      being the headers a real link carries besides the datagram). A packet that would push
//      the backlog (packets not yet fully serialised, the one on the wire included; counted
//      with their overhead) over `queue_packets` or `queue_bytes` is dropped at the tail;
//   3. the delay line: it is delivered `delay` after it left the bottleneck.
// rate_bps == 0 means no rate limit (and so no queue). Every packet is counted: received ==
// forwarded + dropped_loss + dropped_queue + in_flight() at all times.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace e3x::bench {

struct LinkConfig {
  std::chrono::nanoseconds delay{0};
  double loss = 0;                // probability in [0, 1]
  std::uint64_t rate_bps = 0;     // 0: unlimited
  std::size_t queue_packets = 0;  // 0: no bound on the packet count
  std::size_t queue_bytes = 0;    // 0: no bound on the byte count
  std::size_t overhead = 0;       // bytes added to each datagram on the bottleneck
  std::uint64_t seed = 1;
};

struct LinkCounts {
  std::uint64_t received = 0;
  std::uint64_t forwarded = 0;
  std::uint64_t dropped_loss = 0;
  std::uint64_t dropped_queue = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_forwarded = 0;
  std::size_t max_backlog_bytes = 0;  // the deepest the bottleneck queue got
};

// A datagram in the model. `tag` is the caller's (the emulator keeps the destination there);
// the bytes are moved in and out so the caller can recycle their buffers.
struct LinkPacket {
  std::vector<std::uint8_t> data;
  std::uint32_t tag = 0;
};

enum class LinkVerdict { queued, dropped_loss, dropped_queue };

class LinkModel {
 public:
  using Time = std::chrono::nanoseconds;  // since any fixed epoch; must not go backwards

  explicit LinkModel(const LinkConfig& config);

  // A packet arrives at `now`. On a drop the packet is left untouched in `packet`.
  LinkVerdict offer(Time now, LinkPacket& packet);

  // Takes the next packet due at or before `now` into `out`; false if none is due.
  bool pop_due(Time now, LinkPacket& out);

  // When the next packet will be due (its delivery time), or nothing if none is held.
  [[nodiscard]] bool has_pending() const { return !bottleneck_.empty() || !line_.empty(); }
  [[nodiscard]] Time next_due() const;

  [[nodiscard]] const LinkCounts& counts() const { return counts_; }
  [[nodiscard]] std::size_t in_flight() const { return bottleneck_.size() + line_.size(); }
  [[nodiscard]] std::size_t backlog_bytes() const { return backlog_bytes_; }
  [[nodiscard]] const LinkConfig& config() const { return config_; }

 private:
  struct Entry {
    LinkPacket packet;
    Time at;  // in the bottleneck: when its last bit leaves; on the line: when it is delivered
  };

  // Moves every packet fully serialised by `now` from the bottleneck onto the delay line.
  void advance(Time now);
  [[nodiscard]] bool draw_loss();

  LinkConfig config_;
  std::mt19937_64 random_;
  std::deque<Entry> bottleneck_;  // ordered by `at`: FIFO at a fixed rate
  std::deque<Entry> line_;        // ordered by `at`: a fixed delay keeps the bottleneck's order
  std::size_t backlog_bytes_ = 0;
  Time busy_until_{0};
  // The part of a nanosecond the last serialisation time left over, in units of 1/rate ns,
  // so a long busy period runs at exactly `rate_bps` however the time rounds per packet.
  std::uint64_t carry_ = 0;
  LinkCounts counts_;
};

// The default bottleneck queue: one bandwidth-delay product at `rate_bps` over a round trip
// of twice the one-way `delay` (a symmetric link), and never under 64 full-size (1500-byte)
// packets so a link with no delay still absorbs a burst. 0 (no bound) when rate_bps is 0.
std::size_t default_queue_bytes(std::uint64_t rate_bps, std::chrono::nanoseconds delay);

}  // namespace e3x::bench
