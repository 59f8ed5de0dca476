// Reliable channels: seq, ack, miss, window, backlog, resends, timeouts, end, and a lossy
// simulated network carrying 10,000 packets.
#include <algorithm>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "channel_harness.hpp"
#include "core/channel.hpp"

namespace e3x {
namespace {

using test::at_ms;
using test::bytes_of;
using test::drain_events;
using test::drain_out;
using test::int_key;
using test::json_of;
using test::miss_of;
using test::over_wire;

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

TEST(ReliableChannel, AccepterAcksTheOpenWithinOneSecond) {
  auto [a, b] = open_pair();
  EXPECT_EQ(b.state(), ChannelState::kOpening);
  EXPECT_EQ(b.next_timeout(), at_ms(1000));
  b.handle_timeout(at_ms(999));
  EXPECT_TRUE(drain_out(b).empty());
  b.handle_timeout(at_ms(1000));
  auto out = drain_out(b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(head(out[0]), R"({"c":1,"ack":1})");  // ad-hoc: no seq
  EXPECT_EQ(b.state(), ChannelState::kOpen);

  EXPECT_EQ(a.state(), ChannelState::kOpening);
  deliver(a, out, at_ms(1001));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  EXPECT_TRUE(drain_events(a).empty());        // an ack is not content
  EXPECT_FALSE(a.next_timeout().has_value());  // nothing unacked, OPEN: no timer
}

TEST(ReliableChannel, ContentCarryingTheAckReplacesTheAdHocAck) {
  auto [a, b] = open_pair();
  ASSERT_TRUE(b.send({}, bytes_of("reply"), false, at_ms(500)).has_value());
  auto out = drain_out(b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(head(out[0]), R"({"c":1,"seq":1,"ack":1})");
  b.handle_timeout(at_ms(1000));
  EXPECT_TRUE(drain_out(b).empty());
  EXPECT_EQ(b.next_timeout(), at_ms(2500));  // only the resend timer of its own packet

  deliver(a, out, at_ms(600));
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  const auto& data = std::get<channel_event::Data>(events[0]);
  EXPECT_EQ(data.body, bytes_of("reply"));
  EXPECT_EQ(data.json.at("seq"), 1);
  // From now on everything A sends carries the ack.
  auto sent = send_numbered(a, 2, 2, at_ms(700));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(head(sent[0]), R"({"c":1,"seq":2,"ack":1})");
}

TEST(ReliableChannel, OutOfOrderIsBufferedMissReportedAndDeliveredInOrder) {
  auto [a, b] = open_pair();
  auto sent = send_numbered(a, 2, 5, at_ms(0));
  ASSERT_EQ(seqs_of(sent), (std::vector<std::int64_t>{2, 3, 4, 5}));

  deliver(b, {sent[0]}, at_ms(10));  // 2
  EXPECT_EQ(bodies_of(drain_events(b)), (std::vector<std::string>{"2"}));
  EXPECT_TRUE(drain_out(b).empty());  // in order: the ack may wait

  deliver(b, {sent[2]}, at_ms(20));  // 4: a gap
  EXPECT_TRUE(drain_events(b).empty());
  auto ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":2,"miss":[1,99]})");  // 3 missing; up to 102

  deliver(b, {sent[3]}, at_ms(30));  // 5: still a gap
  ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":2,"miss":[1,99]})");

  deliver(b, {sent[1]}, at_ms(40));  // 3 fills it
  EXPECT_EQ(bodies_of(drain_events(b)), (std::vector<std::string>{"3", "4", "5"}));
  EXPECT_TRUE(drain_out(b).empty());
  EXPECT_EQ(b.next_timeout(), at_ms(1040));
  b.handle_timeout(at_ms(1040));
  ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":5})");
}

TEST(ReliableChannel, DuplicatesAndOldPacketsAreDroppedAndAckedAtOnce) {
  auto [a, b] = open_pair();
  auto open_again =
      Channel::open(1, "stream", true, json_of(R"({"k":"v"})"), bytes_of("open"), at_ms(0));
  deliver(b, drain_out(open_again), at_ms(5));  // the open packet again
  EXPECT_TRUE(drain_events(b).empty());
  auto ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":1})");

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
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":1})");
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

TEST(ReliableChannel, ThirtyTwoReceiptsForceAnAck) {
  auto [a, b] = open_pair();
  b.handle_timeout(at_ms(1000));
  drain_out(b);
  auto sent = send_numbered(a, 2, 33, at_ms(0));
  ASSERT_EQ(sent.size(), 32u);
  for (std::size_t i = 0; i < 31; ++i) {
    deliver(b, {sent[i]}, at_ms(1100));
    ASSERT_TRUE(drain_out(b).empty()) << i;
  }
  deliver(b, {sent[31]}, at_ms(1100));
  auto ack = drain_out(b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":33})");
}

