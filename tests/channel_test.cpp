// Channel basics: miss encoding (with the shared vector), unreliable channels, states,
// timeouts, err, end, reserved keys, size limits and quota.
#include <fstream>
#include <sstream>

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
using test::json_of;

// ---- miss encoding -----------------------------------------------------------------------

TEST(MissEncoding, SharedVector) {
  std::ifstream file(std::string(E3X_SHARED_DIR) + "/vectors/vectors.json");
  ASSERT_TRUE(file.is_open());
  std::stringstream text;
  text << file.rdbuf();
  const auto root = boost::json::parse(text.str()).as_object();
  const auto& vector = root.at("miss").as_object();
  const auto ack = vector.at("ack").to_number<std::uint32_t>();
  const auto buffer = vector.at("buffer").to_number<std::uint32_t>();
  std::vector<std::uint32_t> missing;
  for (const auto& seq : vector.at("missing").as_array()) {
    missing.push_back(seq.to_number<std::uint32_t>());
  }
  std::vector<std::uint32_t> expected;
  for (const auto& delta : vector.at("encoded").as_array()) {
    expected.push_back(delta.to_number<std::uint32_t>());
  }
  ASSERT_FALSE(expected.empty());

  EXPECT_EQ(encode_miss(ack, missing, buffer), expected);

  auto decoded = decode_miss(ack, expected);
  ASSERT_TRUE(decoded.has_value());
  std::sort(missing.begin(), missing.end());
  EXPECT_EQ(decoded->missing, missing);
  EXPECT_EQ(decoded->window, buffer);
}

TEST(MissEncoding, NothingMissingIsJustTheWindow) {
  EXPECT_EQ(encode_miss(10, {}, 100), std::vector<std::uint32_t>{100});
  auto decoded = decode_miss(10, {100});
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->missing.empty());
  EXPECT_EQ(decoded->window, 100u);
}

TEST(MissEncoding, DecodeRefusesMalformed) {
  EXPECT_FALSE(decode_miss(5, {}).has_value());
  EXPECT_FALSE(decode_miss(5, {1, 0, 3}).has_value());
  EXPECT_FALSE(decode_miss(4294967290u, {3, 3}).has_value());  // past 2^32-1
  EXPECT_TRUE(decode_miss(4294967290u, {3, 2}).has_value());   // exactly 2^32-1
}

TEST(MissEncoding, EncodeIgnoresDuplicatesAndAlreadyAcked) {
  EXPECT_EQ(encode_miss(10, {12, 12, 9, 10, 11}, 5), (std::vector<std::uint32_t>{1, 1, 3}));
}

// ---- open / accept ----------------------------------------------------------------------

TEST(Channel, UnreliableOpenPacket) {
  auto a = Channel::open(3, "path", false, json_of(R"({"paths":[1,2]})"), bytes_of("hi"), at_ms(0));
  EXPECT_EQ(a.state(), ChannelState::kOpening);
  EXPECT_FALSE(a.reliable());
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(boost::json::serialize(out[0].json), R"({"c":3,"type":"path","paths":[1,2]})");
  EXPECT_EQ(out[0].body, bytes_of("hi"));
}

TEST(Channel, AcceptRefusesMalformedSeq) {
  const ByteView none;
  for (const char* open :
       {R"({"c":2,"type":"t","seq":0})", R"({"c":2,"type":"t","seq":-1})",
        R"({"c":2,"type":"t","seq":1.5})", R"({"c":2,"type":"t","seq":"1"})",
        R"({"c":2,"type":"t","seq":4294967296})",
        R"({"c":2,"type":"t","seq":18446744073709551615})", R"({"c":2,"type":7})", R"({"c":2})"}) {
    EXPECT_FALSE(Channel::accept(2, json_of(open), none, at_ms(0)).has_value()) << open;
  }
  auto max = Channel::accept(2, json_of(R"({"c":2,"type":"t","seq":4294967295})"), none, at_ms(0));
  ASSERT_TRUE(max.has_value());
  EXPECT_TRUE(max->reliable());
  // A uint64-typed JSON integer is as good as an int64 one.
  boost::json::object open{{"c", 2}, {"type", "t"}, {"seq", std::uint64_t{1}}};
  ASSERT_TRUE(open.at("seq").is_uint64());
  auto typed = Channel::accept(2, open, none, at_ms(0));
  ASSERT_TRUE(typed.has_value());
  EXPECT_TRUE(typed->reliable());
  EXPECT_EQ(typed->type(), "t");
}

