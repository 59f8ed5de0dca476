// e3xctl's human output for sample results (the schemas of docs/control-protocol.md).
#include "daemon/control/ctl_format.hpp"

#include <string>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace e3x::control {
namespace {

namespace json = boost::json;

constexpr const char* kHashname = "b5jnzq3q7mgxv6mmy5ro4zvd2aa6g7hxkvunl7nsacpjwbjcmr4a";
constexpr std::int64_t kNow = 1714564803;  // 2024-05-01 12:00:03 UTC

json::object object_of(std::string_view text) {
  return json::parse(text).as_object();
}

TEST(CtlFormat, Durations) {
  EXPECT_EQ(format_duration(0), "0 s");
  EXPECT_EQ(format_duration(12), "12 s");
  EXPECT_EQ(format_duration(59), "59 s");
  EXPECT_EQ(format_duration(60), "1 min");
  EXPECT_EQ(format_duration(182), "3 min, 2 s");
  EXPECT_EQ(format_duration(3599), "59 min, 59 s");
  EXPECT_EQ(format_duration(3600), "1 h");
  EXPECT_EQ(format_duration(2 * 3600 + 5 * 60 + 40), "2 h, 5 min");
  EXPECT_EQ(format_duration(86400 * 3 + 3600 * 4 + 1), "3 d, 4 h");
  EXPECT_EQ(format_duration(-5), "0 s");
  EXPECT_EQ(format_age(12), "12 s ago");
  EXPECT_EQ(format_age(182), "3 min, 2 s ago");
  EXPECT_EQ(format_age(2 * 3600 + 5 * 60), "2 h, 5 min ago");
}

TEST(CtlFormat, Bytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.00 KiB");
  EXPECT_EQ(format_bytes(1239), "1.21 KiB");
  EXPECT_EQ(format_bytes(3482), "3.40 KiB");
  EXPECT_EQ(format_bytes(1048575), "1.00 MiB");  // would be "1024.00 KiB"
  EXPECT_EQ(format_bytes(3565158), "3.40 MiB");
  EXPECT_EQ(format_bytes(1073741824), "1.00 GiB");
  EXPECT_EQ(format_bytes(5ull << 40), "5120.00 GiB");  // GiB is the largest unit
}

TEST(CtlFormat, RttClockAndPaths) {
  EXPECT_EQ(format_rtt(0.42), "0.4 ms");
  EXPECT_EQ(format_rtt(123.456), "123.5 ms");
  EXPECT_EQ(format_clock(kNow, 0), "2024-05-01 12:00:03");
  EXPECT_EQ(format_clock(kNow, 2 * 3600), "2024-05-01 14:00:03");
  EXPECT_EQ(format_path_object(object_of(R"({"type":"udp4","ip":"203.0.113.5","port":42424})")),
            "udp4 203.0.113.5:42424");
  EXPECT_EQ(format_path_object(object_of(R"({"type":"udp6","ip":"2001:db8::7","port":9})")),
            "udp6 [2001:db8::7]:9");
}

TEST(CtlFormat, CongestionOfAPeersPath) {
  const json::object flow{{"algorithm", "newreno"},    {"window", 1258291},
                          {"bytes_in_flight", 348160}, {"slow_start", false},
                          {"srtt_ms", 41.24},          {"rttvar_ms", 2.0},
                          {"min_rtt_ms", 40.07},       {"pacing_bytes_per_s", 12.25e6},
                          {"congestion_events", 3},    {"persistent_congestion", 0},
                          {"idle_restarts", 1}};
  EXPECT_EQ(format_congestion(flow),
            "newreno, window 1.20 MiB, 340.00 KiB in flight, srtt 41.2 ms (min 40.1 ms), "
            "pacing 98.0 Mbit/s, 3 congestion events");
  // Before any RTT sample, in slow start, not pacing yet, one event.
  const json::object fresh{{"algorithm", "cubic"},      {"window", 14000},
                           {"bytes_in_flight", 0},      {"slow_start", true},
                           {"srtt_ms", nullptr},        {"min_rtt_ms", nullptr},
                           {"pacing_bytes_per_s", 0.0}, {"congestion_events", 1}};
  EXPECT_EQ(format_congestion(fresh),
            "cubic, window 13.67 KiB (slow start), 0 B in flight, 1 congestion event");
  // A peer block shows it on its own line when the daemon sent it.
  json::object peer{{"name", "alpha"}, {"hashname", "x"}, {"state", "up"}, {"congestion", flow}};
  EXPECT_NE(format_peer(peer, kNow).find("\n  congestion: newreno, window 1.20 MiB"),
            std::string::npos);
  EXPECT_EQ(format_peer(peer, kNow).find("sending:"), std::string::npos);  // no limited_ms
}

TEST(CtlFormat, WhereASendersTimeWent) {
  const json::object limited{
      {"pacing", 910.0}, {"congestion_window", 20.0}, {"peer_window", 50.4}, {"application", 19.6}};
  EXPECT_EQ(format_send_limits(limited),
            "paced 91%, congestion window 2%, peer's window 5%, application 2%");
  // A path that never had anything to send says nothing.
  EXPECT_EQ(format_send_limits(json::object{{"pacing", 0.0}, {"application", 0}}), "");
  // What is not a time (a negative number, text) counts as none.
  EXPECT_EQ(format_send_limits(json::object{{"pacing", -5.0}, {"application", "x"}}), "");
  EXPECT_EQ(format_send_limits(json::object{{"pacing", -5.0}, {"peer_window", 3}}),
            "paced 0%, congestion window 0%, peer's window 100%, application 0%");
  json::object flow{{"algorithm", "bbr"}, {"limited_ms", limited}};
  json::object peer{{"name", "alpha"}, {"hashname", "x"}, {"state", "up"}, {"congestion", flow}};
  EXPECT_NE(format_peer(peer, kNow).find("\n  sending: paced 91%, congestion window 2%"),
            std::string::npos);
}

TEST(CtlFormat, PingSummary) {
  EXPECT_EQ(format_ping_summary("beta", 3, 2, {0.2, 0.45}),
            "--- beta: 3 sent, 2 answered, 33% lost\n"
            "rtt min/avg/max 0.2/0.3/0.5 ms\n");
  EXPECT_EQ(format_ping_summary("beta", 4, 0, {}), "--- beta: 4 sent, 0 answered, 100% lost\n");
}

TEST(CtlFormat, Status) {
  const auto status = object_of(R"({
    "hashname": "b5jnzq3q7mgxv6mmy5ro4zvd2aa6g7hxkvunl7nsacpjwbjcmr4a",
    "key": "kkey", "version": "0.1.0",
    "listen": ["udp4 127.0.0.1:42424", "tcp4 127.0.0.1:42424"],
    "public_paths": [], "uptime_s": 7540, "peers_up": 1, "peers_total": 3})");
  EXPECT_EQ(format_status(status), std::string("e3xd 0.1.0\n"
                                               "  hashname: ") +
                                       kHashname +
                                       " (our name; not what peers configure)\n"
                                       "  key: kkey (what peers put in their [[peer]] key)\n"
                                       "  listening: udp4 127.0.0.1:42424, tcp4 127.0.0.1:42424\n"
                                       "  public paths: none known\n"
                                       "  uptime: 2 h, 5 min\n"
                                       "  peers: 1 up, 3 total\n");
  auto with_public = status;
  with_public["public_paths"] = json::array{"udp4 203.0.113.5:42424"};
  EXPECT_NE(format_status(with_public).find("  public paths: udp4 203.0.113.5:42424\n"),
            std::string::npos);
}

