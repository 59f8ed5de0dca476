// The whole protocol core behind one socket: e3x::Endpoint::handle_datagram (core/endpoint.hpp)
// for B, the vectors' identity, with A configured as its one peer. B's first ephemeral key is
// the vectors' B_ephemeral, so A's vector handshake brings the exchange up exactly as in
// tests/endpoint_vectors_test.cpp, and the harness can then seal packets as A would.
//
// The input is a script of operations, so the fuzzer reaches state that takes several packets
// (an exchange in sync, open channels, replays, timeouts). Each operation starts with a byte:
//   bits 0-2 kind, bits 3-4 path (1..4), bit 5 a flag for the kind.
//   0, 7 datagram         u16 length, bytes: handed to handle_datagram as they are
//   1    last datagram    the rest of the input is one datagram (so a raw packet after a
//                         single 0x01 byte fuzzes the plain datagram path)
//   2    sealed channel   u16 length, INNER: sealed as A's channel packet (flag: reuse the
//                         previous nonce, a replay)
//   3    sealed message   u32 SEQ, u16 length, INNER: sealed as A's message packet
//   4    advance time     u8 steps of 20 ms (flag: of 1 s), then every due handle_timeout
//   5    command          u8 which: connect, keepalive, open/send/close channel, message
//   6    forget the peer  remove_peer, then add it back (a fresh exchange remembers SEQs)
// scripts/fuzz-seeds.py writes seeds in this format from the vectors.
//
// Invariants, after every operation (the queues are drained each time): every datagram is
// counted once as received and at least once as accepted or dropped; a dropped datagram
// causes no transmit and no event ("nothing is ever sent in reply"); one datagram costs at
// most five X25519 operations; events name only A; transmits go to a path and are
// well-formed message or channel packets.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/endpoint.hpp"
#include "core/lob.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

using namespace e3x;

using Reader = fuzz::ScriptReader;

std::uint64_t drops(const EndpointStats& s) {
  // Every reason a datagram may be dropped for (core/endpoint_stats.hpp), those of PROTOCOL.md
  // section 10 included: a SEQ over a day ahead, a message without a valid "expires".
  return s.dropped_malformed + s.dropped_unauthenticated + s.dropped_policy + s.dropped_stale +
         s.dropped_seq_too_far + s.dropped_unknown_token + s.dropped_replay + s.dropped_channel +
         s.dropped_rate_limited + s.dropped_expired;
}

std::uint64_t accepted(const EndpointStats& s) {
  return s.handshakes_received + s.channel_packets_received + s.messages_received;
}

// The most one datagram may cost: a cold handshake computes K_box, S_static, a new ephemeral,
// K_box out and S_eph. Anything more would be an amplification for a flooding sender.
constexpr std::uint64_t kMaxX25519PerDatagram = 5;

class Harness {
 public:
  Harness()
      : endpoint_(Endpoint::Config{.identity = fuzz::fixed_keys().b, .random = &random_}),
        a_(endpoint_.add_peer(fuzz::fixed_keys().a.public_key).value()) {
    endpoint_.set_unix_time(now_, 1763700000);
  }

  void run(Reader& in) {
    // Bounded, so a long input cannot turn into a timeout by sheer count.
    for (int step = 0; step < 256 && !in.done(); ++step) {
      const std::uint8_t op = in.u8();
      const PathId path = 1 + ((op >> 3) & 3);
      const bool flag = (op & 0x20) != 0;
      switch (op & 7) {
        case 1:
          datagram(path, in.rest());
          break;
        case 2:
          sealed_channel(path, in.bytes(in.u16()), flag);
          break;
        case 3: {
          const std::uint32_t seq = in.u32();
          sealed_message(path, seq, in.bytes(in.u16()));
          break;
        }
        case 4:
          advance(in.u8(), flag);
          break;
        case 5:
          command(path, in);
          break;
        case 6:
          endpoint_.remove_peer(now_, a_);
          drain(/*dropped=*/false);
          channels_.clear();
          E3X_FUZZ_CHECK(endpoint_.add_peer(fuzz::fixed_keys().a.public_key).has_value());
          break;
        default:
          datagram(path, in.bytes(in.u16()));
          break;
      }
    }
    endpoint_.remove_peer(now_, a_);
    drain(/*dropped=*/false);
    E3X_FUZZ_CHECK(endpoint_.peers().empty());
  }

 private:
  void datagram(PathId path, ByteView packet) {
    const EndpointStats before = endpoint_.stats();
    endpoint_.handle_datagram(now_, path, packet);
    const EndpointStats& after = endpoint_.stats();
    E3X_FUZZ_CHECK(after.datagrams_received == before.datagrams_received + 1);
    E3X_FUZZ_CHECK(drops(after) + accepted(after) > drops(before) + accepted(before));
    E3X_FUZZ_CHECK(after.x25519_operations - before.x25519_operations <= kMaxX25519PerDatagram);
    drain(/*dropped=*/accepted(after) == accepted(before));
  }