TEST(ReliableChannel, MissResendsOncePerSecond) {
  auto [a, b] = open_pair();
  ASSERT_TRUE(a.send(json_of(R"({"part":2})"), bytes_of("2"), false, at_ms(0)).has_value());
  ASSERT_TRUE(a.send(json_of(R"({"part":3})"), bytes_of("3"), false, at_ms(0)).has_value());
  ASSERT_TRUE(a.send(json_of(R"({"part":4})"), bytes_of("4"), false, at_ms(0)).has_value());
  auto original = drain_out(a);
  ASSERT_EQ(original.size(), 3u);
  // B has ack 2 and misses 3.
  a.receive(json_of(R"({"c":1,"ack":2,"miss":[1,99]})"), {}, at_ms(100));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  auto resent = drain_out(a);
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(head(resent[0]), R"({"c":1,"part":3,"seq":3})");
  EXPECT_EQ(resent[0].body, bytes_of("3"));

  a.receive(json_of(R"({"c":1,"ack":2,"miss":[1,99]})"), {}, at_ms(600));
  EXPECT_TRUE(drain_out(a).empty());  // within a second of the last resend

  // Now 3 and 4 are missing, and the peer's own first packet arrives: resends carry our ack.
  a.receive(json_of(R"({"c":1,"seq":1,"ack":2,"miss":[1,1,98]})"), bytes_of("b1"), at_ms(1100));
  resent = drain_out(a);
  ASSERT_EQ(resent.size(), 2u);  // 3 again (a second passed) and 4 for the first time
  EXPECT_EQ(head(resent[0]), R"({"c":1,"part":3,"seq":3,"ack":1})");
  EXPECT_EQ(head(resent[1]), R"({"c":1,"part":4,"seq":4,"ack":1})");
  EXPECT_EQ(resent[1].body, bytes_of("4"));

  // Missing seqs we do not have (acked or never sent) are ignored.
  a.receive(json_of(R"({"c":1,"ack":3,"miss":[50,50]})"), {}, at_ms(5000));
  EXPECT_TRUE(drain_out(a).empty());
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

// Every 2 s without ack progress: the oldest unacked packet (it blocks in-order delivery)
// and the last one (the spec's resend, which draws an ack+miss), then the ack timeout.
TEST(ReliableChannel, OldestAndLastUnackedResentEveryTwoSecondsThenAckTimeout) {
  auto [a, b] = open_pair();
  b.handle_timeout(at_ms(1000));
  deliver(a, drain_out(b), at_ms(1000));  // A is OPEN, seq 1 acked
  a.receive(json_of(R"({"c":1,"seq":1,"ack":1})"), bytes_of("from b"), at_ms(1000));
  drain_events(a);
  auto sent = send_numbered(a, 2, 3, at_ms(1000));  // carries ack 1, so no ad-hoc ack
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(a.next_timeout(), at_ms(3000));

  int resends = 0;
  for (std::int64_t t = 3000; t < 31'000; t += 2000) {
    a.handle_timeout(at_ms(t - 1));
    ASSERT_TRUE(drain_out(a).empty()) << t;
    a.handle_timeout(at_ms(t));
    auto out = drain_out(a);
    ASSERT_EQ(out.size(), 2u) << t;
    EXPECT_EQ(head(out[0]), R"({"c":1,"seq":2,"ack":1})");  // the oldest, with the current ack
    EXPECT_EQ(out[0].body, bytes_of("2"));
    EXPECT_EQ(head(out[1]), R"({"c":1,"seq":3,"ack":1})");  // the last
    EXPECT_EQ(out[1].body, bytes_of("3"));
    ++resends;
    EXPECT_EQ(a.next_timeout(), at_ms(std::min<std::int64_t>(t + 2000, 31'000)));
  }
  EXPECT_EQ(resends, 14);
  a.handle_timeout(at_ms(30'999));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  a.handle_timeout(at_ms(31'000));
  expect_error(a, "timeout");
  EXPECT_TRUE(a.is_finished());
}

TEST(ReliableChannel, AckProgressResetsTheAckTimeout) {
  auto a = Channel::open(1, "stream", true, {}, {}, at_ms(0));
  drain_out(a);
  send_numbered(a, 2, 3, at_ms(0));
  a.receive(json_of(R"({"c":1,"ack":2})"), {}, at_ms(25'000));
  a.handle_timeout(at_ms(30'000));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  a.handle_timeout(at_ms(54'999));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  a.handle_timeout(at_ms(55'000));
  EXPECT_EQ(a.state(), ChannelState::kClosed);
}

TEST(ReliableChannel, LostOpenIsResentAlongsideTheLast) {
  auto a = Channel::open(1, "stream", true, {}, bytes_of("open"), at_ms(0));
  drain_out(a);                      // lost
  send_numbered(a, 2, 5, at_ms(0));  // lost
  a.handle_timeout(at_ms(2000));
  auto out = drain_out(a);
  EXPECT_EQ(seqs_of(out), (std::vector<std::int64_t>{1, 5}));
  auto b = Channel::accept(1, over_wire(out[0].json), out[0].body, at_ms(2000));
  ASSERT_TRUE(b.has_value());
  deliver(*b, {out[1]}, at_ms(2000));
  auto ack = drain_out(*b);
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(head(ack[0]), R"({"c":1,"ack":1,"miss":[1,1,1,97]})");
  deliver(a, ack, at_ms(2000));
  out = drain_out(a);
  EXPECT_EQ(seqs_of(out), (std::vector<std::int64_t>{2, 3, 4}));
  deliver(*b, out, at_ms(2000));
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
  std::int64_t max_ack_emitted[2] = {0, 0};
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
      t.max_ack_emitted[side] = std::max(t.max_ack_emitted[side], *ack);
    }
    auto seq = int_key(packet.json, "seq");
    if (!seq) return;
    // The sender only knows acks the receiver emitted.
    if (*seq > t.max_ack_emitted[1 - side] + std::int64_t{kReliableWindow}) ++t.window_violations;
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
    // B answers A's end with its own once its content is out.
    if (side == 1 && t.got_end[1] && t.sent[1] == t.to_send[1] && !t.end_sent[1]) {
      ASSERT_TRUE(channel.send({}, {}, true, now).has_value());
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
  std::printf("seed %llu: %zu delivered, %zu lost, %zu miss resends, %zu timer resends, %.1f s\n",
              static_cast<unsigned long long>(seed), pair.delivered(), pair.dropped(),
              t.miss_resends, t.timer_resends,
              std::chrono::duration<double>(pair.now() - Instant{}).count());
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
  EXPECT_EQ(pair.now() - silent_since, kReliableAckTimeout);
}

}  // namespace
}  // namespace e3x
