// Keepalive (PROTOCOL.md 3, 5 and 9): once in sync, a new handshake with a higher SEQ goes
// out exactly one keepalive interval after the last datagram sent to the peer (to the
// millisecond), or 10 s after data the peer left unanswered (section 10 rule 6), never with
// keepalive 0 and no data, and a keepalive between known exchanges costs no X25519 operation
// (validation caching).
#include <gtest/gtest.h>

#include "core/exchange.hpp"
#include "sim/observe.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

// The first data packet (not a handshake) `host` sent after the last datagram it received
// before `at`: what started rule 6's silence timer, if anything did.
std::optional<Instant> first_unanswered_data(const Simulator& sim, const Host& host, Instant at) {
  Instant last_received{};
  for (const auto& record : host.received()) {
    if (record.at < at) last_received = std::max(last_received, record.at);
  }
  for (const auto& record : sim.sent_by(host)) {
    // At the same instant as the receipt counts as after it (a reply sent from its handler).
    if (record.at >= last_received && record.at < at && !message_seq(record.bytes)) {
      return record.at;
    }
  }
  return std::nullopt;
}

// Checks every handshake `host` originated after `after`: it came exactly `interval` after
// the host's previous datagram, or exactly kSilenceAfterSending after data the peer has not
// answered since, and its SEQ is above every earlier one. Returns how many.
std::size_t check_keepalive_timing(const Simulator& sim, const Host& host, const Host& peer,
                                   Instant after, Duration interval) {
  SCOPED_TRACE("host " + host.name());
  const std::uint32_t own = is_high(host, peer) ? 1 : 0;
  const auto sent = sim.sent_by(host);
  std::uint32_t max_seq = 0;
  std::size_t checked = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    auto seq = message_seq(sent[i].bytes);
    if (!seq || *seq % 2 != own) continue;
    if (*seq <= max_seq) {
      EXPECT_EQ(*seq, max_seq) << "an own-parity SEQ below the newest one";
      continue;  // a resend
    }
    max_seq = *seq;
    if (sent[i].at <= after) continue;
    ++checked;
    EXPECT_GT(i, 0u);
    if (i == 0) continue;
    // After a datagram that only answered the peer's handshake (it echoes the peer's SEQ
    // parity), the answering side waits min(interval / 10, 1 s) longer, so that the side that
    // asked asks again instead of both crossing (core/exchange.cpp, keepalive_due).
    const auto previous_seq = message_seq(sent[i - 1].bytes);
    const bool after_answer = previous_seq && *previous_seq % 2 != own;
    const Duration expected =
        after_answer ? interval + std::min<Duration>(interval / 10, kKeepaliveAnswererGrace)
                     : interval;
    const Duration quiet = sent[i].at - sent[i - 1].at;
    const auto unanswered = first_unanswered_data(sim, host, sent[i].at);
    const bool by_silence = unanswered && std::chrono::abs(sent[i].at - *unanswered -
                                                           kSilenceAfterSending) < milliseconds(1);
    EXPECT_TRUE(std::chrono::abs(quiet - expected) < milliseconds(1) || by_silence)
        << "keepalive SEQ " << *seq << " at +" << (sent[i].at - sim.start()).count() / 1000000
        << " ms came " << quiet.count() / 1000000 << " ms after the previous send";
  }
  return checked;
}