json::object up_peer() {
  return object_of(R"({
    "name": "alpha", "hashname": "b5jnzq3q7mgxv6mmy5ro4zvd2aa6g7hxkvunl7nsacpjwbjcmr4a",
    "key": "kkey", "state": "up", "reason": null, "path": "udp4 127.0.0.1:42425",
    "paths": ["udp4 127.0.0.1:42425"], "endpoints": ["udp://127.0.0.1:42425"],
    "seq_sent": 1714564001, "seq_recv": 1714564002, "token": "00112233445566778899aabbccddeeff",
    "last_handshake": 1714564791, "rtt_ms": 0.4, "rx_packets": 12, "tx_packets": 15,
    "rx_bytes": 1239, "tx_bytes": 3482, "keepalive": 25, "channels": 1})");
}

TEST(CtlFormat, AnUpPeerLooksLikeWgShow) {
  EXPECT_EQ(format_peer(up_peer(), kNow), std::string("peer: alpha (") + kHashname +
                                              ")\n"
                                              "  state: up\n"
                                              "  endpoint: udp4 127.0.0.1:42425\n"
                                              "  latest handshake: 12 s ago\n"
                                              "  transfer: 1.21 KiB received, 3.40 KiB sent\n"
                                              "  packets: 12 received, 15 sent\n"
                                              "  rtt: 0.4 ms\n"
                                              "  keepalive: every 25 s\n"
                                              "  channels: 1\n");
}

TEST(CtlFormat, ADownPeerThatNeverHandshook) {
  const auto peer = object_of(R"({
    "name": null, "hashname": "b5jnzq3q7mgxv6mmy5ro4zvd2aa6g7hxkvunl7nsacpjwbjcmr4a",
    "key": null, "state": "down", "reason": "timeout", "path": null, "paths": [],
    "endpoints": ["udp://192.0.2.7:42424", "tcp://192.0.2.7:42424"], "seq_sent": 0,
    "seq_recv": 0, "token": null, "last_handshake": null, "rtt_ms": null, "rx_packets": 0,
    "tx_packets": 3, "rx_bytes": 0, "tx_bytes": 540, "keepalive": 0, "channels": 0})");
  EXPECT_EQ(format_peer(peer, kNow),
            std::string("peer: ") + kHashname +
                "\n"
                "  state: down (timeout)\n"
                "  configured endpoints: udp://192.0.2.7:42424, tcp://192.0.2.7:42424\n"
                "  latest handshake: never\n"
                "  transfer: 0 B received, 540 B sent\n"
                "  packets: 0 received, 3 sent\n"
                "  keepalive: off\n"
                "  channels: 0\n");
}

TEST(CtlFormat, OtherPathsAndOldHandshakes) {
  auto peer = up_peer();
  peer["paths"] = json::array{"udp4 127.0.0.1:42425", "tcp4 10.0.0.2:42424"};
  peer["last_handshake"] = kNow - (2 * 3600 + 5 * 60 + 9);
  const std::string text = format_peer(peer, kNow);
  EXPECT_NE(text.find("  other paths: tcp4 10.0.0.2:42424\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  latest handshake: 2 h, 5 min ago\n"), std::string::npos) << text;
}

TEST(CtlFormat, PeersAreBlocksSeparatedByBlankLines) {
  json::array peers{up_peer(), up_peer()};
  peers[1].as_object()["name"] = "beta";
  const std::string text = format_peers(peers, kNow);
  const std::string one = format_peer(up_peer(), kNow);
  EXPECT_EQ(text.substr(0, one.size() + 1), one + "\n");
  EXPECT_NE(text.find("\npeer: beta ("), std::string::npos);
  EXPECT_EQ(format_peers(json::array{}, kNow), "no peers\n");
}

