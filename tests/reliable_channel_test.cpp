// Reliable channels: seq, ack, miss, window, backlog, end; the timing of PROTOCOL.md section 13
// (acks within 25 ms or every second packet, RTT estimation with Karn's rule, loss detection
// by reordering and time thresholds, the retransmission timeout with its floor and backoff,
// resends at most once per RTT); flow control (the window never exceeded, consumer-paced
// windows, auto-tuning); and a lossy simulated network carrying 10,000 packets.
#include <algorithm>
#include <chrono>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "channel_harness.hpp"
#include "core/channel.hpp"

namespace e3x {
namespace {

using std::chrono::microseconds;
using test::at_ms;
using test::bytes_of;
using test::drain_events;
using test::drain_out;
using test::int_key;
using test::json_of;
using test::miss_of;
using test::over_wire;

Instant at_us(std::int64_t us) {
  return Instant{} + microseconds(us);
}

std::string head(const ChannelOutgoing& packet) {
  return boost::json::serialize(packet.json);
}

std::vector<std::string> bodies_of(const std::vector<ChannelEvent>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) {
    if (const auto* data = std::get_if<channel_event::Data>(&event)) {
      out.emplace_back(data->body.begin(), data->body.end());
    }
  }
  return out;
}

std::vector<std::int64_t> seqs_of(const std::vector<ChannelOutgoing>& packets) {
  std::vector<std::int64_t> out;
  for (const auto& packet : packets) out.push_back(int_key(packet.json, "seq").value_or(0));
  return out;
}

void deliver(Channel& to, const std::vector<ChannelOutgoing>& packets, Instant now) {
  for (const auto& packet : packets) to.receive(over_wire(packet.json), packet.body, now);
}

void expect_error(Channel& channel, const std::string& reason) {
  EXPECT_EQ(channel.state(), ChannelState::kClosed);
  auto events = drain_events(channel);
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(std::holds_alternative<channel_event::Errored>(events.back()));
  EXPECT_EQ(std::get<channel_event::Errored>(events.back()).reason, reason);
  auto out = drain_out(channel);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].json.at("err"), reason.c_str());
  EXPECT_EQ(out[0].json.size(), 2u);
}

// A opened channel 1 at t=0; B accepted it. The open packet is not delivered again.
struct Opened {
  Channel a;
  Channel b;
};
Opened open_pair(Instant now = at_ms(0)) {
  auto a = Channel::open(1, "stream", true, json_of(R"({"k":"v"})"), bytes_of("open"), now);
  auto out = drain_out(a);
  EXPECT_EQ(out.size(), 1u);
  auto b = Channel::accept(1, over_wire(out.at(0).json), out.at(0).body, now);
  EXPECT_TRUE(b.has_value());
  return Opened{std::move(a), std::move(*b)};
}

// A sends bodies "2".."n" as seqs 2..n and returns those packets.
std::vector<ChannelOutgoing> send_numbered(Channel& a, int from, int to, Instant now) {
  for (int i = from; i <= to; ++i) {
    EXPECT_TRUE(a.send({}, bytes_of(std::to_string(i)), false, now).has_value());
  }
  return drain_out(a);
}

TEST(ReliableChannel, OpenPacketCarriesSeqOne) {
  auto a = Channel::open(1, "stream", true, json_of(R"({"k":"v"})"), bytes_of("x"), at_ms(0));
  EXPECT_TRUE(a.reliable());
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(head(out[0]), R"({"c":1,"type":"stream","k":"v","seq":1})");
}

// PROTOCOL.md 13: a seq is acknowledged within 25 ms (it was 1 s). Every ack carries the
// window in "miss" (here the initial 100 packets beyond the ack).
TEST(ReliableChannel, AccepterAcksTheOpenWithin25Ms) {
  auto [a, b] = open_pair();
  EXPECT_EQ(b.state(), ChannelState::kOpening);
  EXPECT_EQ(b.next_timeout(), at_ms(25));
  b.handle_timeout(at_ms(24));
  EXPECT_TRUE(drain_out(b).empty());
  b.handle_timeout(at_ms(25));
  auto out = drain_out(b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(head(out[0]), R"({"c":1,"ack":1,"miss":[100]})");  // ad-hoc: no seq
  EXPECT_EQ(b.state(), ChannelState::kOpen);

  EXPECT_EQ(a.state(), ChannelState::kOpening);
  deliver(a, out, at_ms(40));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  EXPECT_TRUE(drain_events(a).empty());             // an ack is not content
  EXPECT_FALSE(a.next_timeout().has_value());       // nothing unacked, OPEN: no timer
  EXPECT_EQ(a.rtt().smoothed(), milliseconds(40));  // the open was sent once: a sample
}

TEST(ReliableChannel, ContentCarryingTheAckReplacesTheAdHocAck) {
  auto [a, b] = open_pair();
  ASSERT_TRUE(b.send({}, bytes_of("reply"), false, at_ms(10)).has_value());
  auto out = drain_out(b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(head(out[0]), R"({"c":1,"seq":1,"ack":1,"miss":[100]})");
  b.handle_timeout(at_ms(25));
  EXPECT_TRUE(drain_out(b).empty());
  EXPECT_EQ(b.next_timeout(), at_ms(10) + kInitialRto);  // only its own packet's timeout

  deliver(a, out, at_ms(20));
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  const auto& data = std::get<channel_event::Data>(events[0]);
  EXPECT_EQ(data.body, bytes_of("reply"));
  EXPECT_EQ(data.json.at("seq"), 1);
  // From now on everything A sends carries the ack (and its window).
  auto sent = send_numbered(a, 2, 2, at_ms(30));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(head(sent[0]), R"({"c":1,"seq":2,"ack":1,"miss":[100]})");
}

// A gap is acknowledged at once, so "miss" reaches the sender one round trip after the loss.
TEST(ReliableChannel, OutOfOrderIsBufferedMissReportedAtOnceAndDeliveredInOrder) {
  auto [a, b] = open_pair();
  b.handle_timeout(at_ms(25));
  drain_out(b);  // the open's ack
  auto sent = send_numbered(a, 2, 5, at_ms(0));
  ASSERT_EQ(seqs_of(sent), (std::vector<std::int64_t>{2, 3, 4, 5}));

  deliver(b, {sent[0]}, at_ms(30));  // 2
  EXPECT_EQ(bodies_of(drain_events(b)), (std::vector<std::string>{"2"}));
  EXPECT_TRUE(drain_out(b).empty());  // in order, the first since the last ack: it may wait

  deliver(b, {sent[2]}, at_ms(31));  // 4: a gap
  EXPECT_TRUE(drain_events(b).empty());
  auto ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":2,"miss":[1,99]})");  // 3 missing; up to 102

  deliver(b, {sent[3]}, at_ms(32));  // 5: still a gap
  ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":2,"miss":[1,99]})");

  deliver(b, {sent[1]}, at_ms(33));  // 3 fills it
  EXPECT_EQ(bodies_of(drain_events(b)), (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_TRUE(drain_out(b).empty());
  EXPECT_EQ(b.next_timeout(), at_ms(58));
  b.handle_timeout(at_ms(58));
  ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":5,"miss":[100]})");
}

// PROTOCOL.md 13: every second packet is acknowledged at once (it was every 32nd), a lone one
// within 25 ms.
TEST(ReliableChannel, EverySecondPacketIsAckedAtOnceAndALoneOneWithin25Ms) {
  auto [a, b] = open_pair();
  b.handle_timeout(at_ms(25));
  drain_out(b);
  auto sent = send_numbered(a, 2, 6, at_ms(0));
  ASSERT_EQ(sent.size(), 5u);
  deliver(b, {sent[0]}, at_ms(30));
  EXPECT_TRUE(drain_out(b).empty());
  deliver(b, {sent[1]}, at_ms(31));
  auto ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":3,"miss":[100]})");
  deliver(b, {sent[2]}, at_ms(32));
  EXPECT_TRUE(drain_out(b).empty());
  deliver(b, {sent[3]}, at_ms(33));
  ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":5,"miss":[100]})");
  deliver(b, {sent[4]}, at_ms(40));
  EXPECT_TRUE(drain_out(b).empty());
  EXPECT_EQ(b.next_timeout(), at_ms(65));
  b.handle_timeout(at_ms(64));
  EXPECT_TRUE(drain_out(b).empty());
  b.handle_timeout(at_ms(65));
  ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":6,"miss":[100]})");
}

