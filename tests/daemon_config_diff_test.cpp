// Reload planning: which peers a changed config adds, removes, changes or leaves alone, and
// which settings need a restart.
#include <gtest/gtest.h>

#include "core/base32.hpp"
#include "core/cs3a.hpp"
#include "core/random.hpp"
#include "daemon/host/config_diff.hpp"

namespace e3x::daemon {
namespace {

config::PeerConfig peer(const std::string& name, std::uint64_t seed) {
  SeededRandom random(seed);
  const KeyPair keys = generate_keypair(random);
  config::PeerConfig out;
  out.name = name;
  out.key = keys.public_key;
  out.hashname = hashname_of(keys.public_key);
  return out;
}

config::PeerEndpoint udp(const std::string& host) {
  return config::PeerEndpoint{config::TransportKind::kUdp, host, 42424, "udp://" + host + ":42424"};
}

using Names = std::vector<std::string>;

TEST(ConfigDiff, SortsPeersIntoAddedRemovedChangedAndUnchanged) {
  config::Config running;
  running.peers = {peer("alpha", 1), peer("beta", 2), peer("gamma", 3), peer("delta", 4)};
  config::Config next = running;
  next.peers.erase(next.peers.begin() + 1);      // beta removed
  next.peers[1].endpoints = {udp("192.0.2.7")};  // gamma changed (endpoints)
  next.peers[2] = peer("delta", 5);              // delta: same name, another key
  next.peers.push_back(peer("epsilon", 6));      // added
  const ConfigDiff diff = diff_config(running, next);
  EXPECT_EQ(diff.added, Names{"epsilon"});
  EXPECT_EQ(diff.removed, Names{"beta"});
  EXPECT_EQ(diff.changed, Names{"gamma"});
  EXPECT_EQ(diff.rekeyed, Names{"delta"});
  EXPECT_EQ(diff.unchanged, Names{"alpha"});
  EXPECT_TRUE(diff.restart_required.empty());
}

TEST(ConfigDiff, KeepaliveChangesReachOnlyPeersWithoutTheirOwn) {
  config::Config running;
  running.peers = {peer("own", 1), peer("inherits", 2)};
  running.peers[0].keepalive_s = 10;
  config::Config next = running;
  next.udp.keepalive_s = 5;
  const ConfigDiff diff = diff_config(running, next);
  EXPECT_EQ(diff.changed, Names{"inherits"});
  EXPECT_EQ(diff.unchanged, Names{"own"});
  next.peers[0].keepalive_s = 11;
  EXPECT_EQ(diff_config(running, next).changed, (Names{"own", "inherits"}));
}

TEST(ConfigDiff, StartupBoundSettingsNeedARestartAndLiveOnesDoNot) {
  config::Config running;
  running.udp.listen = {{"127.0.0.1", 42424}};
  config::Config next = running;
  next.udp.listen = {{"127.0.0.1", 42425}};
  next.tcp.cloak = !running.tcp.cloak;
  next.control_socket = "/elsewhere.sock";
  next.identity = "/other/identity.json";
  next.log_level = config::LogLevel::kDebug;
  next.accept = config::Accept::kAny;
  const ConfigDiff diff = diff_config(running, next);
  EXPECT_EQ(diff.restart_required,
            (Names{"identity", "control_socket", "udp.listen", "tcp.cloak"}));
  EXPECT_TRUE(diff.log_level_changed);
  EXPECT_TRUE(diff.accept_changed);
  EXPECT_TRUE(diff_config(running, running).restart_required.empty());
  // Limits the sockets and the endpoint take at start-up (issue 10).
  config::Config limits = running;
  limits.tcp.unauthenticated_limit = 4;
  limits.messages.max_expiry_s = 3600;
  EXPECT_EQ(diff_config(running, limits).restart_required,
            (Names{"tcp.unauthenticated_limit", "messages.max_expiry"}));
  // The metrics server binds at start-up too.
  config::Config metrics = running;
  metrics.metrics.listen = config::ListenAddress{"127.0.0.1", 9425};
  EXPECT_EQ(diff_config(running, metrics).restart_required, (Names{"metrics.listen"}));
  // Exchanges take their congestion control from the endpoint, made at start-up (the default
  // is BBR: any other one is a change).
  config::Config streams = running;
  streams.streams.congestion = CongestionAlgorithm::kNewReno;
  EXPECT_EQ(diff_config(running, streams).restart_required, (Names{"streams.congestion"}));
}

TEST(ConfigDiff, EverySettingAppliedLiveIsListedWithItsOldAndNewValue) {
  config::Config running;
  EXPECT_TRUE(diff_config(running, running).applied.empty());
  config::Config next = running;
  next.log_level = config::LogLevel::kDebug;
  next.accept = config::Accept::kAny;
  next.udp.keepalive_s = 10;
  next.tcp.keepalive_s = 0;
  next.messages.max_payload = 1000;
  next.messages.expiry_s = 3600;
  next.messages.store_quota = 1 << 20;
  next.messages.peer_quota = 1 << 19;
  next.services.push_back(config::ServiceConfig{"ssh", {}, {"alpha"}, 3});
  next.forwards.push_back(config::ForwardConfig{{}, "alpha", "ssh", 9});
  EXPECT_EQ(
      diff_config(running, next).applied,
      (Names{"log_level: info -> debug", "accept: peers -> any", "udp.keepalive: 25 -> 10",
             "tcp.keepalive: 300 -> 0", "messages.max_payload: 61440 -> 1000",
             "messages.expiry: 604800 -> 3600", "messages.store_quota: 268435456 -> 1048576",
             "messages.peer_quota: 67108864 -> 524288", "services: changed", "forwards: changed"}));
  // Those bound at start-up are not among them: they wait for a restart.
  config::Config bound = running;
  bound.udp.listen = {{"127.0.0.1", 1}};
  EXPECT_TRUE(diff_config(running, bound).applied.empty());
}

// A peer's routers (PROTOCOL.md 12) change like its endpoints: the peer is "changed", which
// keeps its exchange, never "rekeyed"; nothing needs a restart.
TEST(ConfigDiff, APeerWhoseOnlyChangeIsViaIsChangedAndKeepsItsExchange) {
  config::Config running;
  running.peers = {peer("alice", 1), peer("hub", 2), peer("hub2", 3)};
  config::Config next = running;
  next.peers[0].via = {"hub"};
  ConfigDiff diff = diff_config(running, next);
  EXPECT_EQ(diff.changed, Names{"alice"});
  EXPECT_TRUE(diff.rekeyed.empty());
  EXPECT_TRUE(diff.added.empty());
  EXPECT_TRUE(diff.removed.empty());
  EXPECT_EQ(diff.unchanged, (Names{"hub", "hub2"}));
  EXPECT_TRUE(diff.restart_required.empty());
  EXPECT_TRUE(diff.applied.empty());
  // Another order is another preference: a change too.
  running.peers[0].via = {"hub", "hub2"};
  next.peers[0].via = {"hub2", "hub"};
  EXPECT_EQ(diff_config(running, next).changed, Names{"alice"});
  next.peers[0].via = running.peers[0].via;
  EXPECT_EQ(diff_config(running, next).changed, Names{});
}

TEST(ConfigDiff, RouterSettingsApplyLiveWithTheirOldAndNewValues) {
  config::Config running;
  running.peers = {peer("alice", 1)};
  config::Config next = running;
  next.router.enable = true;
  next.router.allow = {"alice"};
  next.router.relay = false;
  next.router.relay_rate = 1'000'000;
  next.router.relay_idle_s = 30;
  const ConfigDiff diff = diff_config(running, next);
  EXPECT_EQ(
      diff.applied,
      (Names{"router.enable: false -> true", "router.allow: changed", "router.relay: true -> false",
             "router.relay_rate: 2000000 -> 1000000", "router.relay_idle: 120 -> 30"}));
  EXPECT_TRUE(diff.restart_required.empty());
  // Peers are not disturbed by the router's settings.
  EXPECT_EQ(diff.unchanged, Names{"alice"});
  // "peers" for every configured peer is a change of allow too.
  config::Config all = running;
  all.router.allow_all_peers = true;
  EXPECT_EQ(diff_config(running, all).applied, Names{"router.allow: changed"});
  EXPECT_TRUE(diff_config(next, next).applied.empty());
}

// [mailbox] and [messages] deposit_after (PROTOCOL.md 14) apply live, like [router].
TEST(ConfigDiff, MailboxSettingsApplyLiveWithTheirOldAndNewValues) {
  config::Config running;
  running.peers = {peer("alice", 1), peer("bob", 2)};
  config::Config next = running;
  next.messages.deposit_after_s = 0;
  next.mailbox.enable = true;
  next.mailbox.allow = {"alice", "bob"};
  next.mailbox.quota_per_recipient = 1 << 20;
  next.mailbox.quota_per_sender = 1 << 17;
  next.mailbox.max_age_s = 3600;
  const ConfigDiff diff = diff_config(running, next);
  EXPECT_EQ(
      diff.applied,
      (Names{"messages.deposit_after: 30 -> 0", "mailbox.enable: false -> true",
             "mailbox.allow: changed", "mailbox.quota_per_recipient: 67108864 -> 1048576",
             "mailbox.quota_per_sender: 16777216 -> 131072", "mailbox.max_age: 604800 -> 3600"}));
  EXPECT_TRUE(diff.restart_required.empty());
  EXPECT_EQ(diff.unchanged, (Names{"alice", "bob"}));
  EXPECT_TRUE(diff.changed.empty());
  // "peers" for every configured peer is a change of allow too.
  config::Config all = running;
  all.mailbox.allow_all_peers = true;
  EXPECT_EQ(diff_config(running, all).applied, Names{"mailbox.allow: changed"});
  EXPECT_TRUE(diff_config(next, next).applied.empty());
}

// A peer's mailboxes change like its routers: the peer is "changed" and keeps its exchange.
TEST(ConfigDiff, APeerWhoseOnlyChangeIsMailboxIsChangedAndKeepsItsExchange) {
  config::Config running;
  running.peers = {peer("bob", 1), peer("hub", 2), peer("hub2", 3)};
  config::Config next = running;
  next.peers[0].mailbox = {"hub"};
  ConfigDiff diff = diff_config(running, next);
  EXPECT_EQ(diff.changed, Names{"bob"});
  EXPECT_TRUE(diff.rekeyed.empty());
  EXPECT_TRUE(diff.added.empty());
  EXPECT_TRUE(diff.removed.empty());
  EXPECT_EQ(diff.unchanged, (Names{"hub", "hub2"}));
  EXPECT_TRUE(diff.restart_required.empty());
  EXPECT_TRUE(diff.applied.empty());
  // Another order is another preference: a change too.
  running.peers[0].mailbox = {"hub", "hub2"};
  next.peers[0].mailbox = {"hub2", "hub"};
  EXPECT_EQ(diff_config(running, next).changed, Names{"bob"});
  next.peers[0].mailbox = running.peers[0].mailbox;
  EXPECT_EQ(diff_config(running, next).changed, Names{});
}

}  // namespace
}  // namespace e3x::daemon