TEST(CtlFormat, PeersTableIsOneLinePerPeer) {
  auto down = object_of(R"({
    "name": null, "hashname": "x7kq2m4ztbhvdz6fnlc3brswzx6ifiutmcyfgqzk6c2bvdz2i3ha",
    "state": "down", "reason": "timeout", "path": null, "paths": [],
    "endpoints": ["udp://gamma.example:42424"], "last_handshake": null, "rtt_ms": null,
    "rx_bytes": 0, "tx_bytes": 540})");
  const json::array peers{up_peer(), down};
  EXPECT_EQ(format_peers_table(peers, kNow),
            "NAME   HASHNAME      STATE  ENDPOINT                   HANDSHAKE  RX        TX   "
            "     RTT\n"
            "alpha  b5jnzq3q7mgx  up     udp4 127.0.0.1:42425       12 s ago   1.21 KiB  3.40 "
            "KiB  0.4 ms\n"
            "-      x7kq2m4ztbhv  down   udp://gamma.example:42424  never      0 B       540 B "
            "    -  (timeout)\n");
  EXPECT_EQ(format_peers_table(json::array{}, kNow), "no peers\n");
}

TEST(CtlFormat, PeerShowsWhyAnEndpointDoesNotResolve) {
  const auto peer = object_of(R"json({
    "name": "gamma", "hashname": "x7kq2m4ztbhvdz6fnlc3brswzx6ifiutmcyfgqzk6c2bvdz2i3ha",
    "state": "down", "reason": "never connected", "path": null, "paths": [],
    "endpoints": ["udp://gamma.invalid:42424"],
    "endpoint_errors": {"udp://gamma.invalid:42424": "Host not found (authoritative)"},
    "last_handshake": null, "rx_bytes": 0, "tx_bytes": 0})json");
  const std::string text = format_peer(peer, kNow);
  EXPECT_NE(text.find("  configured endpoints: udp://gamma.invalid:42424\n"
                      "  cannot resolve udp://gamma.invalid:42424: Host not found "
                      "(authoritative)\n"),
            std::string::npos)
      << text;
}

// PROTOCOL.md 10.4: a peer whose SEQs ran out says so in its status.
TEST(CtlFormat, PeerWithNoSeqLeftSaysSo) {
  json::object peer = up_peer();
  EXPECT_EQ(format_peer(peer, kNow).find("no SEQ value is left"), std::string::npos);
  peer["seq_exhausted"] = true;
  EXPECT_NE(format_peer(peer, kNow).find("error: no SEQ value is left toward this peer"),
            std::string::npos);
}

// Counted drops (PROTOCOL.md 10) show in the human status, the non-zero ones by reason.
TEST(CtlFormat, StatusListsTheDropsThatHappened) {
  const auto status =
      object_of(R"({"hashname":"h","dropped":{"stale":3,"replay":0,"seq_too_far":1}})");
  const std::string text = format_status(status);
  EXPECT_NE(text.find("  dropped: 3 stale, 1 seq_too_far\n"), std::string::npos) << text;
  EXPECT_NE(format_status(object_of(R"({"dropped":{"stale":0}})")).find("  dropped: nothing\n"),
            std::string::npos);
}

// The stream limits of PROTOCOL.md 11 are counted and shown: refusals by reason, non-zero only.
TEST(CtlFormat, StatusShowsServicesAndStreamRefusals) {
  const auto status = object_of(
      R"({"services":{"services":2,"forwards":1,"streams":3,"streams_in":10,"streams_out":4,)"
      R"("unavailable":2,"busy":0,"refused":1,"forward_refused":5,"reset":0}})");
  const std::string text = format_status(status);
  EXPECT_NE(text.find("  services: 2 offered, 1 forwards, 3 open streams\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  streams since start: 10 in, 4 out, 2 unavailable, 1 refused, 5 "
                      "forward_refused\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(format_status(object_of(R"({"hashname":"h"})")).find("services:"), std::string::npos);
}

TEST(CtlFormat, MissingOrMistypedMembersDoNotThrow) {
  const auto odd = object_of(R"({"name": 5, "state": ["up"], "rx_bytes": "many"})");
  std::string text;
  EXPECT_NO_THROW(text = format_peer(odd, kNow));
  EXPECT_NE(text.find("peer: ?\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  transfer: ? received, ? sent\n"), std::string::npos) << text;
  EXPECT_NO_THROW(format_status(json::object{}));
  EXPECT_NO_THROW(format_reload(json::object{}));
  EXPECT_NO_THROW(format_event(json::object{}, 0));
}

TEST(CtlFormat, Reload) {
  const auto result = object_of(R"({"added":["beta","gamma"],"removed":["delta"],"changed":[],
    "unchanged":["alpha"],"restart_required":["udp.listen","identity"]})");
  EXPECT_EQ(format_reload(result),
            "peers added: beta, gamma\n"
            "peers removed: delta\n"
            "peers unchanged: alpha\n"
            "restart e3xd to apply:\n"
            "  udp.listen\n"
            "  identity\n");
  const auto nothing = object_of(R"({"added":[],"removed":[],"changed":[],
    "unchanged":["alpha","beta"],"restart_required":[]})");
  EXPECT_EQ(format_reload(nothing), "peers: no changes (2 unchanged)\n");
  // Settings applied live are reported too, the log level among them.
  const auto settings = object_of(R"({"added":[],"removed":[],"changed":[],"unchanged":[],
    "restart_required":["udp.listen"],"applied":["log_level: info -> debug","udp.keepalive: 25 -> 10"]})");
  EXPECT_EQ(format_reload(settings),
            "peers: no changes\n"
            "settings applied:\n"
            "  log_level: info -> debug\n"
            "  udp.keepalive: 25 -> 10\n"
            "restart e3xd to apply:\n"
            "  udp.listen\n");
}

