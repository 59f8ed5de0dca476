// The attacks that PROTOCOL.md section 10 (revision 2) closes, one scenario each, on the
// simulated network: an attacker records everything on the wire and replays it from its own
// address at any time, a configured peer turns hostile, or a peer goes silent. Each test
// fails without its rule (docs/security.md lists which rule each one proves).
#include <gtest/gtest.h>

#include <set>

#include "core/exchange.hpp"
#include "core/message_rules.hpp"
#include "core/receipts.hpp"
#include "sim/observe.hpp"
#include "sim/packets.hpp"
#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

const Address kAttacker = ipv4(198, 51, 100, 66, 6666);

std::vector<SentRecord> sent_to(const Simulator& sim, const Host& host, Address to) {
  return sim.sent_by(host, [to](const SentRecord& record) { return record.to == to; });
}

// Rule 1 and 3, issue 10 item 1: the two-step replay. A's exchange with B came up by B
// confirming A's handshake, so A's recv_max is 0. The attacker (1) replays a handshake B
// sent before it restarted, hoping A takes it as new, resets the session and moves the path
// to the attacker; then (2) relays A's next handshake to B so that B's fresh confirmation
// makes A adopt B's current KEY again with the same channel keys and an empty replay window;
// then (3) replays every channel packet of the session. After it, the session keeps its
// keys, no channel packet is delivered twice, and no path moved.
TEST(SimAttack, TwoStepReplayOfARecordedSessionChangesNothing) {
  Simulator sim(resolve_seed(1001));
  sim.network().set_default_link(LinkParams{milliseconds(15), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{Duration::zero()});  // quiet: only what the test does
  // B's handshake of its first life, recorded.
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const auto recorded_handshake = handshakes_sent(sim, b).front();

  // Both restart (B with a new KEY); A has lost what it had seen from B. Time passes.
  sim.run_for(seconds(20));
  RestartOptions b_restart;
  b_restart.seq_floor = b.endpoint().highest_seq_used();
  RestartOptions a_restart;
  a_restart.seq_floor = a.endpoint().highest_seq_used();
  sim.restart(b, b_restart);
  sim.restart(a, a_restart);
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  ASSERT_EQ(a.endpoint().peer_status(b.hashname())->seq_recv, 0u)
      << "the scenario needs A's exchange to have come up by B confirming A's handshake";
  const auto token_before = a.endpoint().peer_status(b.hashname())->remote_token;
  const PathId path_before = a.endpoint().peer_status(b.hashname())->path;

  // A session: B streams five packets to A on a reliable channel.
  const std::uint32_t channel = sim.open_channel(b, a, "stream", true, bytes_of("p0"));
  for (int i = 1; i <= 4; ++i) {
    ASSERT_TRUE(sim.send_channel(b, a, channel, bytes_of("p" + std::to_string(i))).has_value());
  }
  ASSERT_TRUE(sim.run_until([&] { return channel_bodies(a, b.hashname(), channel).size() == 5; },
                            seconds(5)));
  sim.run_for(seconds(2));
  const auto recorded_channel = channel_packets_sent(sim, b);
  ASSERT_FALSE(recorded_channel.empty());
  const auto events_before = a.events().size();

  // (1) The recorded handshake from the attacker's address.
  const Instant attack_start = sim.now();
  sim.inject(a, kAttacker, recorded_handshake.bytes);
  sim.run_for(seconds(2));
  // (2) Whatever A sent the attacker goes to B as if from A; B answers A directly.
  for (const auto& record : sent_to(sim, a, kAttacker)) {
    sim.inject(b, *sim.address_of(a), record.bytes);
  }
  sim.run_for(seconds(2));
  // (3) The whole recorded session again, from the attacker.
  for (const auto& record : recorded_channel) sim.inject(a, kAttacker, record.bytes);
  sim.run_for(seconds(5));

  const auto status = a.endpoint().peer_status(b.hashname());
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->state, ExchangeState::kUp);
  EXPECT_EQ(status->remote_token, token_before) << "the session's keys changed";
  EXPECT_EQ(status->path, path_before) << "the path moved";
  EXPECT_EQ(channel_bodies(a, b.hashname(), channel),
            (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"}))
      << "a channel packet was delivered twice";
  for (std::size_t i = events_before; i < a.events().size(); ++i) {
    const Event& event = a.events()[i].event;
    EXPECT_FALSE(std::holds_alternative<event::ChannelErrored>(event)) << describe(event);
    EXPECT_FALSE(std::holds_alternative<event::PathChanged>(event)) << describe(event);
    EXPECT_FALSE(std::holds_alternative<event::ChannelOpened>(event)) << describe(event);
    if (auto* up = std::get_if<event::ExchangeUp>(&event)) {
      EXPECT_FALSE(up->new_session) << "the replay started a new session";
    }
  }
  EXPECT_TRUE(sent_to(sim, a, kAttacker).empty()) << "A answered the attacker";
  EXPECT_GT(a.stats().dropped_stale + a.stats().dropped_replay, 0u);
  EXPECT_GE(a.stats().dropped_replay, recorded_channel.size());
  (void)attack_start;
}

// Rule 3: the same two-step replay where rule 1 cannot help. B's SEQs run an hour ahead of
// A's clock (a busy message sender's do); both restarted, and A lost what it saw from B, so
// a recorded handshake of B's first life is above everything A's new exchange knows: A takes
// it (the session is disturbed until B's next handshake; the daemon's persisted marks close
// this too, see the next test). But A never goes back to B's current KEY, which it moved
// away from, so B's relayed confirmation cannot restore the session's keys with an empty
// replay window, and no recorded channel packet of the session is delivered again.
TEST(SimAttack, ReplayAfterARestartCannotRestoreTheSessionKey) {
  Simulator sim(resolve_seed(1010));
  sim.network().set_default_link(LinkParams{milliseconds(15), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  HostOptions b_options;
  b_options.name = "b";
  b_options.unix_offset = 3600;
  Host& b = sim.add_host(b_options);
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const auto recorded_handshake = handshakes_sent(sim, b).front();  // B's first KEY

  RestartOptions b_restart;
  b_restart.seq_floor = b.endpoint().highest_seq_used();
  sim.restart(b, b_restart);
  RestartOptions a_restart;
  a_restart.seq_floor = a.endpoint().highest_seq_used();
  sim.restart(a, a_restart);  // nothing persisted of what A saw from B
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const auto session_token = a.endpoint().peer_status(b.hashname())->remote_token;
  const std::uint32_t channel = sim.open_channel(b, a, "stream", true, bytes_of("p0"));
  for (int i = 1; i <= 4; ++i) {
    ASSERT_TRUE(sim.send_channel(b, a, channel, bytes_of("p" + std::to_string(i))).has_value());
  }
  ASSERT_TRUE(sim.run_until([&] { return channel_bodies(a, b.hashname(), channel).size() == 5; },
                            seconds(5)));
  sim.run_for(seconds(1));
  const auto recorded_channel = channel_packets_sent(sim, b);

  sim.inject(a, kAttacker, recorded_handshake.bytes);  // (1)
  sim.run_for(seconds(2));
  ASSERT_NE(a.endpoint().peer_status(b.hashname())->remote_token, session_token)
      << "the scenario needs step 1 to get through (rule 1 cannot see it here)";
  ASSERT_TRUE(sim.request_keepalive(a, b).has_value());  // A's next handshake...
  sim.run_for(milliseconds(100));
  for (const auto& record : sent_to(sim, a, kAttacker)) {  // (2) ...relayed to B
    sim.inject(b, *sim.address_of(a), record.bytes);
  }
  sim.run_for(seconds(2));
  for (const auto& record : recorded_channel) sim.inject(a, kAttacker, record.bytes);  // (3)
  sim.run_for(seconds(3));

  EXPECT_NE(a.endpoint().peer_status(b.hashname())->remote_token, session_token)
      << "A went back to the session's KEY";
  EXPECT_EQ(a.count<event::ChannelOpened>(), 1u)
      << "the recorded channel was opened again: its keys were restored";
  EXPECT_EQ(channel_bodies(a, b.hashname(), channel),
            (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"}));
}

// Rule 4's "seen" marks: when A's restart keeps what the daemon persisted (the highest SEQ it
// saw from each peer), the same recorded handshake is stale at once: nothing is disturbed.
TEST(SimAttack, PersistedSeqsSeenMakeOldHandshakesStaleAfterARestart) {
  Simulator sim(resolve_seed(1011));
  sim.network().set_default_link(LinkParams{milliseconds(15), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  HostOptions b_options;
  b_options.name = "b";
  b_options.unix_offset = 3600;
  Host& b = sim.add_host(b_options);
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  ASSERT_TRUE(sim.request_keepalive(b, a).has_value());
  sim.run_for(seconds(2));
  const auto recorded_handshake = handshakes_sent(sim, b).back();

  RestartOptions a_restart;
  a_restart.seq_floor = a.endpoint().highest_seq_used();
  a_restart.seq_marks = seq_marks_of(a);
  sim.restart(a, a_restart);
  sim.add_peer(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const auto before = a.endpoint().peer_status(b.hashname());
  sim.inject(a, kAttacker, recorded_handshake.bytes);
  sim.run_for(seconds(2));
  const auto after = a.endpoint().peer_status(b.hashname());
  EXPECT_EQ(after->remote_token, before->remote_token);
  EXPECT_EQ(after->path, before->path);
  EXPECT_EQ(a.count<event::PathChanged>(), 0u);
  // It is B's newest handshake A knows of, so at most a handshake probes the new address
  // (rule 5), which nobody there can confirm.
  EXPECT_LE(sent_to(sim, a, kAttacker).size(), 1u);
}

// Rule 2: a peer that restarted recovers in one round trip, whether its SEQs follow ours
// (clocks agree, its mark persisted) or are ten hours behind (its state and clock lost).
void restart_recovers(std::uint64_t seed, bool lost_state) {
  SCOPED_TRACE(lost_state ? "restarted with its state lost, clock 10 h behind"
                          : "restarted with agreeing clock and persisted mark");
  Simulator sim(seed);
  const Duration one_way = milliseconds(20);
  sim.network().set_default_link(LinkParams{one_way, Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  // A's own newer handshake: A's last sync is now A's SEQ, above anything B sent.
  sim.run_for(seconds(3));
  ASSERT_TRUE(sim.request_keepalive(a, b).has_value());
  sim.run_for(seconds(1));
  const auto token_before = a.endpoint().peer_status(b.hashname())->remote_token;

  RestartOptions options;
  if (lost_state) {
    options.unix_step = -10 * 3600;
  } else {
    options.seq_floor = b.endpoint().highest_seq_used();
    options.seq_marks = seq_marks_of(b);
  }
  sim.restart(b, options);
  sim.add_peer(b, a, PeerOptions{Duration::zero()});
  const Instant restarted = sim.now();
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until(
      [&] {
        const auto status = a.endpoint().peer_status(b.hashname());
        return sim.in_sync(a, b) && status && status->remote_token != token_before;
      },
      seconds(5)))
      << "A never took B's new session";
  // B's handshake reaches A, A's answer (or A's own handshake, rule 2) reaches B, and B's
  // reply reaches A: at most one and a half round trips after B's first handshake.
  EXPECT_LE(sim.now() - restarted, 3 * one_way + milliseconds(1));
  EXPECT_EQ(a.count<event::ExchangeDown>(), 0u);
}

TEST(SimAttack, RestartedPeerWithAgreeingClockRecoversInOneRoundTrip) {
  restart_recovers(resolve_seed(1002), false);
}

TEST(SimAttack, RestartedPeerTenHoursBehindRecoversInOneRoundTrip) {
  restart_recovers(resolve_seed(1003), true);
}

// Rule 4: a configured peer turned hostile raises its SEQ by a day at a time (the most rule 4
// allows per handshake). Our SEQs toward every other peer do not move; a step of more than a
// day is dropped and counted; and when its SEQs reach the top, only its own exchange runs out
// of SEQs (reported once), while the others go on.
TEST(SimAttack, PeerRaisingItsSeqMovesOnlyItsOwnExchange) {
  Simulator sim(resolve_seed(1004));
  sim.network().set_default_link(LinkParams{milliseconds(1), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& hostile = sim.add_host("hostile");
  Host& c = sim.add_host("c");
  sim.make_peers(a, hostile, PeerOptions{Duration::zero()});
  sim.make_peers(a, c, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(hostile, a).has_value());
  ASSERT_TRUE(sim.connect(c, a).has_value());
  ASSERT_TRUE(
      sim.run_until([&] { return sim.in_sync(a, hostile) && sim.in_sync(a, c); }, seconds(5)));

  // The hostile peer's next SEQ lands a day (minus the parity bit) above what A accepted.
  const auto raise = [&]() {
    const std::uint32_t seen = a.endpoint().peer_status(hostile.hashname())->seq_recv;
    sim.set_unix_time(hostile, std::int64_t{seen} + kMaxRemoteSeqAhead - 1);
    (void)sim.request_keepalive(hostile, a);
    sim.run_for(milliseconds(10));
  };
  for (int step = 0; step < 20; ++step) raise();
  const auto a_to_hostile = a.endpoint().peer_status(hostile.hashname());
  EXPECT_GT(a_to_hostile->seq_recv, kStartUnixTime + 19 * kMaxRemoteSeqAhead);
  EXPECT_EQ(a.stats().dropped_seq_too_far, 0u);

  // A's SEQs toward c still follow the clock.
  ASSERT_TRUE(sim.request_keepalive(a, c).has_value());
  sim.run_for(milliseconds(10));
  const auto a_to_c = a.endpoint().peer_status(c.hashname());
  EXPECT_LE(a_to_c->seq_used, sim.unix_time(a) + 10) << "the hostile peer moved A's SEQs toward c";

  // All the way to the top of the SEQ space, a day at a time.
  for (int step = 0; step < 40000; ++step) {
    const std::uint32_t seen = a.endpoint().peer_status(hostile.hashname())->seq_recv;
    if (std::uint64_t{seen} + kMaxRemoteSeqAhead > 0xfffffffeu) break;
    raise();
  }
  sim.set_unix_time(hostile, 0xfffffffe);
  (void)sim.request_keepalive(hostile, a);
  sim.run_for(milliseconds(10));
  ASSERT_GE(a.endpoint().peer_status(hostile.hashname())->seq_recv, 0xfffffffdu);
  // Depending on the parities, A may still have 0xffffffff to use once; never more.
  bool refused = !sim.request_keepalive(a, hostile).has_value();
  sim.run_for(milliseconds(10));
  if (!refused) refused = !sim.request_keepalive(a, hostile).has_value();
  EXPECT_TRUE(refused) << "A found a SEQ above 2^32-1";
  EXPECT_TRUE(a.endpoint().peer_status(hostile.hashname())->seq_exhausted);
  EXPECT_EQ(a.count<event::SeqExhausted>(), 1u);
  // c is not affected.
  ASSERT_TRUE(sim.request_keepalive(a, c).has_value());
  sim.run_for(milliseconds(10));
  EXPECT_TRUE(sim.in_sync(a, c));
  EXPECT_FALSE(a.endpoint().peer_status(c.hashname())->seq_exhausted);
  EXPECT_LE(a.endpoint().peer_status(c.hashname())->seq_used, sim.unix_time(a) + 10);
  EXPECT_EQ(a.stats().dropped_seq_too_far, 0u);
}

// Rule 4: a step of more than a day above everything is dropped and counted, and changes
// nothing.
TEST(SimAttack, SeqMoreThanADayAheadIsDropped) {
  Simulator sim(resolve_seed(1009));
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(b, a).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const auto before = a.endpoint().peer_status(b.hashname());
  sim.set_unix_time(b, sim.unix_time(b) + 2 * kMaxRemoteSeqAhead);
  ASSERT_TRUE(sim.request_keepalive(b, a).has_value());
  sim.run_for(seconds(1));
  EXPECT_EQ(a.stats().dropped_seq_too_far, 1u);
  const auto after = a.endpoint().peer_status(b.hashname());
  EXPECT_EQ(after->seq_recv, before->seq_recv);
  EXPECT_EQ(after->remote_token, before->remote_token);
}

// The recipient's side of rule 7 as the daemon runs it: store (dedupe by sender, id and
// payload hash), owe a receipt, flush receipts through the ReceiptScheduler.
struct Recipient {
  ReceiptScheduler receipts;
  std::set<std::string> stored;  // "id/sha256"
  std::size_t repeats = 0;

  Recipient(Simulator& sim, Host& host) {
    host.on_event = [this, &sim](Host& self, const Event& event) {
      if (auto* message = std::get_if<event::MessageReceived>(&event)) {
        const std::string sha = payload_sha256(message->body);
        if (!stored.insert(message->id + "/" + sha).second) ++repeats;
        receipts.owe(message->from, message->id, sha, *message_expires(message->json));
        receipts.flush(sim.now(), self.endpoint());
      } else if (std::holds_alternative<event::ExchangeUp>(event)) {
        receipts.flush(sim.now(), self.endpoint());
      }
    };
  }
};

std::vector<event::MessageReceived> receipts_at(const Host& host) {
  std::vector<event::MessageReceived> out;
  for (auto& message : host.events_of<event::MessageReceived>()) {
    if (message.type == kReceiptType) out.push_back(message);
  }
  return out;
}

// Rule 7, issue 10 items 3 and 6: a recorded message replayed from the attacker's address
// 30 times over 3 s gets at most one receipt per second, all on the current path to the
// sender, none to the attacker; and a message from a peer with no exchange in sync is stored
// but creates no exchange and gets no receipt until one is up.
TEST(SimAttack, ReplayedMessagesGetAtMostOneReceiptPerSecondOnTheCurrentPath) {
  Simulator sim(resolve_seed(1005));
  sim.network().set_default_link(LinkParams{milliseconds(10), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  Host& c = sim.add_host("c");
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  sim.make_peers(c, b, PeerOptions{Duration::zero()});
  Recipient recipient(sim, b);
  // The daemon flushes owed receipts once a second (housekeeping); here every 50 ms.
  const auto step = [&](Duration d) {
    const Instant until = sim.now() + d;
    while (sim.now() < until) {
      sim.run_for(milliseconds(50));
      recipient.receipts.flush(sim.now(), b.endpoint());
      sim.drain(b);
    }
  };
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const boost::json::object expires{{"expires", sim.unix_time(a) + 3600}};
  auto sealed =
      a.endpoint().send_message(sim.now(), b.hashname(), "msg", "m1", expires, as_bytes("hello"));
  ASSERT_TRUE(sealed.has_value());
  sim.drain(a);
  step(seconds(1));
  ASSERT_EQ(receipts_at(a).size(), 1u) << "the first delivery was not acknowledged";
  EXPECT_EQ(receipts_at(a)[0].json.at("sha256").as_string(), payload_sha256(as_bytes("hello")));

  const Instant replay_start = sim.now();
  for (int i = 0; i < 30; ++i) sim.inject(b, kAttacker, *sealed, milliseconds(100 * i));
  step(seconds(4));
  EXPECT_EQ(recipient.stored.size(), 1u);
  EXPECT_EQ(recipient.repeats, 30u);
  const auto receipts = receipts_at(a);
  // One at the start, then at most one per second of replaying (3 s) plus the tail.
  EXPECT_LE(receipts.size(), 1u + 5u);
  EXPECT_GE(receipts.size(), 2u) << "a repeat must be acknowledged again (the sender retries)";
  EXPECT_TRUE(sent_to(sim, b, kAttacker).empty()) << "B answered the replayer";
  for (const auto& record : sim.sent_by(b)) {
    if (record.at >= replay_start) {
      EXPECT_EQ(record.to, *sim.address_of(a));
    }
  }

  // c seals a message for B with no exchange in sync (it has never handshaken with B).
  const boost::json::object c_expires{{"expires", sim.unix_time(c) + 3600}};
  auto from_c = c.endpoint().send_message(sim.now(), b.hashname(), "msg", "c1", c_expires,
                                          as_bytes("offline"), c.path_for(*sim.address_of(b)));
  ASSERT_TRUE(from_c.has_value());
  sim.drain(c);
  step(seconds(1));
  for (int i = 0; i < 5; ++i) sim.inject(b, kAttacker, *from_c, milliseconds(100 * i));
  step(seconds(2));
  EXPECT_TRUE(recipient.stored.contains("c1/" + payload_sha256(as_bytes("offline"))));
  const auto b_to_c = b.endpoint().peer_status(c.hashname());
  EXPECT_EQ(b_to_c->state, ExchangeState::kNone) << "a message created an exchange at B";
  EXPECT_TRUE(
      sim.sent_by(b, [&](const SentRecord& r) { return r.to == *sim.address_of(c); }).empty())
      << "B answered a message with no exchange in sync";
  EXPECT_EQ(recipient.receipts.owed_to(c.hashname()), 1u);
  // Once c's exchange is up, the owed receipt goes, once.
  ASSERT_TRUE(sim.connect(c, b).has_value());
  step(seconds(2));
  EXPECT_TRUE(sim.in_sync(b, c));
  EXPECT_EQ(receipts_at(c).size(), 1u);
  EXPECT_EQ(recipient.receipts.owed_to(c.hashname()), 0u);
}

// Rule 7, issue 10 item 4: once a message has expired, a replay of it is refused (counted),
// so the recipient need not remember it any longer.
TEST(SimAttack, ReplayAfterTheMessageExpiredIsRefused) {
  Simulator sim(resolve_seed(1006));
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const boost::json::object expires{{"expires", sim.unix_time(a) + 60}};
  auto sealed =
      a.endpoint().send_message(sim.now(), b.hashname(), "msg", "m1", expires, as_bytes("x"));
  ASSERT_TRUE(sealed.has_value());
  sim.drain(a);
  sim.run_for(seconds(1));
  ASSERT_EQ(b.count<event::MessageReceived>(), 1u);
  // Inside its lifetime a replay still authenticates (the inbox recognises it as a repeat).
  sim.inject(b, kAttacker, *sealed);
  sim.run_for(seconds(1));
  EXPECT_EQ(b.count<event::MessageReceived>(), 2u);
  // After it: refused by the core before anyone sees it.
  sim.run_for(seconds(60));
  sim.inject(b, kAttacker, *sealed);
  sim.run_for(seconds(1));
  EXPECT_EQ(b.count<event::MessageReceived>(), 2u);
  EXPECT_EQ(b.stats().dropped_expired, 1u);
  EXPECT_TRUE(sent_to(sim, b, kAttacker).empty());
  // Too far ahead, or none at all: refused too.
  for (const boost::json::object& head :
       {boost::json::object{{"expires", sim.unix_time(a) + kDefaultMaxMessageAhead + 10}},
        boost::json::object{}}) {
    ASSERT_TRUE(
        a.endpoint().send_message(sim.now(), b.hashname(), "msg", "m2", head, as_bytes("y")));
    sim.drain(a);
    sim.run_for(seconds(1));
  }
  EXPECT_EQ(b.count<event::MessageReceived>(), 2u);
  EXPECT_EQ(b.stats().dropped_expired, 3u);
}

// Rule 5, issue 10 item 7: a channel packet from a new address (here the genuine packet,
// withheld from B's own address and delivered from the attacker's, as an on-path attacker or
// a very old recording could) is delivered, but the path stays until B's peer confirms a
// handshake from the new address; nobody confirms from the attacker's, so it never moves.
TEST(SimAttack, ChannelPacketFromANewAddressIsDeliveredWithoutMovingThePath) {
  Simulator sim(resolve_seed(1007));
  sim.network().set_default_link(LinkParams{milliseconds(10), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b, PeerOptions{Duration::zero()});
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  const std::uint32_t channel = sim.open_channel(b, a, "data", false, bytes_of("open"));
  ASSERT_TRUE(sim.run_until([&] { return opened_channel(a, b.hashname(), "data").has_value(); },
                            seconds(5)));
  const PathId path_before = a.endpoint().peer_status(b.hashname())->path;

  // B's next channel packet never reaches A directly; the attacker delivers it instead.
  bool withhold = true;
  sim.network().set_filter([&](const SentRecord& record) {
    return !(withhold && record.from_node == b.id() && is_channel_packet(record.bytes));
  });
  ASSERT_TRUE(sim.send_channel(b, a, channel, bytes_of("withheld")).has_value());
  sim.run_for(milliseconds(50));
  withhold = false;
  const auto withheld = channel_packets_sent(sim, b).back();
  sim.inject(a, kAttacker, withheld.bytes);
  sim.run_for(seconds(3));

  EXPECT_EQ(channel_bodies(a, b.hashname(), channel),
            (std::vector<std::string>{"open", "withheld"}));
  EXPECT_EQ(a.endpoint().peer_status(b.hashname())->path, path_before);
  EXPECT_EQ(a.count<event::PathChanged>(), 0u);
  // A asked the new address with a handshake (at most one per second), which nobody there
  // can confirm; B confirmed the same handshake from its own address, so all stays in sync.
  EXPECT_LE(sent_to(sim, a, kAttacker).size(), 1u);
  EXPECT_TRUE(sim.in_sync(a, b));
  EXPECT_EQ(a.count<event::ExchangeDown>(), 0u);
}

// Rule 6, issue 10 item 10: a peer that stops answering while we send (messages in flight,
// retried every 2 s, which used to hold back the keepalive for ever) is down within about
// 40 s of the first unanswered packet: 10 s of silence, then a handshake unconfirmed for 30 s.
TEST(SimAttack, SilenceAfterSendingTakesThePeerDownWithinFortySeconds) {
  Simulator sim(resolve_seed(1008));
  sim.network().set_default_link(LinkParams{milliseconds(10), Duration::zero(), 0.0, 0.0});
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);  // the default 25 s keepalive
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(5)));
  sim.run_for(seconds(5));
  // B is gone (SIGKILL): nothing of it reaches A any more.
  const Instant gone = sim.now();
  sim.network().isolate(b.id(), gone, gone + seconds(3600));
  const boost::json::object expires{{"expires", sim.unix_time(a) + 3600}};
  std::optional<Instant> down_at;
  for (int i = 0; i < 60 && !down_at; ++i) {
    (void)a.endpoint().send_message(sim.now(), b.hashname(), "msg", "m" + std::to_string(i),
                                    expires, as_bytes("still there?"));
    sim.drain(a);
    sim.run_for(seconds(1));
    for (const auto& [at, down] : a.timed_events_of<event::ExchangeDown>()) {
      if (at >= gone) down_at = at;
    }
  }
  ASSERT_TRUE(down_at.has_value()) << "A still thinks B is up a minute after it went silent";
  EXPECT_LE(*down_at - gone, seconds(41));
  EXPECT_GE(*down_at - gone, seconds(39));
}

}  // namespace
}  // namespace e3x::sim