TEST(Channel, OpenerBecomesOpenOnAnyPeerPacket) {
  auto a = Channel::open(1, "x", false, {}, {}, at_ms(0));
  drain_out(a);
  a.receive(json_of(R"({"c":1,"v":"reply"})"), bytes_of("r"), at_ms(500));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  const auto* data = std::get_if<channel_event::Data>(&events[0]);
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->json.at("v").as_string(), "reply");
  EXPECT_EQ(data->body, bytes_of("r"));
  EXPECT_FALSE(data->end);
  // An open unreliable channel never times out on its own.
  EXPECT_FALSE(a.next_timeout().has_value());
  a.handle_timeout(at_ms(1'000'000));
  EXPECT_EQ(a.state(), ChannelState::kOpen);
}

TEST(Channel, AccepterBecomesOpenWhenItSends) {
  auto b = Channel::accept(2, json_of(R"({"c":2,"type":"x"})"), {}, at_ms(0));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->state(), ChannelState::kOpening);
  EXPECT_TRUE(drain_out(*b).empty());
  EXPECT_TRUE(drain_events(*b).empty());  // the open packet is not re-delivered
  ASSERT_TRUE(b->send(json_of(R"({"ok":true})"), {}, false, at_ms(100)).has_value());
  EXPECT_EQ(b->state(), ChannelState::kOpen);
  auto out = drain_out(*b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(boost::json::serialize(out[0].json), R"({"c":2,"ok":true})");
}

// ---- timeouts ---------------------------------------------------------------------------