TEST(CtlFormat, OutboxAndInbox) {
  const auto outbox = json::parse(R"([
    {"id":"m1","peer":"alpha","hashname":"h","bytes":5,"state":"pending","created":900,
     "attempts":3,"last_error":"no TCP path"},
    {"id":"m2","peer":null,"hashname":"b5jn","bytes":2048,"state":"expired","created":0,
     "attempts":0,"last_error":null}])");
  EXPECT_EQ(format_outbox(outbox.as_array(), 1000),
            "m1  to alpha  5 B  queued, accepted 1 min, 40 s ago, 3 attempt(s); last error: no "
            "TCP path\n"
            "m2  to b5jn  2.00 KiB  expired, accepted 16 min, 40 s ago, 0 attempt(s)\n");
  EXPECT_EQ(format_outbox(json::array{}, 0), "outbox empty\n");
  const auto delivered = json::parse(R"([
    {"id":"m3","peer":"alpha","hashname":"h","bytes":5,"state":"delivered","created":900,
     "delivered":990,"attempts":1,"last_error":null}])");
  EXPECT_EQ(format_outbox(delivered.as_array(), 1000),
            "m3  to alpha  5 B  delivered, accepted 1 min, 40 s ago, delivered 10 s ago, 1 "
            "attempt(s)\n");
  const auto inbox = json::parse(R"([
    {"id":"m1","peer":"alpha","hashname":"b5jn","bytes":5,"received":990,"via":"network"},
    {"id":"f","peer":"alpha","hashname":"b5jn","bytes":1,"received":1000,"via":"import"}])");
  EXPECT_EQ(format_inbox(inbox.as_array(), 1000),
            "m1  from alpha (b5jn)  5 B, received 10 s ago\n"
            "f  from alpha (b5jn)  1 B, received 0 s ago (import)\n");
  EXPECT_EQ(format_inbox(json::array{}, 0), "inbox empty\n");
}

// Mailboxes (PROTOCOL.md 14): where a message was deposited, and where one was picked up.
TEST(CtlFormat, OutboxAndInboxWithMailboxes) {
  const auto outbox = json::parse(R"([
    {"id":"m1","peer":"bob","hashname":"h","bytes":5,"state":"pending","created":900,
     "attempts":1,"last_error":null,"deposited":null},
    {"id":"m2","peer":"bob","hashname":"h","bytes":5,"state":"deposited","created":700,
     "attempts":2,"last_error":null,
     "deposited":{"at":880,"mailbox":"hub","hashname":"x7kq"}},
    {"id":"m3","peer":"bob","hashname":"h","bytes":5,"state":"delivered","created":700,
     "delivered":990,"attempts":2,"last_error":null,
     "deposited":{"at":880,"mailbox":"hub","hashname":"x7kq"}},
    {"id":"m4","peer":"bob","hashname":"h","bytes":5,"state":"expired","created":0,
     "attempts":2,"last_error":null,"deposited":null},
    {"id":"m5","peer":"bob","hashname":"h","bytes":5,"state":"deposited","created":700,
     "attempts":2,"last_error":null,
     "deposited":{"at":880,"mailbox":null,"hashname":"x7kq2m4ztbhvdz6fnlc3brswzx6i"}}])");
  EXPECT_EQ(format_outbox(outbox.as_array(), 1000),
            "m1  to bob  5 B  queued, accepted 1 min, 40 s ago, 1 attempt(s)\n"
            "m2  to bob  5 B  deposited at hub (2 min ago), accepted 5 min ago, 2 attempt(s)\n"
            "m3  to bob  5 B  delivered, accepted 5 min ago, deposited at hub 2 min ago, "
            "delivered 10 s ago, 2 attempt(s)\n"
            "m4  to bob  5 B  expired, accepted 16 min, 40 s ago, 2 attempt(s)\n"
            "m5  to bob  5 B  deposited at x7kq2m4ztbhv (2 min ago), accepted 5 min ago, 2 "
            "attempt(s)\n");
  // A state this e3xctl does not know is shown as it is.
  EXPECT_NE(
      format_outbox(json::parse(R"([{"id":"m","state":"held"}])").as_array(), 0).find("  held, "),
      std::string::npos);
  EXPECT_NO_THROW(format_outbox(
      json::parse(R"([{"state":"deposited","deposited":{"at":"x","mailbox":3}}])").as_array(), 0));

  const auto inbox = json::parse(R"([
    {"id":"m1","peer":"alice","hashname":"b5jn","bytes":5,"received":990,"via":"network"},
    {"id":"m2","peer":"alice","hashname":"b5jn","bytes":5,"received":990,"via":"mailbox",
     "mailbox":"hub"},
    {"id":"m3","peer":"alice","hashname":"b5jn","bytes":5,"received":990,"via":"import"}])");
  EXPECT_EQ(format_inbox(inbox.as_array(), 1000),
            "m1  from alice (b5jn)  5 B, received 10 s ago\n"
            "m2  from alice (b5jn)  5 B, received 10 s ago (via hub)\n"
            "m3  from alice (b5jn)  5 B, received 10 s ago (import)\n");
}