TEST(ReliableChannel, DuplicatesAndOldPacketsAreDroppedAndAckedAtOnce) {
  auto [a, b] = open_pair();
  auto open_again =
      Channel::open(1, "stream", true, json_of(R"({"k":"v"})"), bytes_of("open"), at_ms(0));
  deliver(b, drain_out(open_again), at_ms(5));  // the open packet again
  EXPECT_TRUE(drain_events(b).empty());
  auto ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":1,"miss":[100]})");

  auto sent = send_numbered(a, 2, 3, at_ms(0));
  deliver(b, {sent[1]}, at_ms(6));
  drain_out(b);
  deliver(b, {sent[1]}, at_ms(7));  // a duplicate of a buffered one
  ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":1,"miss":[1,99]})");  // 2 missing; up to 101
  deliver(b, {sent[0]}, at_ms(8));
  deliver(b, {sent[0], sent[1]}, at_ms(9));  // now old
  EXPECT_EQ(bodies_of(drain_events(b)), (std::vector<std::string>{"2", "3"}));
}

TEST(ReliableChannel, PacketsBeyondTheBufferAreDropped) {
  auto [a, b] = open_pair();
  b.handle_timeout(at_ms(1000));
  drain_out(b);
  // B has ack 1 and buffers up to 101.
  b.receive(json_of(R"({"c":1,"seq":102})"), bytes_of("too far"), at_ms(1100));
  auto ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":1,"miss":[100]})");
  b.receive(json_of(R"({"c":1,"seq":101})"), bytes_of("101"), at_ms(1100));
  ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  auto miss = miss_of(ack[0].json);
  ASSERT_EQ(miss.size(), 100u);  // 2..100 missing, then the window
  std::int64_t sum = 1;
  for (auto delta : miss) sum += delta;
  EXPECT_EQ(sum, 101);
  for (int i = 2; i <= 100; ++i) {
    b.receive(json_of("{\"c\":1,\"seq\":" + std::to_string(i) + "}"), bytes_of(std::to_string(i)),
              at_ms(1200));
  }
  auto bodies = bodies_of(drain_events(b));
  ASSERT_EQ(bodies.size(), 100u);
  EXPECT_EQ(bodies.back(), "101");  // 102 was not kept
}

// Issue 10: out-of-order packets were held without any bound beyond each channel's window
// (100 packets x 1024 channels per peer). They are charged to a budget shared by an
// exchange's channels (and the endpoint's); what does not fit is dropped as if lost, the next
// packet in order is never refused, and everything is delivered once the gaps are filled.
TEST(ReliableChannel, OutOfOrderPacketsAreBoundedByTheSharedBudget) {
  std::size_t endpoint_total = 0;
  ReorderBudget budget{
      .used = 0, .limit = 3000, .shared_used = &endpoint_total, .shared_limit = 1'000'000};
  auto [a, b] = open_pair();
  b.set_reorder_budget(&budget);
  auto sent = send_numbered(a, 2, 40, at_ms(0));  // 39 packets of a few bytes
  // Everything but seq 2 arrives: only what fits the budget is held.
  for (std::size_t i = 1; i < sent.size(); ++i) deliver(b, {sent[i]}, at_ms(10));
  EXPECT_LE(budget.used, 3000u);
  EXPECT_GT(budget.used, 0u);
  EXPECT_EQ(endpoint_total, budget.used);
  EXPECT_EQ(b.reorder_bytes(), budget.used);
  const std::size_t held = budget.used;
  EXPECT_LT(held / 128, sent.size() - 1) << "the budget did not limit anything";
  // The gap is filled: in-order delivery releases the budget, and the peer's resends of
  // what was dropped (all of it, here) are delivered in order.
  deliver(b, {sent[0]}, at_ms(20));
  for (std::size_t i = 1; i < sent.size(); ++i) deliver(b, {sent[i]}, at_ms(30));
  auto bodies = bodies_of(drain_events(b));
  ASSERT_EQ(bodies.size(), sent.size());
  EXPECT_EQ(bodies.front(), "2");
  EXPECT_EQ(bodies.back(), "40");
  EXPECT_EQ(budget.used, 0u);
  EXPECT_EQ(endpoint_total, 0u);
  // A channel that errors gives its held bytes back.
  auto [c, d] = open_pair();
  d.set_reorder_budget(&budget);
  auto more = send_numbered(c, 2, 5, at_ms(0));
  deliver(d, {more[2]}, at_ms(10));
  EXPECT_GT(budget.used, 0u);
  d.abort("reset");
  EXPECT_EQ(budget.used, 0u);
  EXPECT_EQ(endpoint_total, 0u);
}

// ---- RTT, loss detection, timeouts (PROTOCOL.md 13) -----------------------------------------