  void sealed_channel(PathId path, ByteView inner, bool replay) {
    if (!replay) {
      // A counter in the first 8 bytes: distinct unless the input asks for a replay. (The
      // replay window keys on those 8 bytes only, which random nonces make unique.)
      ++nonce_counter_;
      for (std::size_t i = 0; i < 8; ++i) {
        nonce_[i] = static_cast<std::uint8_t>(nonce_counter_ >> (8 * i));
      }
    }
    const fuzz::FixedKeys& keys = fuzz::fixed_keys();
    datagram(path, seal_channel(keys.a_token, nonce_, keys.b_channel.in, inner));
  }

  void sealed_message(PathId path, std::uint32_t seq, ByteView inner) {
    const fuzz::FixedKeys& keys = fuzz::fixed_keys();
    datagram(path,
             seal_message(seq, keys.a_ephemeral.public_key, keys.k_box, keys.s_static, inner));
  }

  void advance(std::uint8_t steps, bool seconds_unit) {
    now_ += seconds_unit ? seconds(steps) : milliseconds(20) * steps;
    // Timers re-arm as they fire; a bounded number per step is plenty (resends, keepalives).
    for (int fired = 0; fired < 64; ++fired) {
      const auto due = endpoint_.next_timeout();
      if (!due || *due > now_) break;
      endpoint_.handle_timeout(now_);
      drain(/*dropped=*/false);
    }
  }

  void command(PathId path, Reader& in) {
    const std::uint8_t which = in.u8();
    switch (which % 7) {
      case 0:
        (void)endpoint_.connect(now_, a_, path);
        break;
      case 1:
        (void)endpoint_.request_keepalive(now_, a_, (which & 0x80) ? kNoPath : path);
        break;
      case 2: {
        const ByteView type = in.bytes(in.u8() % 16);
        const ByteView body = in.bytes(in.u8());
        auto id = endpoint_.open_channel(now_, a_, std::string(type.begin(), type.end()),
                                         (which & 0x80) != 0, {}, Bytes(body.begin(), body.end()));
        if (id) channels_.push_back(*id);
        break;
      }
      case 3: {
        const std::uint32_t channel = pick_channel(in.u8());
        const ByteView body = in.bytes(in.u16());
        (void)endpoint_.send_channel(now_, a_, channel, {}, Bytes(body.begin(), body.end()),
                                     (which & 0x80) != 0);
        break;
      }
      case 4:
        (void)endpoint_.close_channel(now_, a_, pick_channel(in.u8()), "fuzz");
        break;
      case 5:
        (void)endpoint_.send_message(now_, a_, "msg", "m1",
                                     boost::json::object{{"expires", 3600 + in.u8()}},
                                     in.bytes(in.u16()), (which & 0x80) ? kNoPath : path);
        break;
      default:
        (void)endpoint_.set_peer_options(a_, PeerOptions{.keepalive = seconds(in.u8())});
        break;
    }
    drain(/*dropped=*/false);
  }

  // A channel we or A opened, or any id (to reach the unknown-channel paths).
  std::uint32_t pick_channel(std::uint8_t choice) const {
    if (channels_.empty() || (choice & 0x80)) return choice & 0x7f;
    return channels_[choice % channels_.size()];
  }

  void drain(bool dropped) {
    while (auto transmit = endpoint_.poll_transmit()) {
      E3X_FUZZ_CHECK(!dropped);
      E3X_FUZZ_CHECK(transmit->path != kNoPath);
      const auto packet = lob_decode(transmit->packet);
      E3X_FUZZ_CHECK(packet.has_value());
      E3X_FUZZ_CHECK(packet->head.empty() ||
                     (packet->head.size() == 1 && packet->head[0] == kCsid3a));
    }
    while (auto event = endpoint_.poll_event()) {
      E3X_FUZZ_CHECK(!dropped);
      std::visit(
          [&](const auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, event::MessageReceived>) {
              E3X_FUZZ_CHECK(e.from == a_);
            } else {
              E3X_FUZZ_CHECK(e.peer == a_);
            }
            if constexpr (std::is_same_v<E, event::ChannelOpened>) channels_.push_back(e.channel);
          },
          *event);
    }
    E3X_FUZZ_CHECK(endpoint_.stats().dropped_transmits == 0);
    E3X_FUZZ_CHECK(endpoint_.stats().dropped_events == 0);
    if (const auto status = endpoint_.peer_status(a_)) {
      E3X_FUZZ_CHECK(status->pending <= kDefaultPendingLimit);
    }
  }

  // The vectors' B_ephemeral secret first (B's first exchange), then a seeded stream: the
  // same input always produces the same run.
  ScriptedRandom random_{5, from_hex(fuzz::kSecretBEphemeral).value()};
  Endpoint endpoint_;
  Hashname a_;
  Instant now_{};
  ChannelNonce nonce_{};
  std::uint64_t nonce_counter_ = 0;
  std::vector<std::uint32_t> channels_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(fuzz::view_of(data, size));
  Harness harness;
  harness.run(in);
  return 0;
}