json::object mailbox_result() {
  return object_of(R"({"enabled":true,"quota_per_recipient":67108864,
    "quota_per_sender":16777216,"max_age":604800,"held":12,"bytes":34567,
    "recipients":[
      {"peer":"bob","hashname":"x7kq2m4ztbhvdz6fnlc3brswzx6ifiutmcyfgqzk6c2bvdz2i3ha",
       "messages":11,"bytes":34000,"oldest":1764892800,"senders":1},
      {"peer":null,"hashname":"b5jnzq3q7mgxv6mmy5ro4zvd2aa6g7hxkvunl7nsacpjwbjcmr4a",
       "messages":1,"bytes":567,"oldest":1764899990,"senders":2}],
    "stats":{"deposits":14,"duplicates":0,"refused_policy":1,"refused_quota":1,"picked_up":2,
             "expired":0,"corrupt":0}})");
}

TEST(CtlFormat, Mailbox) {
  const std::int64_t now = 1764892800 + 7200;
  EXPECT_EQ(format_mailbox(mailbox_result(), now),
            "mailbox on: up to 64.00 MiB per recipient, 16.00 MiB per sender, kept at most 7 d\n"
            "holding 12 messages, 33.76 KiB\n"
            "RECIPIENT     MESSAGES  BYTES      OLDEST    SENDERS\n"
            "bob           11        33.20 KiB  2 h ago   1\n"
            "b5jnzq3q7mgx  1         567 B      10 s ago  2\n"
            "since start: 14 deposits, 0 duplicates, 1 refused by policy, 1 refused over quota, 2 "
            "picked up, 0 expired, 0 corrupt\n");
  json::object empty = mailbox_result();
  empty["recipients"] = json::array{};
  empty["held"] = 1;
  empty["bytes"] = 0;
  const std::string text = format_mailbox(empty, now);
  EXPECT_NE(text.find("holding 1 message, 0 B\nno mail held\n"), std::string::npos) << text;
  // The database did not answer: no "no mail held", the reason instead, and the count.
  json::object failing = empty;
  failing["held"] = 0;
  failing["read_error"] = "reading the summary: no such table: mail";
  failing["stats"].as_object()["read_errors"] = 3;
  const std::string unread = format_mailbox(failing, now);
  EXPECT_EQ(unread.find("no mail held"), std::string::npos) << unread;
  EXPECT_NE(unread.find("holding 0 messages, 0 B\nthe mailbox database did not answer (reading "
                        "the summary: no such table: mail): it may hold more than this shows\n"),
            std::string::npos)
      << unread;
  EXPECT_NE(unread.find("\ndatabase reads failed since start: 3\n"), std::string::npos) << unread;
  // Off: says why; counters that are all zero are left out.
  json::object off = object_of(R"({"enabled":false,"quota_per_recipient":67108864,
    "quota_per_sender":16777216,"max_age":604800,"held":0,"bytes":0,"recipients":[],
    "stats":{"deposits":0,"duplicates":0,"refused_policy":0,"refused_quota":0,"picked_up":0,
             "expired":0,"corrupt":0}})");
  EXPECT_EQ(format_mailbox(off, now), "mailbox: off (no [mailbox] in the configuration)\n");
  // Turned off by a reload while mail is still held: it is listed under it, with the counters.
  json::object off_holding = mailbox_result();
  off_holding["enabled"] = false;
  const std::string held = format_mailbox(off_holding, now);
  EXPECT_EQ(held.rfind("mailbox: off (no [mailbox] in the configuration)\nRECIPIENT ", 0), 0u);
  EXPECT_NE(held.find("\nbob  "), std::string::npos);
  EXPECT_NE(held.find("since start: 14 deposits"), std::string::npos);
  // Odd JSON prints "?" and never throws.
  EXPECT_NO_THROW(format_mailbox(json::object{}, now));
  EXPECT_EQ(format_mailbox(json::object{}, now),
            "mailbox: off (no [mailbox] in the configuration)\n");
  EXPECT_NO_THROW(
      format_mailbox(object_of(R"({"enabled":true,"recipients":[1,{"peer":2}],"stats":[]})"), now));
  EXPECT_NE(format_mailbox(object_of(R"({"enabled":true})"), now)
                .find("up to ? per recipient, ? per sender, kept at most ?"),
            std::string::npos);
  // Names a peer chose never reach the terminal raw.
  json::object odd = mailbox_result();
  odd["recipients"].as_array()[0].as_object()["peer"] = "b\x1b[2J";
  EXPECT_NE(format_mailbox(odd, now).find("b\\x1b[2J"), std::string::npos);
}

TEST(CtlFormat, MailboxEvents) {
  EXPECT_EQ(format_event(object_of(R"({"event":"deposited","time":1714564803,"peer":"bob",
              "hashname":"x7kq","id":"7f3a","mailbox":"hub"})"),
                         0),
            "2024-05-01 12:00:03 message 7f3a for bob deposited at hub\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"deposit","time":1714564803,"peer":"alice",
              "hashname":"b5jn","recipient":"bob","bytes":1190})"),
                         0),
            "2024-05-01 12:00:03 alice deposited 1190 bytes for bob\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"pickup","time":1714564803,"peer":"bob",
              "hashname":"x7kq","count":2})"),
                         0),
            "2024-05-01 12:00:03 bob picked up 2 message(s)\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"deposit_refused","time":1714564803,
              "peer":"alice","hashname":"b5jn","recipient":"bob","reason":"quota"})"),
                         0),
            "2024-05-01 12:00:03 refused a deposit from alice for bob (over quota)\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"deposit_refused","time":1714564803,
              "peer":null,"hashname":"b5jn","recipient":"bob","reason":"policy"})"),
                         0),
            "2024-05-01 12:00:03 refused a deposit from b5jn for bob (not allowed by [mailbox] "
            "allow)\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"mail_expired","time":1714564803,
              "recipient":"bob","count":3})"),
                         0),
            "2024-05-01 12:00:03 3 message(s) held for bob expired\n");
  // A peer without a name falls back to its hashname, as in every event.
  EXPECT_EQ(format_event(object_of(R"({"event":"pickup","time":1714564803,"peer":null,
              "hashname":"x7kq","count":1})"),
                         0),
            "2024-05-01 12:00:03 x7kq picked up 1 message(s)\n");
  for (const char* name : {"deposited", "deposit", "pickup", "deposit_refused", "mail_expired"}) {
    EXPECT_NO_THROW(format_event(json::object{{"event", name}}, 0));
  }
}