TEST(RttEstimator, FollowsRfc6298) {
  RttEstimator rtt;
  EXPECT_FALSE(rtt.has_sample());
  EXPECT_EQ(rtt.rto(), kInitialRto);  // 1 s before any sample (not the old 2 s)
  EXPECT_EQ(rtt.loss_delay(), kInitialRtt * 9 / 8);
  rtt.on_sample(milliseconds(100));  // SRTT = R, RTTVAR = R/2
  EXPECT_EQ(rtt.smoothed(), milliseconds(100));
  EXPECT_EQ(rtt.variation(), milliseconds(50));
  EXPECT_EQ(rtt.rto(), milliseconds(300));  // SRTT + 4 RTTVAR
  rtt.on_sample(milliseconds(200));         // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200|, then SRTT
  EXPECT_EQ(rtt.variation(), microseconds(62'500));
  EXPECT_EQ(rtt.smoothed(), microseconds(112'500));
  EXPECT_EQ(rtt.rto(), microseconds(362'500));
  EXPECT_EQ(rtt.min(), milliseconds(100));
  EXPECT_EQ(rtt.latest(), milliseconds(200));
  EXPECT_EQ(rtt.loss_delay(), microseconds(225'000));  // 9/8 * max(srtt, latest)
  for (int i = 0; i < 100; ++i) rtt.on_sample(milliseconds(1));
  EXPECT_EQ(rtt.rto(), kMinRto);  // the 200 ms floor
  EXPECT_EQ(rtt.min(), milliseconds(1));
}

// A opened at 0 and got the ack of its open at `rtt`: its path has one RTT sample.
Opened open_with_rtt(Duration rtt) {
  auto opened = open_pair();
  opened.b.handle_timeout(at_ms(25));
  deliver(opened.a, drain_out(opened.b), Instant{} + rtt);
  EXPECT_EQ(opened.a.rtt().smoothed(), rtt);
  return opened;
}

// The ack of a packet sent more than once, or of one that was reported missing, gives no
// sample: it may answer another send, or a later packet that only now completed the sequence.
TEST(ReliableChannel, KarnsRuleNoRttSampleFromResentOrReportedPackets) {
  auto [a, b] = open_with_rtt(milliseconds(100));  // srtt 100, rttvar 50: RTO 300 ms
  send_numbered(a, 2, 2, at_ms(1000));
  a.handle_timeout(at_ms(1300));  // the timeout resends 2
  EXPECT_EQ(seqs_of(drain_out(a)), (std::vector<std::int64_t>{2, 2}));
  a.receive(json_of(R"({"c":1,"ack":2,"miss":[100]})"), {}, at_ms(1310));
  EXPECT_EQ(a.rtt().smoothed(), milliseconds(100));  // 310 ms or 10 ms? neither is sampled

  send_numbered(a, 3, 4, at_ms(2000));
  a.receive(json_of(R"({"c":1,"ack":2,"miss":[1,100]})"), {}, at_ms(2050));  // 3 missing
  a.receive(json_of(R"({"c":1,"ack":4,"miss":[100]})"), {}, at_ms(2060));
  EXPECT_EQ(a.rtt().smoothed(), milliseconds(100));  // 3 was reported: no sample

  send_numbered(a, 5, 5, at_ms(3000));
  a.receive(json_of(R"({"c":1,"ack":5,"miss":[100]})"), {}, at_ms(3020));
  EXPECT_EQ(a.rtt().latest(), milliseconds(20));
  EXPECT_EQ(a.rtt().smoothed(), microseconds(90'000));  // 7/8 * 100 + 1/8 * 20
}

// A's data 2..8 leaves at 1000 (srtt 100 ms); 2 is lost and each later arrival makes B report
// it. The reports as B would send them: ack 1, 2 missing, window to 101.
constexpr const char* kReportTwo = R"({"c":1,"ack":1,"miss":[1,99]})";

// PROTOCOL.md 13: lost once three later packets are reported (before the time threshold).
TEST(ReliableChannel, LossDetectedByTheReorderingThreshold) {
  auto [a, b] = open_with_rtt(milliseconds(100));
  auto sent = send_numbered(a, 2, 8, at_ms(1000));
  ASSERT_EQ(sent.size(), 7u);
  a.receive(json_of(kReportTwo), {}, at_ms(1100));
  a.receive(json_of(kReportTwo), {}, at_ms(1101));
  EXPECT_TRUE(drain_out(a).empty());  // two reports: could be reordering
  a.receive(json_of(kReportTwo), {}, at_ms(1102));
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(head(out[0]), R"({"c":1,"seq":2})");
  EXPECT_EQ(out[0].body, bytes_of("2"));
  EXPECT_EQ(a.flow().losses, 1u);
}

// PROTOCOL.md 13: lost 9/8 * max(srtt, latest RTT) after it was sent, once a later packet
// was reported received, however few reports came.
TEST(ReliableChannel, LossDetectedByTheTimeThreshold) {
  auto [a, b] = open_with_rtt(milliseconds(100));
  send_numbered(a, 2, 8, at_ms(1000));
  a.receive(json_of(kReportTwo), {}, at_ms(1100));
  EXPECT_TRUE(drain_out(a).empty());
  EXPECT_EQ(a.next_timeout(), at_us(1'112'500));  // 1000 ms + 9/8 * 100 ms
  a.handle_timeout(at_us(1'112'499));
  EXPECT_TRUE(drain_out(a).empty());
  a.handle_timeout(at_us(1'112'500));
  EXPECT_EQ(seqs_of(drain_out(a)), (std::vector<std::int64_t>{2}));
}

// A resend is not resent again because of reports that answer packets sent before it (the
// old rule resent on every miss once a second), and at most once per RTT: only reports that
// follow packets sent after the resend count, and not within one srtt of it.
TEST(ReliableChannel, ALostPacketIsResentAtMostOncePerRtt) {
  auto [a, b] = open_with_rtt(milliseconds(100));
  send_numbered(a, 2, 8, at_ms(1000));
  for (int t : {1100, 1101, 1102}) a.receive(json_of(kReportTwo), {}, at_ms(t));
  EXPECT_EQ(seqs_of(drain_out(a)), (std::vector<std::int64_t>{2}));  // resent at 1102
  // The arrivals of 6, 7 and 8 (sent before the resend) are reported too: nothing.
  for (int t : {1103, 1104, 1105, 1150, 1190}) {
    a.receive(json_of(kReportTwo), {}, at_ms(t));
    EXPECT_TRUE(drain_out(a).empty()) << t;
  }
  EXPECT_EQ(a.next_timeout(), at_ms(1300)) << "only the timeout of the first send";
  // New packets after the resend; the resend was lost too, so their arrivals report 2 again:
  // three reports, but within one srtt of the resend it stays.
  send_numbered(a, 9, 11, at_ms(1150));
  for (int t : {1195, 1196, 1197}) a.receive(json_of(kReportTwo), {}, at_ms(t));
  EXPECT_TRUE(drain_out(a).empty());
  EXPECT_EQ(a.next_timeout(), at_us(1'214'500));  // max(1102 + 9/8 * 100, 1102 + srtt)
  a.handle_timeout(at_ms(1201));
  EXPECT_TRUE(drain_out(a).empty());
  a.receive(json_of(kReportTwo), {}, at_ms(1202));  // one srtt after the resend
  EXPECT_EQ(seqs_of(drain_out(a)), (std::vector<std::int64_t>{2}));
  EXPECT_EQ(a.flow().retransmissions, 2u);
}

// Reports of seqs we do not have (acknowledged, or never sent) are ignored.
TEST(ReliableChannel, ReportsOfUnknownSeqsAreIgnored) {
  auto [a, b] = open_with_rtt(milliseconds(100));
  send_numbered(a, 2, 4, at_ms(1000));
  a.receive(json_of(R"({"c":1,"ack":3,"miss":[50,50]})"), {}, at_ms(1100));
  a.handle_timeout(at_ms(1200));
  EXPECT_TRUE(drain_out(a).empty());
  EXPECT_EQ(a.flow().losses, 0u);
}

TEST(ReliableChannel, WindowFromMissIsRespectedAndBacklogFlushes) {
  auto [a, b] = open_pair();
  a.receive(json_of(R"({"c":1,"ack":1,"miss":[5]})"), {}, at_ms(10));  // window 5
  EXPECT_EQ(a.send_capacity(), 5u + kReliableBacklog);
  auto sent = send_numbered(a, 2, 11, at_ms(20));
  EXPECT_EQ(seqs_of(sent), (std::vector<std::int64_t>{2, 3, 4, 5, 6}));
  EXPECT_EQ(a.send_capacity(), kReliableBacklog - 5);
  a.receive(json_of(R"({"c":1,"ack":4,"miss":[5]})"), {}, at_ms(30));
  EXPECT_EQ(seqs_of(drain_out(a)), (std::vector<std::int64_t>{7, 8, 9}));
  // A smaller window stops the flow, a bigger one lets the rest go.
  a.receive(json_of(R"({"c":1,"ack":5,"miss":[1]})"), {}, at_ms(40));
  EXPECT_TRUE(drain_out(a).empty());
  a.receive(json_of(R"({"c":1,"ack":6,"miss":[100]})"), {}, at_ms(50));
  EXPECT_EQ(seqs_of(drain_out(a)), (std::vector<std::int64_t>{10, 11}));
}

TEST(ReliableChannel, BacklogFullRefusesAndCapacityCountsDown) {
  auto a = Channel::open(1, "stream", true, {}, {}, at_ms(0));
  drain_out(a);
  const std::size_t capacity = a.send_capacity();
  EXPECT_EQ(capacity, kReliableWindow - 1 + kReliableBacklog);  // seq 1 is in flight
  for (std::size_t i = 0; i < capacity; ++i) {
    ASSERT_EQ(a.send_capacity(), capacity - i);
    ASSERT_TRUE(a.send({}, bytes_of("x"), false, at_ms(1)).has_value()) << i;
  }
  EXPECT_EQ(a.send_capacity(), 0u);
  EXPECT_EQ(a.send({}, bytes_of("x"), false, at_ms(1)).error(), ChannelSendError::kBacklogFull);
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), kReliableWindow - 1);
  EXPECT_EQ(int_key(out.back().json, "seq"), std::int64_t{kReliableWindow});
  a.receive(json_of(R"({"c":1,"ack":10})"), {}, at_ms(2));
  EXPECT_EQ(drain_out(a).size(), 10u);
  EXPECT_EQ(a.send_capacity(), 10u);
}

// PROTOCOL.md 13: without acks the retransmission timeout (srtt + 4 rttvar, at least 200 ms)
// resends the oldest unacked packet (it blocks in-order delivery) and the newest (its ack
// carries the whole miss list), backing off exponentially up to 10 s. It gives up at a timeout
// once ten in a row went unanswered and 30 s passed without ack progress (issue 13: 30 s
// alone could come after only three probe rounds, all lost to burst loss after a blackout).
// (Before section 13: both every 2 s, whatever the path.)
TEST(ReliableChannel, TimeoutProbesWithFloorAndBackoffThenGivesUp) {
  auto [a, b] = open_with_rtt(milliseconds(26));  // srtt 26 + 4 * 13 = 78 ms: the floor rules
  a.receive(json_of(R"({"c":1,"seq":1,"ack":1})"), bytes_of("from b"), at_ms(1000));
  drain_events(a);
  auto sent = send_numbered(a, 2, 3, at_ms(1000));  // carries ack 1, so no ad-hoc ack
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(a.next_timeout(), at_ms(1200));

  const std::vector<std::int64_t> fires = {1200,   1600,   2400,   4000,   7200,
                                           13'600, 23'600, 33'600, 43'600, 53'600};
  for (std::size_t i = 0; i < fires.size(); ++i) {
    const std::int64_t t = fires[i];
    ASSERT_EQ(a.next_timeout(), at_ms(t)) << i;
    a.handle_timeout(at_ms(t - 1));
    ASSERT_TRUE(drain_out(a).empty()) << t;
    a.handle_timeout(at_ms(t));
    auto out = drain_out(a);
    ASSERT_EQ(out.size(), 2u) << t;
    EXPECT_EQ(head(out[0]), R"({"c":1,"seq":2,"ack":1,"miss":[100]})");  // the oldest
    EXPECT_EQ(out[0].body, bytes_of("2"));
    EXPECT_EQ(head(out[1]), R"({"c":1,"seq":3,"ack":1,"miss":[100]})");  // the newest
    EXPECT_EQ(a.flow().rto_backoff, i + 1);
  }
  ASSERT_EQ(kReliableGiveUpTimeouts, fires.size());
  // The next comes 10 s later (the ceiling): ten timeouts unanswered, over 30 s without ack
  // progress, so it gives up instead of probing again.
  EXPECT_EQ(a.next_timeout(), at_ms(63'600));
  a.handle_timeout(at_ms(63'599));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  a.handle_timeout(at_ms(63'600));
  expect_error(a, "timeout");
  EXPECT_TRUE(a.is_finished());
}

TEST(ReliableChannel, AnAckRestoresTheTimeoutWithoutBackoff) {
  auto [a, b] = open_with_rtt(milliseconds(100));  // RTO 300 ms
  send_numbered(a, 2, 4, at_ms(1000));
  a.handle_timeout(at_ms(1300));
  a.handle_timeout(at_ms(1900));
  EXPECT_EQ(a.flow().rto_backoff, 2u);
  drain_out(a);
  a.receive(json_of(R"({"c":1,"ack":2,"miss":[100]})"), {}, at_ms(2000));
  EXPECT_EQ(a.flow().rto_backoff, 0u);
  EXPECT_EQ(a.next_timeout(), at_ms(2300));
}

// Persistent congestion is a path gone silent (RFC 9002 7.6: no packet sent between the lost
// ones acknowledged): two timeouts in a row with no answer from the peer in between (ack
// progress, or an ack on its own). A timeout whose probes were answered is not silence, even
// without ack progress: the oldest packet lost once more while the other probe arrived is
// loss. (SimBbr seeds 158, 189 and 196 at 1% loss: one packet lost at each of its sends up to
// the first timeout's probe, the newest probe answered, and the second timeout collapsed
// BBR's window to 4 packets on a path that was delivering.)
TEST(ReliableChannel, PersistentCongestionOnlyWhenTimeoutsGoUnanswered) {
  PathControl path(CongestionAlgorithm::kBbr);
  auto a = Channel::open(1, "stream", true, {}, bytes_of("open"), at_ms(0));
  a.set_path(&path);
  auto poll = [&a](Instant now) {
    std::vector<std::int64_t> seqs;
    while (auto packet = a.poll_data(now)) seqs.push_back(int_key(packet->json, "seq").value());
    for (const auto& packet : drain_out(a)) seqs.push_back(int_key(packet.json, "seq").value());
    return seqs;
  };
  EXPECT_EQ(poll(at_ms(0)), (std::vector<std::int64_t>{1}));
  a.receive(json_of(R"({"c":1,"ack":1,"miss":[100]})"), {}, at_ms(100));  // srtt 100: RTO 300
  for (const char* body : {"2", "3"}) ASSERT_TRUE(a.send({}, bytes_of(body), false, at_ms(1000)));
  EXPECT_EQ(poll(at_ms(1000)), (std::vector<std::int64_t>{2, 3}));
  // 2 is lost, 3 arrives: reported, 2 is lost by the time threshold and resent (lost again).
  a.receive(json_of(kReportTwo), {}, at_ms(1100));
  a.handle_timeout(at_us(1'112'500));
  EXPECT_EQ(poll(at_us(1'112'500)), (std::vector<std::int64_t>{2}));
  // The timeout probes with 2 (lost a third time) and 3, which arrives: B reports 2 again.
  EXPECT_EQ(a.next_timeout(), at_ms(1300));
  a.handle_timeout(at_ms(1300));
  EXPECT_EQ(poll(at_ms(1300)), (std::vector<std::int64_t>{2, 3}));
  a.receive(json_of(kReportTwo), {}, at_ms(1400));
  const std::size_t window = path.window();
  // The next timeout (backed off) probes again, but the path answered since the last one.
  EXPECT_EQ(a.next_timeout(), at_ms(1900));
  a.handle_timeout(at_ms(1900));
  EXPECT_EQ(poll(at_ms(1900)), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.flow().rto_backoff, 2u);
  EXPECT_EQ(path.stats().persistent_congestion, 0u);
  EXPECT_EQ(path.window(), window);
  // The peer's own content carries its ack whether or not our packets arrive: no answer.
  a.receive(json_of(R"({"c":1,"seq":1,"ack":1,"miss":[1,99]})"), bytes_of("from b"), at_ms(2000));
  a.handle_timeout(at_ms(2025));  // A acks it
  drain_out(a);
  // Silence: the timeout after one that went unanswered is persistent congestion.
  EXPECT_EQ(a.next_timeout(), at_ms(3100));
  a.handle_timeout(at_ms(3100));
  EXPECT_EQ(path.stats().persistent_congestion, 1u);
  EXPECT_LT(path.window(), window);
}

// Packets a miss list shows arrived (between the ack and the last hole it names) leave the
// flight at once, so they do not hold back the repairs. (SimBbr seed 255 at 1% loss: acks for
// packets above a hole were lost while BBR's ProbeRTT held the window at four packets; the
// packets they would have credited filled it, the repair could not be sent, and two
// retransmission timeouts in a row declared persistent congestion on a delivering path.)
TEST(ReliableChannel, PacketsTheMissListShowsArrivedLeaveTheFlight) {
  PathControl path(CongestionAlgorithm::kNewReno);  // 10 packets' window, halved on loss
  auto a = Channel::open(1, "stream", true, {}, bytes_of("open"), at_ms(0));
  a.set_path(&path);
  // What the exchange's scheduler lets go: the congestion window and pacing decide.
  auto poll = [&a, &path](Instant now) {
    std::vector<std::int64_t> seqs;
    while (a.has_data_to_send() && path.window_allows(a.next_data_size()) &&
           path.release_time(now, a.next_data_size()) <= now) {
      auto packet = a.poll_data(now);
      if (!packet) break;
      seqs.push_back(int_key(packet->json, "seq").value());
    }
    for (const auto& packet : drain_out(a)) seqs.push_back(int_key(packet.json, "seq").value());
    return seqs;
  };
  EXPECT_EQ(poll(at_ms(0)), (std::vector<std::int64_t>{1}));
  a.receive(json_of(R"({"c":1,"ack":1,"miss":[100]})"), {}, at_ms(100));  // srtt 100
  for (int i = 2; i <= 11; ++i) {
    ASSERT_TRUE(a.send({}, Bytes(1200, static_cast<std::uint8_t>(i)), false, at_ms(1000)));
  }
  std::vector<std::int64_t> sent;
  for (int t = 1000; t < 1060; ++t) {  // paced out over a few milliseconds
    for (auto seq : poll(at_ms(t))) sent.push_back(seq);
  }
  ASSERT_EQ(sent, (std::vector<std::int64_t>{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  // 2 and 10 are lost; of B's acks only the one after 11 arrives: holes 2 and 10, edge 101.
  a.receive(json_of(R"({"c":1,"ack":1,"miss":[1,8,91]})"), {}, at_ms(1100));
  // 3..9 are shown arrived, 11 presumed (the highest B holds is above the last hole): what
  // stays in flight is 2 and 10, two bodies and their heads (before, 2..10: nine packets).
  EXPECT_GT(path.bytes_in_flight(), 2 * 1200u);
  EXPECT_LT(path.bytes_in_flight(), 2 * 1300u);
  // Both holes pass the time threshold: the window halves, and both repairs go at once.
  a.handle_timeout(at_ms(1200));
  EXPECT_EQ(a.flow().losses, 2u);
  EXPECT_EQ(poll(at_ms(1200)), (std::vector<std::int64_t>{2, 10}));
}

// A hostile peer names a hole far above anything we sent. Crediting reads only the seqs we
// sent: before, it read every seq up to the named hole (four billion: seconds of CPU per
// channel) and then took them all as read, so later, honest lists credited nothing.
TEST(ReliableChannel, AMissListFarBeyondWhatWasSentReadsOnlyWhatWasSent) {
  PathControl path(CongestionAlgorithm::kNewReno);
  auto a = Channel::open(1, "stream", true, {}, bytes_of("open"), at_ms(0));
  a.set_path(&path);
  auto send = [&a](int from, int to, Instant now) {
    for (int i = from; i <= to; ++i)
      ASSERT_TRUE(a.send({}, bytes_of(std::to_string(i)), false, now));
    while (a.poll_data(now)) {
    }
  };
  send(1, 1, at_ms(0));
  a.receive(json_of(R"({"c":1,"ack":1,"miss":[100]})"), {}, at_ms(100));
  send(2, 4, at_ms(1000));
  a.receive(json_of(R"({"c":1,"ack":1,"miss":[4000000000,1]})"), {}, at_ms(1010));
  EXPECT_EQ(path.bytes_in_flight(), 0u);  // it claims 2, 3 and 4 arrived: its own business
  send(5, 8, at_ms(1020));
  const std::size_t four_packets = path.bytes_in_flight();
  // Honest again: 5 and 7 missing, 6 arrived (8 is not presumed: the ack moved, so it is
  // not a duplicate). Read from the stored mark, 6 stayed in flight.
  a.receive(json_of(R"({"c":1,"ack":4,"miss":[1,2,97]})"), {}, at_ms(1100));
  EXPECT_EQ(path.bytes_in_flight(), four_packets * 3 / 4);
  // The same report again, a duplicate ack: one more arrived above 7, so 8 is presumed (the
  // far hole had moved where presumption starts beyond every seq, for good).
  a.receive(json_of(R"({"c":1,"ack":4,"miss":[1,2,97]})"), {}, at_ms(1101));
  EXPECT_EQ(path.bytes_in_flight(), four_packets / 2);
}

// ---- flow control -----------------------------------------------------------------------

// Consumer pacing (PROTOCOL.md 11 and 13): delivered packets count against the window until
// the application consumes them, so a reader that stops stops the sender after one window;
// the sender probes the closed window without giving up; consuming reopens it at once.
TEST(ReliableChannel, ConsumerPacedWindowOpensOnlyAsTheApplicationConsumes) {
  auto [a, b] = open_pair();
  b.set_consumer_paced(true, at_ms(0));
  for (int i = 2; i <= 301; ++i) {
    ASSERT_TRUE(a.send({}, bytes_of(std::to_string(i)), false, at_ms(0)).has_value()) << i;
  }
  // Both sides' network: everything A sends reaches B and back, at `t`.
  auto exchange = [&](Instant t) {
    for (int round = 0; round < 10; ++round) {
      auto to_b = drain_out(a);
      auto to_a = drain_out(b);
      if (to_b.empty() && to_a.empty()) return;
      deliver(b, to_b, t);
      deliver(a, to_a, t);
    }
  };
  exchange(at_ms(10));
  b.handle_timeout(at_ms(35));  // the ack of 101, delayed as a lone packet's is
  exchange(at_ms(35));
  // The open was consumed; 100 more fit: 2..101 delivered, 102 is the one packet the closed
  // window's "miss":[1] lets through, held and not delivered.
  auto events = drain_events(b);
  ASSERT_EQ(events.size(), 100u);
  EXPECT_EQ(bodies_of(events).back(), "101");
  EXPECT_EQ(b.flow().held, 1u);
  EXPECT_EQ(b.flow().ack, 101u);
  EXPECT_EQ(b.flow().advertised_edge, 102u);
  EXPECT_EQ(a.flow().highest_sent, 102u);
  EXPECT_EQ(a.flow().queued, 199u);
  // Nobody reads for two minutes: A probes the closed window, B answers, nothing times out
  // and nothing more is delivered or held.
  for (std::int64_t t = 10; t < 120'000;) {
    const auto next = a.next_timeout();
    ASSERT_TRUE(next.has_value());
    t = (*next - Instant{}).count() / 1'000'000 + 1;
    a.handle_timeout(at_ms(t));
    b.handle_timeout(at_ms(t));
    exchange(at_ms(t));
    ASSERT_EQ(a.state(), ChannelState::kOpen) << t;
  }
  EXPECT_TRUE(drain_events(b).empty());
  EXPECT_EQ(b.flow().held, 1u);
  EXPECT_GT(a.flow().timeouts, 5u);
  // Consuming 50 reopens the window (it was closed: the peer hears at once).
  ASSERT_TRUE(b.consumed(50, at_ms(120'000)).has_value());
  EXPECT_EQ(bodies_of(drain_events(b)), (std::vector<std::string>{"102"}));
  auto update = drain_out(b);
  ASSERT_EQ(update.size(), 1u);
  EXPECT_EQ(head(update[0]), R"({"c":1,"ack":102,"miss":[49]})");  // up to 151 = 51 + 100
  deliver(a, update, at_ms(120'000));
  auto more = drain_out(a);
  EXPECT_EQ(more.size(), 49u);
  EXPECT_EQ(int_key(more.back().json, "seq"), 151);
  // Errors: more than delivered changes nothing; an unpaced channel has nothing to consume.
  EXPECT_EQ(b.consumed(100, at_ms(120'001)).error(), ChannelConsumeError::kTooMany);
  EXPECT_EQ(b.flow().consumed, 51u);
  EXPECT_EQ(a.consumed(1, at_ms(120'001)).error(), ChannelConsumeError::kNotConsumerPaced);
}

// A small opening rides on the next ack, within the ack delay.
TEST(ReliableChannel, ConsumerPacedSmallOpeningsAreToldWithinTheAckDelay) {
  auto [a, b] = open_pair();
  b.set_consumer_paced(true, at_ms(0));
  b.handle_timeout(at_ms(25));
  drain_out(b);
  for (int i = 2; i <= 41; ++i) {
    b.receive(json_of("{\"c\":1,\"seq\":" + std::to_string(i) + "}"), bytes_of("x"), at_ms(30));
  }
  drain_out(b);
  EXPECT_EQ(b.flow().advertised_edge, 101u);
  ASSERT_TRUE(b.consumed(1, at_ms(40)).has_value());
  EXPECT_TRUE(drain_out(b).empty());  // 1 of a 100-packet window: not worth a packet now
  EXPECT_EQ(b.next_timeout(), at_ms(65));
  b.handle_timeout(at_ms(65));
  auto update = drain_out(b);
  ASSERT_EQ(update.size(), 1u);
  EXPECT_EQ(head(update[0]), R"({"c":1,"ack":41,"miss":[61]})");  // 2 + 100 - 41
  ASSERT_TRUE(b.consumed(25, at_ms(70)).has_value());
  EXPECT_EQ(drain_out(b).size(), 1u);  // a quarter of the window: at once
}

// The accepting side learns a 100 ms round trip from its own packet's ack (auto-tuning's
// tests measure consumption against it).
void learn_a_100ms_round_trip(Channel& b) {
  ASSERT_TRUE(b.send({}, bytes_of("hello"), false, at_ms(0)).has_value());
  drain_out(b);
  b.receive(json_of(R"({"c":1,"ack":1})"), {}, at_ms(100));
  ASSERT_EQ(b.rtt().min(), milliseconds(100));
}

// Packets as a sender within the window would send them (B's acks are not looked at): the
// next `count` seqs, spread evenly from `from_ms` to `to_ms`.
struct InOrderArrivals {
  Channel& channel;
  std::uint32_t seq = 1;
  void operator()(int count, std::int64_t from_ms, std::int64_t to_ms) {
    for (int i = 0; i < count; ++i) {
      ++seq;
      const std::int64_t t = from_ms + (to_ms - from_ms) * i / std::max(1, count - 1);
      channel.receive(json_of("{\"c\":1,\"seq\":" + std::to_string(seq) + "}"), bytes_of("x"),
                      at_ms(t));
    }
  }
};

// Auto-tuning (PROTOCOL.md 13): a window consumed within about a round trip doubles, one
// consumed more slowly grows toward 1.5 times the bandwidth-delay product it shows (and
// falls toward it), and after a pause the window starts again from 100 packets. What was
// already allowed stays allowed: the advertised edge never goes back.
TEST(ReliableChannel, ReceiveWindowAutoTunesAndFallsBackWhenIdle) {
  auto [a, b] = open_pair();
  ASSERT_NO_FATAL_FAILURE(learn_a_100ms_round_trip(b));
  InOrderArrivals arrive{b};
  EXPECT_EQ(b.receive_window(), kReliableWindow);
  arrive(100, 100, 110);  // 100 packets consumed 110 ms after the epoch began: doubles
  EXPECT_EQ(b.receive_window(), 200u);
  arrive(200, 150, 170);  // 200 in 60 ms
  EXPECT_EQ(b.receive_window(), 400u);
  arrive(400, 200, 310);  // 400 in 140 ms: 1.5 * 100/140 -> 429
  EXPECT_EQ(b.receive_window(), 429u);
  arrive(429, 320, 1310);  // 429 in 1 s: about 429 per second, so 1.5 * 43 packets: the floor
  EXPECT_EQ(b.receive_window(), kReliableWindow);
  // Grown again, then two seconds of silence: back to 100, the old edge kept.
  arrive(100, 1320, 1330);
  arrive(200, 1340, 1350);
  EXPECT_EQ(b.receive_window(), 400u);
  drain_out(b);
  const std::uint64_t promised = b.flow().advertised_edge;
  EXPECT_EQ(promised, std::uint64_t{arrive.seq} + 400);
  arrive(1, 3400, 3400);
  EXPECT_EQ(b.receive_window(), kReliableWindow);
  drain_out(b);
  EXPECT_EQ(b.flow().advertised_edge, promised);
  EXPECT_EQ(b.reorder_bytes(), 0u);  // and nothing held
}

// A window a little larger than the path's product, consumed at the path's rate, takes a
// little more than a round trip: it grows to 1.5 times the product, not to twice itself.
// Doubling it outright (as a window consumed within 1.2 round trips once did) let BBR's
// Startup, which doubles its rate every round trip, put 2.3 products in flight at 0.5 s on
// the simulator's 40 ms, 100 Mbit/s path, past what its queue of one product holds: the
// overflow stalled in-order delivery for about 200 ms (SimBbr, docs/benchmarks.md).
TEST(ReliableChannel, ReceiveWindowDoesNotOvershootAPathItAlreadyFills) {
  auto [a, b] = open_pair();
  ASSERT_NO_FATAL_FAILURE(learn_a_100ms_round_trip(b));
  InOrderArrivals arrive{b};
  arrive(100, 100, 110);  // window-limited: doubles
  arrive(200, 150, 170);
  ASSERT_EQ(b.receive_window(), 400u);
  // 400 packets in 117 ms: the path carries about 342 per round trip, and the window was
  // not what held the sender. 1.5 * 400 * 100 / 117 -> 513.
  arrive(400, 171, 287);
  EXPECT_EQ(b.receive_window(), 513u);
  // Consumed within 1.1 round trips, a window is still taken as the limit: doubles.
  arrive(513, 288, 397);
  EXPECT_EQ(b.receive_window(), 1026u);
}

// A lossy path: the first packet of every window is lost, and its resend arrives two round
// trips after the window began (the miss report's round trip, then the resend's) while the
// sender, held by the window, waits. Consumption alone shows one window per three round trips
// and would shrink the window to the floor, so the window, not the path, would set the rate
// (at 1% loss on a full 100 Mbit/s path every window has a hole). The packets held above the
// hole are room the repair needs: the window grows by them until the path is the limit.
TEST(ReliableChannel, ReceiveWindowMakesRoomForRepairsOnALossyPath) {
  auto [a, b] = open_pair();
  ASSERT_NO_FATAL_FAILURE(learn_a_100ms_round_trip(b));
  auto arrive = [&](std::uint32_t seq, std::int64_t ms) {
    b.receive(json_of("{\"c\":1,\"seq\":" + std::to_string(seq) + "}"), bytes_of("x"), at_ms(ms));
  };
  std::uint32_t next = 2;
  std::int64_t t = 100;
  std::vector<std::uint32_t> windows;
  for (int round = 0; round < 6; ++round) {
    const std::uint32_t window = b.receive_window();
    windows.push_back(window);
    const std::uint32_t hole = next;
    for (std::uint32_t i = 1; i < window; ++i) arrive(hole + i, t + 100 * i / window);
    EXPECT_EQ(b.flow().held, window - 1);
    arrive(hole, t + 200);  // the resend
    EXPECT_EQ(b.flow().ack, hole + window - 1);
    next = hole + window;
    t += 300;
  }
  // Each window took three round trips to consume: the next is half of it (1.5 times the
  // product that rate shows) plus the W - 1 held, about 1.5 W (150, 225, 337, 505, 757, 1135).
  windows.push_back(b.receive_window());
  for (std::size_t i = 1; i < windows.size(); ++i) {
    EXPECT_GE(windows[i], windows[i - 1] * 3 / 2) << "round " << i;
    EXPECT_LE(windows[i], windows[i - 1] * 3 / 2 + 2) << "round " << i;
  }
  EXPECT_EQ(b.reorder_bytes(), 0u);
}

// A LAN: the path's minimum round trip is 0.1 ms, and the application consumes 100 packets
// a millisecond (1.1 Gbit/s of 1,400-byte packets). Tuned by 0.1 ms the window would sit at
// the floor of 100 packets, a millisecond of the stream: on hosts whose event loops handle
// acks a run at a time, between other processes, the sender waited on it half the time
// (a forward on a veth, docs/benchmarks.md). Tuned by kReliableWindowMinRtt it settles at 1.5
// times the product of 2 ms: 300 packets.
TEST(ReliableChannel, ReceiveWindowOnALanCoversMoreThanItsMinimumRoundTrip) {
  auto [a, b] = open_pair();
  ASSERT_TRUE(b.send({}, bytes_of("hello"), false, at_ms(0)).has_value());
  drain_out(b);
  b.receive(json_of(R"({"c":1,"ack":1})"), {}, at_ms(0) + microseconds(100));
  ASSERT_EQ(b.rtt().min(), microseconds(100));
  std::uint32_t seq = 1;
  for (int i = 0; i < 4000; ++i) {  // 40 ms at 100 packets per millisecond
    b.receive(json_of("{\"c\":1,\"seq\":" + std::to_string(++seq) + "}"), bytes_of("x"),
              at_ms(1) + microseconds(10 * i));
  }
  EXPECT_EQ(b.receive_window(), 300u);
  EXPECT_EQ(b.reorder_bytes(), 0u);
}

TEST(ReliableChannel, AckProgressResetsTheAckTimeout) {
  auto a = Channel::open(1, "stream", true, {}, {}, at_ms(0));
  drain_out(a);
  send_numbered(a, 2, 3, at_ms(0));
  a.receive(json_of(R"({"c":1,"ack":2})"), {}, at_ms(25'000));
  // It gives up at the first timeout with ten unanswered since the ack and 30 s after it.
  std::uint32_t timeouts = 0;
  while (a.state() != ChannelState::kClosed) {
    const Instant at = *a.next_timeout();
    EXPECT_LT(timeouts, kReliableGiveUpTimeouts + 1);
    a.handle_timeout(at);
    drain_out(a);
    if (a.state() == ChannelState::kClosed) {
      EXPECT_GE(at, at_ms(55'000));
    } else {
      ++timeouts;
    }
  }
  EXPECT_EQ(timeouts, kReliableGiveUpTimeouts);
}

// Before any RTT sample the timeout is 1 s; its probes are the open (which creates the channel
// at the peer) and the newest, whose ack reports the rest missing: lost by the time threshold
// (9/8 of the initial 333 ms RTT have passed), resent at once.
TEST(ReliableChannel, LostOpenIsResentAlongsideTheNewestAfterOneSecond) {
  auto a = Channel::open(1, "stream", true, {}, bytes_of("open"), at_ms(0));
  drain_out(a);                      // lost
  send_numbered(a, 2, 5, at_ms(0));  // lost
  EXPECT_EQ(a.next_timeout(), at_ms(1000));
  a.handle_timeout(at_ms(1000));
  auto out = drain_out(a);
  EXPECT_EQ(seqs_of(out), (std::vector<std::int64_t>{1, 5}));
  auto b = Channel::accept(1, over_wire(out[0].json), out[0].body, at_ms(1000));
  ASSERT_TRUE(b.has_value());
  deliver(*b, {out[1]}, at_ms(1000));
  auto ack = drain_out(*b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":1,"miss":[1,1,1,97]})");
  deliver(a, ack, at_ms(1000));
  out = drain_out(a);
  EXPECT_EQ(seqs_of(out), (std::vector<std::int64_t>{2, 3, 4}));
  deliver(*b, out, at_ms(1000));
  EXPECT_EQ(bodies_of(drain_events(*b)), (std::vector<std::string>{"2", "3", "4", "5"}));
}

TEST(ReliableChannel, ProtocolViolationsAreInvalid) {
  for (const char* bad : {R"({"c":1,"body":"no seq"})", R"({"c":1,"end":true})",
                          R"({"c":1,"seq":0})", R"({"c":1,"seq":-2})", R"({"c":1,"seq":2.5})",
                          R"({"c":1,"seq":"2"})", R"({"c":1,"seq":4294967296})",
                          R"({"c":1,"ack":5})", R"({"c":1,"ack":-1})", R"({"c":1,"ack":"1"})"}) {
    SCOPED_TRACE(bad);
    auto [a, b] = open_pair();
    drain_out(b);
    b.receive(json_of(bad), {}, at_ms(10));
    expect_error(b, "invalid");
  }
  // A content-free packet without seq is a valid ad-hoc ack, and a body without seq is not.
  auto [a, b] = open_pair();
  b.receive(json_of(R"({"c":1})"), {}, at_ms(10));
  EXPECT_NE(b.state(), ChannelState::kClosed);
  b.receive(json_of(R"({"c":1})"), bytes_of("x"), at_ms(10));
  expect_error(b, "invalid");
}

TEST(ReliableChannel, ReceivedErrDropsEverything) {
  auto [a, b] = open_pair();
  send_numbered(a, 2, 5, at_ms(0));
  ASSERT_TRUE(a.send({}, bytes_of("unsent"), false, at_ms(1)).has_value());
  a.receive(json_of(R"({"c":1,"err":"gone"})"), {}, at_ms(2));
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<channel_event::Errored>(events[0]).reason, "gone");
  EXPECT_TRUE(drain_out(a).empty());
  EXPECT_FALSE(a.next_timeout().has_value());
  EXPECT_TRUE(a.is_finished());
  a.handle_timeout(at_ms(100'000));
  EXPECT_TRUE(drain_out(a).empty());
}

// Both sides end; Ended comes only when both ends are in and ours are acknowledged.
void run_end_handshake(bool opener_first) {
  auto [a, b] = open_pair();
  Channel& first = opener_first ? a : b;
  Channel& second = opener_first ? b : a;
  b.handle_timeout(at_ms(1000));
  deliver(a, drain_out(b), at_ms(1000));

  ASSERT_TRUE(first.send({}, {}, true, at_ms(1100)).has_value());
  EXPECT_EQ(first.send({}, bytes_of("x"), false, at_ms(1100)).error(), ChannelSendError::kEndSent);
  auto end1 = drain_out(first);
  ASSERT_EQ(end1.size(), 1u);
  EXPECT_TRUE(int_key(end1[0].json, "seq").has_value());  // an end without body has a seq
  deliver(second, end1, at_ms(1200));
  EXPECT_EQ(second.state(), ChannelState::kEnded);
  auto events = drain_events(second);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(std::get<channel_event::Data>(events[0]).end);

  ASSERT_TRUE(second.send({}, bytes_of("bye"), true, at_ms(1300)).has_value());
  EXPECT_TRUE(drain_events(second).empty());  // its own end is not acked yet
  auto end2 = drain_out(second);
  ASSERT_EQ(end2.size(), 1u);  // carries the ack of the first end: no ad-hoc ack
  deliver(first, end2, at_ms(1400));
  EXPECT_EQ(first.state(), ChannelState::kEnded);
  events = drain_events(first);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(std::get<channel_event::Data>(events[0]).end);
  EXPECT_TRUE(std::holds_alternative<channel_event::Ended>(events[1]));

  auto ack = drain_out(first);  // the end's ack goes at once
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_FALSE(ack[0].json.contains("seq"));
  deliver(second, ack, at_ms(1500));
  events = drain_events(second);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<channel_event::Ended>(events[0]));

  // Lingering: a resent end is answered with an ack.
  deliver(first, end2, at_ms(5000));
  ack = drain_out(first);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_FALSE(ack[0].json.contains("seq"));
  EXPECT_TRUE(drain_events(first).empty());

  first.handle_timeout(at_ms(11'399));
  EXPECT_EQ(first.state(), ChannelState::kEnded);
  first.handle_timeout(at_ms(11'400));
  second.handle_timeout(at_ms(11'500));
  EXPECT_TRUE(first.is_finished());
  EXPECT_TRUE(second.is_finished());
  EXPECT_TRUE(drain_out(first).empty());
  EXPECT_TRUE(drain_out(second).empty());
}

TEST(ReliableChannel, EndHandshakeOpenerFirst) {
  run_end_handshake(true);
}
TEST(ReliableChannel, EndHandshakeAccepterFirst) {
  run_end_handshake(false);
}

TEST(ReliableChannel, PeerEndedAndWeNeverDidTimesOut) {
  auto [a, b] = open_pair();
  b.receive(json_of(R"({"c":1,"seq":2,"end":true})"), {}, at_ms(500));
  EXPECT_EQ(b.state(), ChannelState::kEnded);
  drain_out(b);
  b.handle_timeout(at_ms(10'499));
  EXPECT_EQ(b.state(), ChannelState::kEnded);
  b.handle_timeout(at_ms(10'500));
  expect_error(b, "timeout");
}

// ---- the lossy network ----------------------------------------------------------------------

struct Transfer {
  int to_send[2] = {10'000, 1'000};  // A -> B, B -> A
  int sent[2] = {0, 0};
  int received[2] = {0, 0};  // content packets delivered to each side
  bool got_end[2] = {false, false};
  bool end_sent[2] = {false, false};
  bool ended[2] = {false, false};
  std::set<std::int64_t> emitted[2];
  // The highest seq each side has allowed the other (ack + the last delta of its "miss");
  // before any, the initial window the sender assumes.
  std::int64_t max_edge_emitted[2] = {std::int64_t{kReliableWindow}, std::int64_t{kReliableWindow}};
  std::uint32_t largest_window = 0;
  std::size_t miss_resends = 0;
  std::size_t timer_resends = 0;
  std::size_t window_violations = 0;
  std::size_t order_errors = 0;
};

void run_transfer(std::uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  test::ChannelPair pair({.seed = seed, .loss = 0.2, .duplicate = 0.1, .reliable = true});
  Transfer t;

  pair.on_emit = [&t](int side, const ChannelOutgoing& packet, bool after_receive) {
    if (auto ack = int_key(packet.json, "ack")) {
      std::int64_t edge = *ack;
      for (auto delta : miss_of(packet.json)) edge += delta;
      t.max_edge_emitted[side] = std::max(t.max_edge_emitted[side], edge);
    }
    auto seq = int_key(packet.json, "seq");
    if (!seq) return;
    // The sender only knows the windows the receiver emitted.
    if (*seq > t.max_edge_emitted[1 - side]) ++t.window_violations;
    if (!t.emitted[side].insert(*seq).second) {
      if (after_receive) {
        ++t.miss_resends;
      } else {
        ++t.timer_resends;
      }
    }
  };

  pair.on_activity = [&t](int side, Channel& channel, Instant now) {
    while (auto event = channel.poll_event()) {
      if (auto* data = std::get_if<channel_event::Data>(&*event)) {
        const std::string body(data->body.begin(), data->body.end());
        if (data->end && side == 0) {  // B's end has no body
          t.got_end[0] = true;
          if (!body.empty()) ++t.order_errors;
          continue;
        }
        if (body != std::to_string(t.received[side])) ++t.order_errors;
        if (side == 1 && (t.received[side] % 7 == 0) != data->json.contains("seventh")) {
          ++t.order_errors;  // extra keys travel with their packet, resends included
        }
        ++t.received[side];
        if (data->end) t.got_end[1] = true;  // A's last content packet carries its end
      } else if (std::holds_alternative<channel_event::Ended>(*event)) {
        t.ended[side] = true;
      } else {
        ADD_FAILURE() << "side " << side
                      << " errored: " << std::get<channel_event::Errored>(*event).reason;
      }
    }
    t.largest_window = std::max(t.largest_window, channel.receive_window());
    while (t.sent[side] < t.to_send[side] && channel.send_capacity() > 0) {
      const int i = t.sent[side];
      boost::json::object extra;
      if (side == 0 && i % 7 == 0) extra["seventh"] = true;
      const bool end = side == 0 && i + 1 == t.to_send[side];
      auto result = channel.send(std::move(extra), bytes_of(std::to_string(i)), end, now);
      ASSERT_TRUE(result.has_value()) << to_string(result.error());
      ++t.sent[side];
      if (end) t.end_sent[side] = true;
    }
    // B answers A's end with its own once its content is out, when its backlog has room
    // (the end is a packet too: it waits for the peer's acks like the content did).
    if (side == 1 && t.got_end[1] && t.sent[1] == t.to_send[1] && !t.end_sent[1] &&
        channel.send_capacity() > 0) {
      auto ended = channel.send({}, {}, true, now);
      ASSERT_TRUE(ended.has_value()) << to_string(ended.error());
      t.end_sent[1] = true;
    }
  };

  pair.open(1, "bulk", json_of(R"({"what":"test"})"), bytes_of("hello"));
  for (int steps = 0; steps < 1'000'000; ++steps) {
    pair.pump();
    if (pair.b() != nullptr && pair.a().is_finished() && pair.b()->is_finished()) break;
    ASSERT_TRUE(pair.advance()) << "no timer armed and not finished";
    ASSERT_LT(pair.now(), at_ms(3'600'000)) << "simulated hour passed";
  }

  ASSERT_NE(pair.b(), nullptr);
  EXPECT_TRUE(pair.a().is_finished());
  EXPECT_TRUE(pair.b()->is_finished());
  EXPECT_EQ(t.received[1], t.to_send[0]);
  EXPECT_EQ(t.received[0], t.to_send[1]);
  EXPECT_TRUE(t.got_end[0]);
  EXPECT_TRUE(t.got_end[1]);
  EXPECT_TRUE(t.ended[0]);
  EXPECT_TRUE(t.ended[1]);
  EXPECT_EQ(t.order_errors, 0u);
  EXPECT_EQ(t.window_violations, 0u);
  EXPECT_GT(t.miss_resends, 100u);
  EXPECT_GT(t.timer_resends, 0u);
  EXPECT_GT(pair.dropped(), 2000u);  // the loss really happened
  std::printf(
      "seed %llu: %zu delivered, %zu lost, %zu miss resends, %zu timer resends, %.1f s, largest "
      "window %u\n",
      static_cast<unsigned long long>(seed), pair.delivered(), pair.dropped(), t.miss_resends,
      t.timer_resends, std::chrono::duration<double>(pair.now() - Instant{}).count(),
      t.largest_window);
}

TEST(ReliableChannelSimulation, TenThousandPacketsThroughLossReorderingAndDuplication) {
  for (std::uint64_t seed : {1u, 2u, 3u}) run_transfer(seed);
}

TEST(ReliableChannelSimulation, TotalSilenceEndsInAckTimeout) {
  test::ChannelPair pair({.seed = 9, .loss = 0.0, .duplicate = 0.0, .reliable = true});
  pair.open(1, "bulk", {}, {});
  pair.pump();
  ASSERT_NE(pair.b(), nullptr);
  while (pair.a().state() != ChannelState::kOpen) {
    ASSERT_TRUE(pair.advance());
    pair.pump();
  }
  const Instant silent_since = pair.now();
  ASSERT_TRUE(pair.a().send({}, bytes_of("into the void"), false, pair.now()).has_value());
  pair.b()->abort("gone");  // the peer vanishes without a word
  drain_events(*pair.b());
  std::vector<std::string> reasons;
  while (pair.a().state() != ChannelState::kClosed) {
    pair.pump();
    ASSERT_TRUE(pair.advance());
  }
  for (auto& event : drain_events(pair.a())) {
    if (auto* errored = std::get_if<channel_event::Errored>(&event)) {
      reasons.push_back(errored->reason);
    }
  }
  EXPECT_EQ(reasons, std::vector<std::string>{"timeout"});
  // Ten timeouts in a row unanswered (the 200 ms floor, doubling up to 10 s: the 11th comes
  // 0.2 + 0.4 + ... + 6.4 + 5 * 10 = 62.6 s after the send), which is also over 30 s without
  // ack progress.
  EXPECT_EQ(pair.now() - silent_since, milliseconds(62'600));
}

}  // namespace
}  // namespace e3x