void run_keepalive(std::uint64_t seed, Duration interval) {
  SCOPED_TRACE("keepalive " + std::to_string(interval.count() / 1000000) + " ms");
  Simulator sim(seed);
  sim.network().set_default_link(LinkParams{milliseconds(23), milliseconds(7), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{interval});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const Instant synced = sim.now();
  const std::uint32_t channel = sim.open_channel(a, b, "traffic", false, bytes_of("open"));
  ASSERT_TRUE(sim.run_until([&] { return opened_channel(b, a.hashname(), "traffic").has_value(); },
                            seconds(5)));
  ASSERT_TRUE(sim.send_channel(b, a, channel, bytes_of("open too")).has_value());
  // Traffic in the middle of an interval pushes that side's keepalive back.
  sim.run_for(interval / 2);
  ASSERT_TRUE(sim.send_channel(a, b, channel, bytes_of("data")).has_value());
  sim.run_for(interval * 8);

  const std::size_t by_a = check_keepalive_timing(sim, a, b, synced, interval);
  const std::size_t by_b = check_keepalive_timing(sim, b, a, synced, interval);
  EXPECT_GE(by_a + by_b, 7u) << "too few keepalive handshakes over 8 intervals";
  // One side asks and the other answers: keepalives of the two sides do not cross, which
  // would double the handshakes (about one origination per interval, not two).
  EXPECT_LE(by_a + by_b, 9u) << "keepalive handshakes of both sides crossed";
  EXPECT_EQ(a.count<event::ExchangeDown>() + b.count<event::ExchangeDown>(), 0u);
  EXPECT_EQ(a.count<event::ExchangeUp>(), 1u);
  EXPECT_EQ(b.count<event::ExchangeUp>(), 1u);
  EXPECT_TRUE(sim.in_sync(a, b));
  // No gap on the wire longer than the interval (plus a round trip) from either side.
  for (Host* h : {&a, &b}) {
    const auto sent = sim.sent_by(*h);
    for (std::size_t i = 1; i < sent.size(); ++i) {
      EXPECT_LE(sent[i].at - sent[i - 1].at, interval + milliseconds(100)) << h->name();
    }
  }
}

TEST(SimKeepalive, DefaultIntervalFollowsTheLastSend) {
  run_keepalive(resolve_seed(501), seconds(25));
}

TEST(SimKeepalive, ShortIntervalFollowsTheLastSend) {
  run_keepalive(resolve_seed(502), seconds(3));
}

TEST(SimKeepalive, ZeroMeansNoKeepaliveForTenMinutes) {
  Simulator sim(resolve_seed(503));
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  sim.run_for(seconds(1));
  const auto a_sent = a.datagrams_sent();
  const auto b_sent = b.datagrams_sent();
  sim.run_for(seconds(600));
  EXPECT_EQ(a.datagrams_sent(), a_sent);
  EXPECT_EQ(b.datagrams_sent(), b_sent);
  EXPECT_TRUE(sim.in_sync(a, b));
  EXPECT_EQ(a.count<event::ExchangeDown>() + b.count<event::ExchangeDown>(), 0u);
}

// Keepalive on one side only: that side keeps originating; the other only answers.
TEST(SimKeepalive, OneSidedKeepalive) {
  Simulator sim(resolve_seed(504));
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, PeerOptions{seconds(10)}, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const Instant synced = sim.now();
  sim.run_for(seconds(100));
  EXPECT_GE(check_keepalive_timing(sim, a, b, synced, seconds(10)), 9u);
  EXPECT_EQ(check_keepalive_timing(sim, b, a, synced, seconds(10)), 0u);
}

TEST(SimKeepalive, KeepaliveBetweenKnownExchangesCostsNoX25519) {
  Simulator sim(resolve_seed(505));
  sim.network().set_default_link(LinkParams{milliseconds(10), milliseconds(5), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{seconds(5)});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  sim.run_for(seconds(1));
  const auto a_x = a.stats().x25519_operations;
  const auto b_x = b.stats().x25519_operations;
  const auto a_hs = a.stats().handshakes_received;
  const auto b_hs = b.stats().handshakes_received;
  EXPECT_GT(a_x, 0u);
  sim.run_for(seconds(60));
  // Plus explicit keepalive requests from both sides.
  ASSERT_TRUE(sim.request_keepalive(a, b).has_value());
  ASSERT_TRUE(sim.request_keepalive(b, a).has_value());
  sim.run_for(seconds(5));
  EXPECT_EQ(a.stats().x25519_operations, a_x);
  EXPECT_EQ(b.stats().x25519_operations, b_x);
  EXPECT_GE(a.stats().handshakes_received, a_hs + 10);
  EXPECT_GE(b.stats().handshakes_received, b_hs + 10);
  EXPECT_TRUE(sim.in_sync(a, b));
}

}  // namespace
}  // namespace e3x::sim