TEST(CtlFormat, InboxAckOneOrSeveral) {
  EXPECT_EQ(format_inbox_ack(object_of(R"({"id":"7f3a01","peer":"alpha","hashname":"b5jn"})")),
            "acknowledged and deleted message 7f3a01 from alpha\n");
  EXPECT_EQ(format_inbox_ack(object_of(R"({"acked":[
    {"id":"m1","peer":"alpha","hashname":"b5jn"},
    {"id":"m\nx","peer":null,"hashname":"b5jn"}]})")),
            "acknowledged and deleted message m1 from alpha\n"
            "acknowledged and deleted message m\\x0ax from b5jn\n");
  EXPECT_EQ(format_inbox_ack(object_of(R"({"acked":[]})")), "nothing to acknowledge\n");
}

// PROTOCOL.md 10.10: what a peer chose (a message id with a newline and a terminal escape)
// reaches the terminal escaped.
TEST(CtlFormat, PeerSuppliedTextIsEscaped) {
  const auto inbox = json::parse(R"([
    {"id":"x\nINFO forged\u001b[2J","peer":"alpha","hashname":"b5jn","bytes":1,
     "received":1000,"via":"network"}])");
  EXPECT_EQ(format_inbox(inbox.as_array(), 1000),
            "x\\x0aINFO forged\\x1b[2J  from alpha (b5jn)  1 B, received 0 s ago\n");
}

TEST(CtlFormat, SendAndPing) {
  EXPECT_EQ(format_send(object_of(R"({"id":"7f3a9c","bytes":5,"duplicate":false})"), "alpha"),
            "accepted message 7f3a9c for alpha (5 bytes); it is stored and will be delivered\n");
  EXPECT_EQ(format_send(object_of(R"({"id":"m1","bytes":5,"duplicate":true})"), "alpha"),
            "already accepted message m1 for alpha (5 bytes); it is stored and will be "
            "delivered\n");
  EXPECT_EQ(format_ping(object_of(R"({"path":{"type":"udp4","ip":"203.0.113.5","port":42424},
                                      "rtt_ms":0.42})"),
                        "alpha"),
            "alpha sees us at udp4 203.0.113.5:42424 (rtt 0.4 ms)\n");
}

TEST(CtlFormat, Speedtest) {
  EXPECT_EQ(format_speedtest(object_of(R"({"peer":"beta","seconds":10,"size":1400,"sent":812345,
      "send_buffer_full":0,"delivered":800000,"delivered_bytes":1120000000,"lost":12345,
      "loss_percent":1.5196,"duration_s":10.0004,"receive_span_s":9.99,"packets_per_s":80000.4,
      "mbit_per_s":896.0,"cpu_s":9.84,"cpu_us_per_packet":12.3,"receiver_cpu_s":8.08,
      "receiver_cpu_us_per_packet":10.1})")),
            "speed test to beta: 10.0 s of 1400-byte packets\n"
            "  sent: 812345 packets (0 refused by a full send buffer)\n"
            "  delivered: 800000 packets, 1.04 GiB (1.52% lost)\n"
            "  rate: 80000 packets/s, 896.0 Mbit/s\n"
            "  cpu: 12.3 us per delivered packet here, 10.1 us at the peer\n");
  // Nothing delivered: no CPU per packet (null), and odd members print as "?".
  EXPECT_EQ(format_speedtest(object_of(R"({"peer":"beta","size":64,"sent":5,"delivered":0,
      "delivered_bytes":0,"loss_percent":100.0,"duration_s":1.0,"packets_per_s":0,
      "mbit_per_s":0,"cpu_us_per_packet":null,"receiver_cpu_us_per_packet":null})")),
            "speed test to beta: 1.0 s of 64-byte packets\n"
            "  sent: 5 packets (? refused by a full send buffer)\n"
            "  delivered: 0 packets, 0 B (100.00% lost)\n"
            "  rate: 0 packets/s, 0.0 Mbit/s\n"
            "  cpu: ? us per delivered packet here, ? us at the peer\n");
}

