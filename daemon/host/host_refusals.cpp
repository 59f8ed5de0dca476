// Senders the daemon refuses (issue 15, "who is knocking"): a handshake from a hashname that
// is no configured peer, and packets that do not open with our key. Each is logged with its
// source address and a hint, at most once per source address per minute (refusal_log.hpp).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/base32.hpp"
#include "daemon/host/host.hpp"

namespace e3x::daemon {

namespace {

// The steady clock as an Instant. Not Host::now(): these run inside the core's handling of a
// packet, and now() would re-anchor the core's Unix time from within it.
Instant steady_now() {
  return Instant(
      std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
}

}  // namespace

// The rate-limiting key of a path: its IP address alone, since a sender's port changes with
// every NAT mapping or TCP connection.
std::string Host::refusal_source(PathId path) const {
  const net::PathAddress* address = network_->address_of(path);
  return address ? address->ip.to_string() : path_text(path);
}

void Host::on_refused_sender(PathId path, const Hashname& sender, const PublicKey& key) {
  // Hashname and key are both 52 base32 characters, and people paste the hashname where the
  // key belongs: that key is then 32 bytes no real key has, so the peer's true handshakes
  // land here, from a hashname equal to the bytes configured as its key.
  for (const auto& [hashname, runtime] : runtimes_) {
    const auto& configured = runtime->config.key;
    if (!configured || !std::equal(configured->begin(), configured->end(), sender.digest.begin(),
                                   sender.digest.end())) {
      continue;
    }
    if (key_is_hashname_told_.insert(runtime->config.name).second) {
      spdlog::warn("peer {}: the configured key is this sender's hashname; use its key: {}",
                   runtime->config.name, base32_encode(key));
    }
  }
  if (!refusal_log_.should_log(refusal_source(path), steady_now())) return;
  spdlog::info(
      "refused a handshake from {} (hashname {}): not in [[peer]]; to let it in, add a "
      "[[peer]] with key = \"{}\"",
      path_text(path), sender.to_string(), base32_encode(key));
}

void Host::on_unauthenticated(PathId path) {
  if (!refusal_log_.should_log(refusal_source(path), steady_now())) return;
  spdlog::info(
      "refused a packet from {}: it does not open with our key, or its authentication fails; "
      "if this is a peer, its [[peer]] key for us must be our key {} (not our hashname {})",
      path_text(path), base32_encode(identity_.public_key), endpoint_->hashname().to_string());
}

}  // namespace e3x::daemon
