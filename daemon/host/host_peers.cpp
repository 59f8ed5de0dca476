// The host's configured peers: adding and removing them, resolving their endpoints,
// connecting with exponential backoff and jitter, and the keepalive interval that fits their
// current path.
#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <set>

#include "daemon/host/host.hpp"

namespace e3x::daemon {

namespace asio = boost::asio;

namespace {

net::PathKind path_kind(config::TransportKind kind) {
  return kind == config::TransportKind::kTcp ? net::PathKind::kTcp : net::PathKind::kUdp;
}

}  // namespace

std::optional<std::string> Host::add_configured_peer(const config::PeerConfig& peer) {
  auto runtime = std::make_unique<PeerRuntime>();
  runtime->config = peer;
  runtime->backoff = kReconnectBackoffFirst;
  if (peer.endpoints.empty()) runtime->down_reason = "waiting for the peer to connect";
  const PeerOptions options{keepalive_for(runtime.get(), kNoPath)};
  auto added = peer.key ? endpoint_->add_peer(*peer.key, options)
                        : endpoint_->add_peer(peer.hashname, options);
  if (!added) {
    if (added.error() == EndpointError::kPeerIsSelf) return "this is our own key";
    return std::string(to_string(added.error()));
  }
  names_[peer.name] = *added;
  runtimes_[*added] = std::move(runtime);
  return std::nullopt;
}

void Host::remove_configured_peer(const std::string& name) {
  auto found = names_.find(name);
  if (found == names_.end()) return;
  const Hashname hashname = found->second;
  endpoint_->remove_peer(now(), hashname);  // ExchangeDown{removed} is logged as it drains
  drive();
  names_.erase(found);
  runtimes_.erase(hashname);
  routing_->forget_peer(hashname);
  std::erase_if(channel_owners_, [&](const auto& owned) { return owned.first.first == hashname; });
  for (auto& module : modules_) module->peer_removed(hashname);
}

// Peers with endpoints and no exchange get a handshake when their backoff has run out.
void Host::connect_due_peers() {
  const Instant at = now();
  for (auto& [hashname, runtime] : runtimes_) {
    PeerRuntime& peer = *runtime;
    if (peer.config.endpoints.empty()) continue;
    const auto status = endpoint_->peer_status(hashname);
    const bool idle = status && status->state == ExchangeState::kNone;
    if (!idle || (peer.next_attempt && *peer.next_attempt > at)) continue;
    if (peer.resolve_needed && peer.resolves_in_flight == 0) resolve_endpoints(peer);
    attempt_connect(peer);
  }
}

// Numeric endpoints map straight to paths; host names go through the resolver (on Asio's
// resolver thread; the handler runs on ours). Both families are used when a name has both.
void Host::resolve_endpoints(PeerRuntime& peer) {
  peer.resolve_needed = false;
  std::erase_if(peer.resolve_errors, [&peer](const auto& error) {
    return std::none_of(peer.config.endpoints.begin(), peer.config.endpoints.end(),
                        [&error](const auto& endpoint) { return endpoint.text == error.first; });
  });
  peer.endpoint_paths.clear();
  const Hashname hashname = peer.config.hashname;
  for (const auto& endpoint : peer.config.endpoints) {
    boost::system::error_code numeric_error;
    const auto ip = asio::ip::make_address(endpoint.host, numeric_error);
    if (!numeric_error) {
      peer.resolve_errors.erase(endpoint.text);
      peer.endpoint_paths.push_back(
          network_->path_for(net::PathAddress{path_kind(endpoint.transport), ip, endpoint.port}));
      continue;
    }
    peer.resolves_in_flight += 1;
    resolver_.async_resolve(
        endpoint.host, std::to_string(endpoint.port),
        [this, hashname, endpoint](const boost::system::error_code& error,
                                   asio::ip::tcp::resolver::results_type results) {
          PeerRuntime* runtime = runtime_of(hashname);
          if (stopping_ || !runtime) return;
          runtime->resolves_in_flight -= 1;
          if (error) {
            runtime->resolve_errors[endpoint.text] = error.message();
            runtime->resolve_needed = true;  // try again at the next attempt
            spdlog::warn("peer {}: cannot resolve {}: {}", runtime->config.name, endpoint.text,
                         error.message());
            // Nowhere to send: the attempt failed as surely as an unanswered handshake.
            const auto status = endpoint_->peer_status(hashname);
            if (runtime->endpoint_paths.empty() && runtime->resolves_in_flight == 0 && status &&
                status->state == ExchangeState::kNone) {
              schedule_retry(*runtime, now());
            }
            return;
          }
          runtime->resolve_errors.erase(endpoint.text);
          std::set<bool> families_seen;  // one address per family
          for (const auto& result : results) {
            const auto address = result.endpoint().address();
            if (!families_seen.insert(address.is_v4()).second) continue;
            const PathId path = network_->path_for(
                net::PathAddress{path_kind(endpoint.transport), address, endpoint.port});
            runtime->endpoint_paths.push_back(path);
            spdlog::debug("peer {}: {} is {}", runtime->config.name, endpoint.text,
                          path_text(path));
            // Join an attempt that is under way; an idle peer waits for its next attempt.
            const auto status = endpoint_->peer_status(hashname);
            if (status && status->state == ExchangeState::kConnecting) {
              (void)endpoint_->connect(now(), hashname, path);
            }
          }
          drive();
        });
  }
}

void Host::attempt_connect(PeerRuntime& peer) {
  peer.next_attempt.reset();  // until this attempt times out (on_exchange_down)
  const Instant at = now();
  if (!peer.attempt_started) peer.attempt_started = at;
  for (const PathId path : peer.endpoint_paths) {
    auto sent = endpoint_->connect(at, peer.config.hashname, path);
    if (!sent) {
      spdlog::debug("peer {}: cannot connect on {}: {}", peer.config.name, path_text(path),
                    to_string(sent.error()));
    }
  }
  if (!peer.endpoint_paths.empty()) {
    spdlog::debug("peer {}: handshaking on {} endpoint(s)", peer.config.name,
                  peer.endpoint_paths.size());
  } else if (peer.resolves_in_flight == 0) {
    // Nowhere to send (every name failed to resolve): wait as if a handshake had failed.
    schedule_retry(peer, at);
  }
}

void Host::connect_now(const Hashname& hashname) {
  PeerRuntime* peer = runtime_of(hashname);
  if (!peer) return;
  peer->backoff = kReconnectBackoffFirst;
  peer->next_attempt.reset();
  const auto status = endpoint_->peer_status(hashname);
  if (!peer->config.endpoints.empty() && status && status->state == ExchangeState::kNone) {
    if (peer->resolve_needed && peer->resolves_in_flight == 0) resolve_endpoints(*peer);
    attempt_connect(*peer);
  }
}

// Exponential backoff with +-20% jitter, so peers that failed together do not retry in step.
void Host::schedule_retry(PeerRuntime& peer, Instant at) {
  const double jitter = 0.8 + 0.4 * (random_.uniform(1001) / 1000.0);
  const auto delay = std::chrono::duration_cast<Duration>(peer.backoff * jitter);
  peer.next_attempt = at + delay;
  peer.backoff = std::min(peer.backoff * 2, kReconnectBackoffMax);
}

Duration Host::keepalive_for(const PeerRuntime* peer, PathId path) const {
  if (peer && peer->config.keepalive_s) return seconds(*peer->config.keepalive_s);
  bool tcp = false;
  if (const net::PathAddress* address = path == kNoPath ? nullptr : network_->address_of(path)) {
    tcp = address->kind == net::PathKind::kTcp;
  } else if (peer && !peer->config.endpoints.empty()) {
    tcp = peer->config.endpoints.front().transport == config::TransportKind::kTcp;
  }
  return seconds(tcp ? config_.tcp.keepalive_s : config_.udp.keepalive_s);
}

// The keepalive interval depends on the path's transport (PROTOCOL.md 9: 25 s UDP, 300 s
// TCP), so it is set again whenever the path may have changed.
void Host::apply_keepalive(const Hashname& hashname) {
  const auto status = endpoint_->peer_status(hashname);
  if (!status) return;
  const Duration wanted = keepalive_for(find_runtime(hashname), status->path);
  if (wanted != status->keepalive) (void)endpoint_->set_peer_options(hashname, {wanted});
}

PeerRuntime* Host::runtime_of(const Hashname& hashname) {
  auto found = runtimes_.find(hashname);
  return found == runtimes_.end() ? nullptr : found->second.get();
}

const PeerRuntime* Host::find_runtime(const Hashname& hashname) const {
  auto found = runtimes_.find(hashname);
  return found == runtimes_.end() ? nullptr : found->second.get();
}

std::optional<Hashname> Host::lookup_peer(const std::string& name_or_hashname) const {
  if (auto found = names_.find(name_or_hashname); found != names_.end()) return found->second;
  if (auto hashname = Hashname::parse(name_or_hashname)) {
    if (endpoint_->peer_status(*hashname)) return *hashname;
  }
  return std::nullopt;
}

// "alpha" for a configured peer, the first 12 characters of the hashname otherwise.
std::string Host::peer_label(const Hashname& hashname) const {
  if (const PeerRuntime* peer = find_runtime(hashname)) return peer->config.name;
  return hashname.to_string().substr(0, 12) + "…";
}

std::string Host::path_text(PathId path) const {
  if (auto relay = routing_ ? routing_->relay_path_info(path) : std::nullopt) {
    return "relayed via " + peer_label(relay->router);
  }
  const net::PathAddress* address = network_->address_of(path);
  return address ? net::to_string(*address) : "(no path)";
}

std::string Host::endpoint_url(PathId path) const {
  const net::PathAddress* address = network_->address_of(path);
  if (!address) return "(no path)";
  const std::string ip = address->ip.to_string();
  return std::string(address->kind == net::PathKind::kTcp ? "tcp://" : "udp://") +
         (address->ip.is_v6() ? "[" + ip + "]" : ip) + ":" + std::to_string(address->port);
}

boost::json::object Host::path_object(PathId path) const {
  // A relay path is telehash's `peer` path type (path.md): the router's hashname.
  if (auto relay = routing_ ? routing_->relay_path_info(path) : std::nullopt) {
    return boost::json::object{{"type", "peer"}, {"hn", relay->router.to_string()}};
  }
  const net::PathAddress* address = network_->address_of(path);
  if (!address) return {};
  return boost::json::object{
      {"type", net::path_type(*address)}, {"ip", address->ip.to_string()}, {"port", address->port}};
}

}  // namespace e3x::daemon