TEST(CtlFormat, Events) {
  EXPECT_EQ(format_event(object_of(R"({"event":"peer_up","time":1714564803,"peer":"alpha",
              "hashname":"b5jn","path":"udp4 127.0.0.1:42425","token":"0011",
              "new_session":true})"),
                         0),
            "2024-05-01 12:00:03 alpha up via udp4 127.0.0.1:42425 (new session)\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"peer_up","time":1714564803,"peer":null,
              "hashname":"b5jn","path":"udp4 127.0.0.1:42425","token":"0011",
              "new_session":false})"),
                         3600),
            "2024-05-01 13:00:03 b5jn up via udp4 127.0.0.1:42425\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"peer_down","time":1714564840,"peer":"alpha",
              "hashname":"b5jn","reason":"timeout"})"),
                         0),
            "2024-05-01 12:00:40 alpha down (timeout)\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"path_changed","time":1714564860,"peer":"alpha",
              "hashname":"b5jn","path":"udp4 192.0.2.9:42425"})"),
                         0),
            "2024-05-01 12:01:00 alpha moved to udp4 192.0.2.9:42425\n");
  // "hello" in base64: a text body is previewed...
  EXPECT_EQ(format_event(object_of(R"({"event":"message","time":1714564862,"peer":"alpha",
              "hashname":"b5jn","type":"msg","id":"7f3a","bytes":5,"body_base64":"aGVsbG8="})"),
                         0),
            "2024-05-01 12:01:02 message from alpha: msg, 5 bytes, id 7f3a \"hello\"\n");
  // ...a binary one is not.
  EXPECT_EQ(format_event(object_of(R"({"event":"message","time":1714564862,"peer":"alpha",
              "hashname":"b5jn","type":"file","id":"7f3b","bytes":3,"body_base64":"AP8B"})"),
                         0),
            "2024-05-01 12:01:02 message from alpha: file, 3 bytes, id 7f3b\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"reload","time":1714564920,"added":["beta"],
              "removed":[],"changed":["alpha"],"unchanged":[],"restart_required":[]})"),
                         0),
            "2024-05-01 12:02:00 reload: added beta; changed alpha\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"reload","time":1714564920,"added":[],
              "removed":[],"changed":[],"unchanged":["alpha"],"restart_required":[]})"),
                         0),
            "2024-05-01 12:02:00 reload: no changes\n");
  EXPECT_EQ(format_event(object_of(R"({"event":"future_thing","time":1714564920,"x":1})"), 0),
            "2024-05-01 12:02:00 future_thing {\"x\":1}\n");
}

TEST(CtlFormat, LongTextBodiesAreCut) {
  // 100 'a' characters.
  std::string body_base64;
  for (int i = 0; i < 33; ++i) body_base64 += "YWFh";  // "aaa"
  body_base64 += "YQ==";                               // "a"
  json::object event{
      {"event", "message"}, {"time", kNow}, {"peer", "alpha"},           {"type", "msg"},
      {"id", "1"},          {"bytes", 100}, {"body_base64", body_base64}};
  EXPECT_NE(format_event(event, 0).find("\"" + std::string(60, 'a') + "...\"\n"),
            std::string::npos);
}

TEST(CtlFormat, Rates) {
  EXPECT_EQ(format_rate(0), "0 B/s");
  EXPECT_EQ(format_rate(999), "999 B/s");
  EXPECT_EQ(format_rate(999.7), "1.0 KB/s");
  EXPECT_EQ(format_rate(1234.5), "1.2 KB/s");
  EXPECT_EQ(format_rate(2'000'000), "2.0 MB/s");
  EXPECT_EQ(format_rate(999'960), "1.0 MB/s");  // would be "1000.0 KB/s"
  EXPECT_EQ(format_rate(1.5e9), "1.5 GB/s");
  EXPECT_EQ(format_rate(-1), "?");
}

// PROTOCOL.md 12: how a peer is reached, when the daemon says.
TEST(CtlFormat, PeerReachDirectRelayedOrConnecting) {
  json::object peer = up_peer();
  const std::string without = format_peer(peer, kNow);
  EXPECT_EQ(without.find("reach"), std::string::npos);
  peer["reach"] = object_of(R"({"kind":"direct","via":null})");
  std::string text = format_peer(peer, kNow);
  EXPECT_NE(text.find("  endpoint: udp4 127.0.0.1:42425\n  reach: direct\n"), std::string::npos)
      << text;
  // Nothing else moves.
  EXPECT_EQ(text, without.substr(0, without.find("  latest handshake")) + "  reach: direct\n" +
                      without.substr(without.find("  latest handshake")));
  peer["reach"] = object_of(R"({"kind":"relayed","via":"hub"})");
  EXPECT_NE(format_peer(peer, kNow).find("  reach: relayed via hub\n"), std::string::npos);
  peer["reach"] = object_of(R"({"kind":"connecting","via":"hub"})");
  EXPECT_NE(format_peer(peer, kNow).find("  reach: connecting via hub\n"), std::string::npos);
  // format_peers shows each block's reach.
  json::array peers{up_peer(), peer};
  const std::string blocks = format_peers(peers, kNow);
  EXPECT_EQ(blocks.find("reach: connecting via hub"), blocks.rfind("reach:"));
  EXPECT_NE(blocks.find("reach: connecting via hub"), std::string::npos);
  EXPECT_EQ(format_peers(json::array{up_peer()}, kNow), without);
}

TEST(CtlFormat, PeersTableHasAReachColumnOnlyWhenReported) {
  const json::array plain{up_peer()};
  const std::string before = format_peers_table(plain, kNow);
  EXPECT_EQ(before.find("REACH"), std::string::npos);
  json::object relayed = up_peer();
  relayed["name"] = "beta";
  relayed["reach"] = object_of(R"({"kind":"relayed","via":"hub"})");
  json::object direct = up_peer();
  direct["reach"] = object_of(R"({"kind":"direct","via":null})");
  EXPECT_EQ(format_peers_table(json::array{direct, relayed, up_peer()}, kNow),
            "NAME   HASHNAME      STATE  REACH            ENDPOINT              HANDSHAKE  RX   "
            "     TX        RTT\n"
            "alpha  b5jnzq3q7mgx  up     direct           udp4 127.0.0.1:42425  12 s ago   1.21 "
            "KiB  3.40 KiB  0.4 ms\n"
            "beta   b5jnzq3q7mgx  up     relayed via hub  udp4 127.0.0.1:42425  12 s ago   1.21 "
            "KiB  3.40 KiB  0.4 ms\n"
            "alpha  b5jnzq3q7mgx  up     -                udp4 127.0.0.1:42425  12 s ago   1.21 "
            "KiB  3.40 KiB  0.4 ms\n");
}

TEST(CtlFormat, PeerPathHistoryAndPunchState) {
  json::object peer = up_peer();
  peer["reach"] = object_of(R"({"kind":"direct","via":null})");
  peer["punch"] = object_of(R"({"state":"idle","last_failure":null,"next_attempt_in":null})");
  peer["path_history"] = json::parse(R"([
      {"at":1714564700,"from":null,"to":"relayed via hub","reason":"introduced by hub"},
      {"at":1714564791,"from":"relayed via hub","to":"direct udp4 10.0.0.2:4242",
       "reason":"punched in 0.4 s"}])");
  const std::string text = format_peer(peer, kNow);
  EXPECT_NE(text.find("  channels: 1\n"
                      "  punch: idle\n"
                      "  path history:\n"
                      "    1 min, 43 s ago: relayed via hub (introduced by hub)\n"
                      "    12 s ago: relayed via hub -> direct udp4 10.0.0.2:4242 (punched in "
                      "0.4 s)\n"),
            std::string::npos)
      << text;
  peer["punch"] = object_of(
      R"({"state":"failed","last_failure":"no answer from 2 addresses in 3.1 s",
          "next_attempt_in":56.2})");
  peer["path_history"] = json::array{};
  const std::string failed = format_peer(peer, kNow);
  EXPECT_NE(failed.find("  punch: failed; last failure: no answer from 2 addresses in 3.1 s; "
                        "next attempt in 57 s\n"),
            std::string::npos)
      << failed;
  EXPECT_EQ(failed.find("path history"), std::string::npos);  // nothing to show
  peer["punch"] = object_of(R"({"state":"punching","last_failure":null,"next_attempt_in":0})");
  EXPECT_NE(format_peer(peer, kNow).find("  punch: punching; next attempt in 0 s\n"),
            std::string::npos);
  // Absent: not a word of either.
  const std::string plain = format_peer(up_peer(), kNow);
  EXPECT_EQ(plain.find("punch"), std::string::npos);
  EXPECT_EQ(plain.find("path history"), std::string::npos);
  // Odd members do not throw.
  peer["punch"] = 5;
  peer["path_history"] = json::parse(R"([1, {"at":"x"}])");
  peer["reach"] = "direct";
  EXPECT_NO_THROW(format_peer(peer, kNow));
  EXPECT_NE(format_peer(peer, kNow).find("    ?: ?\n"), std::string::npos);
}

