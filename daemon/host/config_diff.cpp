#include "daemon/host/config_diff.hpp"

#include <concepts>
#include <cstdint>
#include <map>
#include <string>

namespace e3x::daemon {

namespace {

std::string text(config::LogLevel level) {
  return config::to_string(level);
}
std::string text(config::Accept accept) {
  return accept == config::Accept::kAny ? "any" : "peers";
}
std::string text(std::uint64_t number) {
  return std::to_string(number);
}
// Only a bool itself: other integers stay numbers.
template <typename Flag>
requires std::same_as<Flag, bool> std::string text(Flag flag) {
  return flag ? "true" : "false";
}

}  // namespace

ConfigDiff diff_config(const config::Config& running, const config::Config& next) {
  ConfigDiff diff;
  // Settings bound at start-up: the identity, files, sockets and what they listen on.
  auto needs_restart = [&](bool differs, const char* key) {
    if (differs) diff.restart_required.emplace_back(key);
  };
  needs_restart(running.identity != next.identity, "identity");
  needs_restart(running.state_dir != next.state_dir, "state_dir");
  needs_restart(running.control_socket != next.control_socket, "control_socket");
  needs_restart(running.udp.listen != next.udp.listen, "udp.listen");
  needs_restart(running.udp.cloak != next.udp.cloak, "udp.cloak");
  needs_restart(running.tcp.listen != next.tcp.listen, "tcp.listen");
  needs_restart(running.tcp.cloak != next.tcp.cloak, "tcp.cloak");
  needs_restart(running.tcp.unauthenticated_limit != next.tcp.unauthenticated_limit,
                "tcp.unauthenticated_limit");
  needs_restart(running.messages.max_expiry_s != next.messages.max_expiry_s, "messages.max_expiry");
  needs_restart(running.streams.congestion != next.streams.congestion, "streams.congestion");
  needs_restart(running.metrics.listen != next.metrics.listen, "metrics.listen");
  diff.log_level_changed = running.log_level != next.log_level;
  diff.accept_changed = running.accept != next.accept;

  // Settings that apply live, in the order of the file's sections.
  const auto applied = [&](const char* key, const auto& old_value, const auto& new_value) {
    if (old_value == new_value) return;
    diff.applied.push_back(std::string(key) + ": " + text(old_value) + " -> " + text(new_value));
  };
  applied("log_level", running.log_level, next.log_level);
  applied("accept", running.accept, next.accept);
  applied("udp.keepalive", running.udp.keepalive_s, next.udp.keepalive_s);
  applied("tcp.keepalive", running.tcp.keepalive_s, next.tcp.keepalive_s);
  applied("messages.max_payload", running.messages.max_payload, next.messages.max_payload);
  applied("messages.expiry", running.messages.expiry_s, next.messages.expiry_s);
  applied("messages.store_quota", running.messages.store_quota, next.messages.store_quota);
  applied("messages.peer_quota", running.messages.peer_quota, next.messages.peer_quota);
  applied("messages.deposit_after", running.messages.deposit_after_s,
          next.messages.deposit_after_s);
  applied("router.enable", running.router.enable, next.router.enable);
  if (running.router.allow_all_peers != next.router.allow_all_peers ||
      running.router.allow != next.router.allow) {
    diff.applied.emplace_back("router.allow: changed");
  }
  applied("router.relay", running.router.relay, next.router.relay);
  applied("router.relay_rate", running.router.relay_rate, next.router.relay_rate);
  applied("router.relay_idle", running.router.relay_idle_s, next.router.relay_idle_s);
  // [mailbox] (PROTOCOL.md 14): the held mail stays; the new limits apply to what comes next
  // and to the next expiry sweep.
  applied("mailbox.enable", running.mailbox.enable, next.mailbox.enable);
  if (running.mailbox.allow_all_peers != next.mailbox.allow_all_peers ||
      running.mailbox.allow != next.mailbox.allow) {
    diff.applied.emplace_back("mailbox.allow: changed");
  }
  applied("mailbox.quota_per_recipient", running.mailbox.quota_per_recipient,
          next.mailbox.quota_per_recipient);
  applied("mailbox.quota_per_sender", running.mailbox.quota_per_sender,
          next.mailbox.quota_per_sender);
  applied("mailbox.max_age", running.mailbox.max_age_s, next.mailbox.max_age_s);
  if (running.services != next.services) diff.applied.emplace_back("services: changed");
  if (running.forwards != next.forwards) diff.applied.emplace_back("forwards: changed");

  // Transport keepalives apply to every peer without an override of its own.
  const bool keepalive_defaults_changed = running.udp.keepalive_s != next.udp.keepalive_s ||
                                          running.tcp.keepalive_s != next.tcp.keepalive_s;

  std::map<std::string, const config::PeerConfig*> old_by_name;
  for (const auto& peer : running.peers) old_by_name[peer.name] = &peer;
  for (const auto& peer : next.peers) {
    auto found = old_by_name.find(peer.name);
    if (found == old_by_name.end()) {
      diff.added.push_back(peer.name);
      continue;
    }
    const config::PeerConfig& old = *found->second;
    old_by_name.erase(found);
    if (old.hashname != peer.hashname || old.key != peer.key) {
      diff.rekeyed.push_back(peer.name);
    } else if (old.endpoints != peer.endpoints || old.keepalive_s != peer.keepalive_s ||
               old.via != peer.via || old.mailbox != peer.mailbox ||
               (keepalive_defaults_changed && !peer.keepalive_s)) {
      // Its exchange stays up: other routers only matter when it has to be found again, other
      // mailboxes when a message for it is next deposited.
      diff.changed.push_back(peer.name);
    } else {
      diff.unchanged.push_back(peer.name);
    }
  }
  for (const auto& [name, peer] : old_by_name) diff.removed.push_back(name);
  return diff;
}

}  // namespace e3x::daemon