TEST(Channel, OpeningTimesOutAtTenSecondsAndNotBefore) {
  for (bool reliable : {false, true}) {
    SCOPED_TRACE(reliable ? "reliable" : "unreliable");
    auto a = Channel::open(5, "x", reliable, {}, {}, at_ms(1000));
    drain_out(a);
    if (!reliable) {
      EXPECT_EQ(a.next_timeout(), at_ms(11'000));
    }
    a.handle_timeout(at_ms(10'999));
    drain_out(a);  // reliable: resends of the open packet
    EXPECT_EQ(a.state(), ChannelState::kOpening);
    EXPECT_TRUE(drain_events(a).empty());
    a.handle_timeout(at_ms(11'000));
    EXPECT_EQ(a.state(), ChannelState::kClosed);
    auto events = drain_events(a);
    ASSERT_EQ(events.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<channel_event::Errored>(events[0]));
    EXPECT_EQ(std::get<channel_event::Errored>(events[0]).reason, "timeout");
    EXPECT_FALSE(a.is_finished());  // the err is still to be sent
    auto out = drain_out(a);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(boost::json::serialize(out[0].json), R"({"c":5,"err":"timeout"})");
    EXPECT_TRUE(a.is_finished());
    EXPECT_FALSE(a.next_timeout().has_value());
    EXPECT_EQ(a.send({}, {}, false, at_ms(12'000)).error(), ChannelSendError::kClosed);
    EXPECT_EQ(a.send_capacity(), 0u);
  }
}

TEST(Channel, AccepterThatNeverAnswersTimesOut) {
  auto b = Channel::accept(2, json_of(R"({"c":2,"type":"x"})"), {}, at_ms(0));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->next_timeout(), at_ms(10'000));
  b->handle_timeout(at_ms(9'999));
  EXPECT_EQ(b->state(), ChannelState::kOpening);
  b->handle_timeout(at_ms(10'000));
  EXPECT_EQ(b->state(), ChannelState::kClosed);
  auto events = drain_events(*b);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<channel_event::Errored>(events[0]).reason, "timeout");
}

// ---- err ----------------------------------------------------------------------------------

TEST(Channel, ReceivedErrClosesAtOnceAndSendsNothing) {
  auto a = Channel::open(1, "x", false, {}, {}, at_ms(0));
  ASSERT_TRUE(a.send({}, bytes_of("queued"), false, at_ms(1)).has_value());
  a.receive(json_of(R"({"c":1,"err":"nope"})"), {}, at_ms(2));
  EXPECT_EQ(a.state(), ChannelState::kClosed);
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<channel_event::Errored>(events[0]).reason, "nope");
  EXPECT_TRUE(drain_out(a).empty());  // buffered content dropped, nothing sent in reply
  EXPECT_TRUE(a.is_finished());
  a.receive(json_of(R"({"c":1,"v":1})"), {}, at_ms(3));
  EXPECT_TRUE(drain_events(a).empty());
  EXPECT_EQ(a.send({}, {}, false, at_ms(4)).error(), ChannelSendError::kClosed);
}

TEST(Channel, SeqOnUnreliableIsInvalid) {
  auto a = Channel::open(7, "x", false, {}, {}, at_ms(0));
  drain_out(a);
  a.receive(json_of(R"({"c":7,"seq":1})"), {}, at_ms(1));
  EXPECT_EQ(a.state(), ChannelState::kClosed);
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<channel_event::Errored>(events[0]).reason, "invalid");
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(boost::json::serialize(out[0].json), R"({"c":7,"err":"invalid"})");
}

TEST(Channel, CloseWithErrorSendsOnceWithoutEvent) {
  auto a = Channel::open(9, "x", false, {}, {}, at_ms(0));
  a.close_with_error("bye");
  a.close_with_error("again");
  EXPECT_EQ(a.state(), ChannelState::kClosed);
  EXPECT_TRUE(drain_events(a).empty());
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), 1u);  // the unsent open packet was dropped too
  EXPECT_EQ(boost::json::serialize(out[0].json), R"({"c":9,"err":"bye"})");
  EXPECT_TRUE(a.is_finished());
}

TEST(Channel, AbortEmitsErroredAndSendsNothing) {
  auto a = Channel::open(9, "x", false, {}, {}, at_ms(0));
  a.abort("reset");
  a.abort("twice");
  EXPECT_EQ(a.state(), ChannelState::kClosed);
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<channel_event::Errored>(events[0]).reason, "reset");
  EXPECT_TRUE(drain_out(a).empty());
  EXPECT_TRUE(a.is_finished());
}

// ---- end ----------------------------------------------------------------------------------

void expect_ended(Channel& channel) {
  auto events = drain_events(channel);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(std::holds_alternative<channel_event::Ended>(events.back()));
}

TEST(Channel, UnreliableEndHandshakeOpenerFirst) {
  auto a = Channel::open(1, "x", false, {}, {}, at_ms(0));
  auto open = drain_out(a);
  auto b = Channel::accept(1, open[0].json, open[0].body, at_ms(0));
  ASSERT_TRUE(b.has_value());
  ASSERT_TRUE(b->send({}, bytes_of("r"), false, at_ms(1)).has_value());
  for (auto& p : drain_out(*b)) a.receive(p.json, p.body, at_ms(2));
  drain_events(a);

  ASSERT_TRUE(a.send({}, bytes_of("last"), true, at_ms(3)).has_value());
  EXPECT_EQ(a.send({}, {}, false, at_ms(3)).error(), ChannelSendError::kEndSent);
  EXPECT_EQ(a.state(), ChannelState::kOpen);
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].json.at("end"), true);
  b->receive(out[0].json, out[0].body, at_ms(4));
  EXPECT_EQ(b->state(), ChannelState::kEnded);
  auto events = drain_events(*b);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(std::get<channel_event::Data>(events[0]).end);
  // Content after the end is not delivered.
  b->receive(json_of(R"({"c":1,"late":1})"), {}, at_ms(5));
  EXPECT_TRUE(drain_events(*b).empty());

  ASSERT_TRUE(b->send({}, {}, true, at_ms(6)).has_value());
  expect_ended(*b);
  for (auto& p : drain_out(*b)) a.receive(p.json, p.body, at_ms(7));
  EXPECT_EQ(a.state(), ChannelState::kEnded);
  expect_ended(a);

  // Unreliable: nothing is left to resend or acknowledge, so both finish at once, silently
  // (a reliable channel lingers; ReliableChannel tests).
  EXPECT_EQ(a.next_timeout(), at_ms(7));
  EXPECT_EQ(b->next_timeout(), at_ms(6));
  a.handle_timeout(at_ms(7));
  b->handle_timeout(at_ms(7));
  EXPECT_TRUE(a.is_finished());
  EXPECT_TRUE(b->is_finished());
  EXPECT_EQ(a.state(), ChannelState::kClosed);
  EXPECT_TRUE(drain_out(a).empty());
  EXPECT_TRUE(drain_events(a).empty());
}

TEST(Channel, UnreliableEndHandshakeAccepterFirstViaOpenWithEnd) {
  // A one-shot request: the open packet already carries end.
  auto b = Channel::accept(4, json_of(R"({"c":4,"type":"ping","end":true})"), {}, at_ms(0));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->state(), ChannelState::kEnded);
  EXPECT_EQ(b->next_timeout(), at_ms(10'000));
  ASSERT_TRUE(b->send({}, bytes_of("pong"), true, at_ms(10)).has_value());
  expect_ended(*b);
  EXPECT_EQ(b->next_timeout(), at_ms(10));
  b->handle_timeout(at_ms(10));
  drain_out(*b);
  EXPECT_TRUE(b->is_finished());
}

TEST(Channel, PeerEndedButWeNeverDidTimesOut) {
  auto a = Channel::open(1, "x", false, {}, {}, at_ms(0));
  drain_out(a);
  a.receive(json_of(R"({"c":1,"end":true})"), {}, at_ms(1000));
  EXPECT_EQ(a.state(), ChannelState::kEnded);
  drain_events(a);
  // We may still send content until we end.
  EXPECT_TRUE(a.send({}, bytes_of("more"), false, at_ms(2000)).has_value());
  a.handle_timeout(at_ms(10'999));
  EXPECT_EQ(a.state(), ChannelState::kEnded);
  a.handle_timeout(at_ms(11'000));
  EXPECT_EQ(a.state(), ChannelState::kClosed);
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<channel_event::Errored>(events[0]).reason, "timeout");
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].json.at("err"), "timeout");
}

// PROTOCOL.md 10 rule 8 (issue 10): an unreliable channel we ended used to live for ever when
// the peer never ended it; it times out 10 s after our end.
TEST(Channel, UnreliableChannelWeEndedTimesOutIfThePeerNeverEnds) {
  auto a = Channel::open(1, "x", false, {}, {}, at_ms(0));
  drain_out(a);
  a.receive(json_of(R"({"c":1})"), bytes_of("hello"), at_ms(500));  // open now
  drain_events(a);
  ASSERT_TRUE(a.send({}, {}, true, at_ms(1000)).has_value());
  drain_out(a);
  EXPECT_EQ(a.next_timeout(), at_ms(11'000));
  a.handle_timeout(at_ms(10'999));
  EXPECT_NE(a.state(), ChannelState::kClosed);
  a.handle_timeout(at_ms(11'000));
  EXPECT_EQ(a.state(), ChannelState::kClosed);
  auto events = drain_events(a);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<channel_event::Errored>(events[0]).reason, "timeout");
  EXPECT_TRUE(a.is_finished() || !drain_out(a).empty());
  // When the peer does end in time, it is a clean end, not a timeout.
  auto b = Channel::open(3, "x", false, {}, {}, at_ms(0));
  drain_out(b);
  ASSERT_TRUE(b.send({}, {}, true, at_ms(1000)).has_value());
  b.receive(json_of(R"({"c":3,"end":true})"), {}, at_ms(2000));
  events = drain_events(b);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(std::holds_alternative<channel_event::Ended>(events.back()));
}

// ---- sending limits --------------------------------------------------------------------------

TEST(Channel, ReservedKeysRefused) {
  auto a = Channel::open(1, "x", false, {}, {}, at_ms(0));
  for (const char* key : {"c", "type", "seq", "ack", "miss", "end", "err"}) {
    boost::json::object extra{{"fine", 1}, {key, 1}};
    EXPECT_TRUE(Channel::has_reserved_key(extra)) << key;
    auto sent = a.send(extra, {}, false, at_ms(1));
    ASSERT_FALSE(sent.has_value()) << key;
    EXPECT_EQ(sent.error(), ChannelSendError::kReservedKey);
  }
  EXPECT_FALSE(Channel::has_reserved_key(json_of(R"({"fine":1,"Seq":2})")));
  EXPECT_EQ(drain_out(a).size(), 1u);  // only the open packet
}

TEST(Channel, QuotaArithmetic) {
  // 1400 - LENGTH(2) - {"c":N} (6 + digits) [- ,"seq":(7+10) ,"ack":(7+10)]
  EXPECT_EQ(Channel::open(1, "x", false, {}, {}, at_ms(0)).quota(), 1400u - 2 - 7);
  EXPECT_EQ(Channel::open(123, "x", false, {}, {}, at_ms(0)).quota(), 1400u - 2 - 9);
  EXPECT_EQ(Channel::open(4294967295u, "x", false, {}, {}, at_ms(0)).quota(), 1400u - 2 - 16);
  // Reliable, opened by us, nothing received: ,"seq":<10> only; no ack is owed, so none is
  // given room (an ack that is owed later goes on its own when it does not fit).
  EXPECT_EQ(Channel::open(1, "x", true, {}, {}, at_ms(0)).quota(), 1400u - 2 - 7 - 17);
  EXPECT_EQ(Channel::open(4294967295u, "x", true, {}, {}, at_ms(0)).quota(), 1400u - 2 - 16 - 17);
  // Accepted (the peer's open is content, its ack owed): ,"ack":<10> and ,"miss":[<window,
  // at most 12000>] (PROTOCOL.md 13: every ack carries the window) are kept free as well, for
  // a second after the peer's latest content.
  auto accepted = Channel::accept(1, json_of(R"({"c":1,"type":"x","seq":1})"), {}, at_ms(0));
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->quota(), 1400u - 2 - 7 - 17 - 17 - 15);
  accepted->handle_timeout(at_ms(999));
  EXPECT_EQ(accepted->quota(), 1400u - 2 - 7 - 17 - 17 - 15);
  accepted->handle_timeout(at_ms(1000));
  EXPECT_EQ(accepted->quota(), 1400u - 2 - 7 - 17);
}

TEST(Channel, UnreliableQuotaIsExact) {
  auto a = Channel::open(42, "x", false, {}, {}, at_ms(0));
  drain_out(a);
  const std::size_t quota = a.quota();
  EXPECT_EQ(a.send({}, Bytes(quota + 1, 'x'), false, at_ms(1)).error(),
            ChannelSendError::kTooLarge);
  EXPECT_TRUE(drain_out(a).empty());
  ASSERT_TRUE(a.send({}, Bytes(quota, 'x'), false, at_ms(1)).has_value());
  auto out = drain_out(a);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(2 + boost::json::serialize(out[0].json).size() + out[0].body.size(), 1400u);
  // Extra JSON counts against the limit too.
  EXPECT_EQ(a.send(json_of(R"({"k":1})"), Bytes(quota, 'x'), false, at_ms(2)).error(),
            ChannelSendError::kTooLarge);
  EXPECT_TRUE(a.send(json_of(R"({"k":1})"), Bytes(quota - 6, 'x'), false, at_ms(2)).has_value());
}

TEST(Channel, ReliableQuotaAlwaysFitsAndTooLargeRefused) {
  // An accepter whose peer opened at seq 2^32-1 acks with the longest possible number.
  auto b = Channel::accept(4294967295u, json_of(R"({"c":4294967295,"type":"x","seq":4294967295})"),
                           {}, at_ms(0));
  ASSERT_TRUE(b.has_value());
  const std::size_t quota = b->quota();
  ASSERT_TRUE(b->send({}, Bytes(quota, 'x'), false, at_ms(2)).has_value());
  auto out = drain_out(*b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].json.at("ack"), 4294967295u);
  EXPECT_EQ(out[0].json.at("seq"), 1);
  EXPECT_LE(2 + boost::json::serialize(out[0].json).size() + out[0].body.size(), 1400u);
  // Beyond the quota, a body is accepted as long as the packet fits without its ack: with
  // seq 2, {"c":4294967295,"seq":2} leaves 1400 - 2 - 24 = 1374 bytes. Nothing is owed now
  // (the first packet carried the ack), so nothing follows it.
  constexpr std::size_t kLargest = 1400 - 2 - 24;
  ASSERT_TRUE(b->send({}, Bytes(kLargest, 'x'), false, at_ms(3)).has_value());
  out = drain_out(*b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].json.contains("ack"));
  EXPECT_EQ(2 + boost::json::serialize(out[0].json).size() + out[0].body.size(), 1400u);
  EXPECT_EQ(b->send({}, Bytes(kLargest + 1, 'x'), false, at_ms(3)).error(),
            ChannelSendError::kTooLarge);
  EXPECT_EQ(b->send({}, Bytes(5000, 'x'), false, at_ms(3)).error(), ChannelSendError::kTooLarge);
}

// A packet with no room for an ack that is owed leaves without it, and the ack follows on
// its own within PROTOCOL.md 13's 25 ms, so the peer learns what arrived as promptly as
// before: a one-way stream's packets fill the 1400 bytes instead of keeping room for acks
// they would rarely carry.
TEST(Channel, AnOwedAckThatDoesNotFitFollowsOnItsOwn) {
  auto b = Channel::accept(7, json_of(R"({"c":7,"type":"x","seq":1})"), {}, at_ms(0));
  ASSERT_TRUE(b.has_value());
  // {"c":7,"seq":1}: 15 bytes of JSON, the rest is body.
  ASSERT_TRUE(b->send({}, Bytes(1400 - 2 - 15, 'x'), false, at_ms(1)).has_value());
  auto out = drain_out(*b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].json.contains("ack"));
  EXPECT_EQ(2 + boost::json::serialize(out[0].json).size() + out[0].body.size(), 1400u);
  const auto due = b->next_timeout();
  ASSERT_TRUE(due.has_value());
  EXPECT_LE(*due, at_ms(25));
  b->handle_timeout(*due);
  out = drain_out(*b);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].json.at("ack"), 1);
  EXPECT_FALSE(out[0].json.contains("seq"));  // ad hoc
  EXPECT_TRUE(out[0].body.empty());
}

}  // namespace
}  // namespace e3x