json::object routes_result() {
  return object_of(R"({
    "router":{"enable":true,"relay":true,"relay_rate":2000000,"relay_idle":120},
    "routes":[
      {"a":"alice","a_hashname":"b5jnzq3q7mgxv6mmy5ro4zvd2aa6g7hxkvunl7nsacpjwbjcmr4a",
       "b":"bob","b_hashname":"x7kq2m4ztbhvdz6fnlc3brswzx6ifiutmcyfgqzk6c2bvdz2i3ha",
       "introductions":3,"relayed_packets":120,"relayed_bytes":150000,"rate":1234.5,
       "dropped_rate_limited":0,"idle_seconds":4.2,"relaying":true},
      {"a":null,"a_hashname":"x7kq2m4ztbhvdz6fnlc3brswzx6ifiutmcyfgqzk6c2bvdz2i3ha",
       "b":"carol","b_hashname":"b5jnzq3q7mgxv6mmy5ro4zvd2aa6g7hxkvunl7nsacpjwbjcmr4a",
       "introductions":1,"relayed_packets":0,"relayed_bytes":0,"rate":0,
       "dropped_rate_limited":17,"idle_seconds":95,"relaying":false}]})");
}

TEST(CtlFormat, Routes) {
  EXPECT_EQ(format_routes(routes_result()),
            "router on: relays up to 2.0 MB/s per pair, routes expire after 2 min idle\n"
            "A             B      INTRODUCTIONS  RELAYED                  RATE      DROPPED  IDLE "
            "        STATE\n"
            "alice         bob    3              120 packets, 146.48 KiB  1.2 KB/s  0        4 s "
            "         relaying\n"
            "x7kq2m4ztbhv  carol  1              0 packets, 0 B           0 B/s     17       1 "
            "min, 35 s  introduced\n");
  json::object none = routes_result();
  none["routes"] = json::array{};
  EXPECT_EQ(format_routes(none),
            "router on: relays up to 2.0 MB/s per pair, routes expire after 2 min idle\n"
            "no routes\n");
  none["router"].as_object()["relay"] = false;
  none["router"].as_object()["relay_idle"] = 30;
  EXPECT_EQ(format_routes(none),
            "router on: introductions only, no relaying, routes expire after 30 s idle\n"
            "no routes\n");
  none["router"].as_object()["enable"] = false;
  EXPECT_EQ(format_routes(none), "router off\n");
  // Turned off by a reload while routes were still there: they are listed under it.
  json::object off = routes_result();
  off["router"].as_object()["enable"] = false;
  const std::string text = format_routes(off);
  EXPECT_EQ(text.substr(0, 11), "router off\n");
  EXPECT_NE(text.find("\nalice "), std::string::npos);
  EXPECT_NO_THROW(format_routes(json::object{}));
  EXPECT_EQ(format_routes(json::object{}), "router off\n");
  EXPECT_NO_THROW(format_routes(object_of(R"({"router":1,"routes":[1,{"a":2}]})")));
}

}  // namespace
}  // namespace e3x::control
