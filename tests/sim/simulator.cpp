#include "sim/simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

namespace e3x::sim {

namespace {

// Guards against a core whose next_timeout() never moves past now.
constexpr std::uint64_t kMaxStepsAtOneInstant = 200000;

std::string seed_message(std::uint64_t seed) {
  return "simulation seed " + std::to_string(seed) + " (replay with " + kSeedVariable + "=" +
         std::to_string(seed) + ")";
}

}  // namespace

// ---- Host ----

PathId Host::path_for(Address address) {
  auto it = paths_.find(address);
  if (it != paths_.end()) return it->second;
  const PathId path = next_path_++;
  paths_[address] = path;
  addresses_[path] = address;
  return path;
}

std::optional<Address> Host::address_of(PathId path) const {
  auto it = addresses_.find(path);
  if (it == addresses_.end()) return std::nullopt;
  return it->second;
}

std::optional<PathId> Host::known_path(Address address) const {
  auto it = paths_.find(address);
  if (it == paths_.end()) return std::nullopt;
  return it->second;
}

// ---- Simulator ----

Simulator::Simulator(std::uint64_t seed, Instant start)
    : seed_(seed),
      trace_(__FILE__, __LINE__, seed_message(seed)),
      start_(start),
      now_(start),
      network_(derive_seed(seed, 0)),
      key_random_(derive_seed(seed, 1)) {}

Simulator::~Simulator() = default;

Host& Simulator::add_host(HostOptions options) {
  auto host = std::unique_ptr<Host>(new Host());
  const HostId id = hosts_.size();
  host->id_ = id;
  // Appended, not "h" + std::to_string(id): GCC 12 at -O3 reports a false -Wrestrict when a
  // literal is inserted in front of a temporary string.
  host->name_ = options.name;
  if (host->name_.empty()) host->name_.append("h").append(std::to_string(id));
  host->identity_ = generate_keypair(key_random_);
  host->unix_offset_ = options.unix_offset;
  const auto octet = static_cast<std::uint8_t>(id + 1);
  const Address address = options.address.value_or(options.nat ? ipv4(192, 168, 0, octet, 4000)
                                                               : ipv4(10, 0, 0, octet, 4000));
  const NodeId node = network_.add_node(address, options.nat);
  if (node != id) throw std::logic_error("host and node numbering diverged");
  accept_[id] = options.accept;
  pending_limits_[id] = options.pending_limit;
  congestion_[id] = options.congestion;
  hosts_.push_back(std::move(host));
  Host& added = *hosts_.back();
  make_endpoint(added, options.seq_floor, options.pending_limit, options.accept);
  return added;
}

Host* Simulator::find_host(const Hashname& hashname) {
  for (auto& host : hosts_) {
    if (host->hashname() == hashname) return host.get();
  }
  return nullptr;
}

NatId Simulator::add_nat(Duration idle_timeout, bool refresh_on_inbound) {
  NatOptions options;
  options.idle_timeout = idle_timeout;
  options.refresh_on_inbound = refresh_on_inbound;
  return add_nat(options);
}

NatId Simulator::add_nat(NatOptions options) {
  // Each NAT gets its own public address in 203.0.113.0/24 (TEST-NET-3), in creation order.
  const auto index = static_cast<std::uint8_t>(10 + nat_count_++);
  options.public_ip = ipv4(203, 0, 113, index, 0).ip;
  return network_.add_nat(options);
}

Routing& Simulator::enable_routing(Host& host, RoutingConfig config) {
  if (!config.describe_path) {
    config.describe_path = [&host](PathId path) {
      boost::json::array paths;
      if (auto address = host.address_of(path)) {
        const std::string text = address->to_string();
        const auto colon = text.rfind(':');
        paths.push_back(boost::json::object{
            {"type", "udp4"}, {"ip", text.substr(0, colon)}, {"port", address->port}});
      }
      return paths;
    };
  }
  if (!config.path_from_description) {
    config.path_from_description = [&host](const boost::json::object& entry) -> PathId {
      const auto* type = entry.if_contains("type");
      const auto* ip = entry.if_contains("ip");
      const auto* port = entry.if_contains("port");
      if (!type || !ip || !port || !type->is_string() || type->get_string() != "udp4" ||
          !ip->is_string() || !port->is_int64()) {
        return kNoPath;
      }
      unsigned a = 0, b = 0, c = 0, d = 0;
      if (std::sscanf(std::string(ip->get_string()).c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) != 4 ||
          a > 255 || b > 255 || c > 255 || d > 255 || port->get_int64() <= 0 ||
          port->get_int64() > 65535) {
        return kNoPath;
      }
      return host.path_for(ipv4(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b),
                                static_cast<std::uint8_t>(c), static_cast<std::uint8_t>(d),
                                static_cast<std::uint16_t>(port->get_int64())));
    };
  }
  host.routing_ = std::make_unique<Routing>(*host.endpoint_, std::move(config));
  return *host.routing_;
}

void Simulator::make_endpoint(Host& host, std::uint32_t seq_floor, std::size_t pending_limit,
                              AcceptPolicy accept, std::map<Hashname, PeerSeqMarks> seq_marks) {
  host.random_ =
      std::make_unique<SeededRandom>(derive_seed(seed_, 1000 + host.id_ * 1000 + host.generation_));
  Endpoint::Config config;
  config.identity = host.identity_;
  config.random = host.random_.get();
  config.seq_floor = seq_floor;
  config.pending_limit = pending_limit;
  config.accept = std::move(accept);
  config.congestion = congestion_[host.id_];
  if (!seq_marks.empty()) {
    config.seq_marks_of =
        [marks = std::move(seq_marks)](const Hashname& peer) -> std::optional<PeerSeqMarks> {
      auto found = marks.find(peer);
      if (found == marks.end()) return std::nullopt;
      return found->second;
    };
  }
  host.endpoint_ = std::make_unique<Endpoint>(std::move(config));
  host.endpoint_->set_unix_time(now_, unix_time(host));
}

Host& Simulator::restart(Host& host, RestartOptions options) {
  drain(host);
  host.routing_.reset();
  host.endpoint_.reset();
  ++host.generation_;
  host.unix_offset_ += options.unix_step;
  host.paths_.clear();
  host.addresses_.clear();
  make_endpoint(host, options.seq_floor, options.pending_limit.value_or(pending_limits_[host.id_]),
                accept_[host.id_], std::move(options.seq_marks));
  return host;
}

std::map<Hashname, PeerSeqMarks> seq_marks_of(const Host& host) {
  std::map<Hashname, PeerSeqMarks> marks;
  for (const Hashname& peer : host.endpoint().peers()) {
    if (auto status = host.endpoint().peer_status(peer)) {
      marks[peer] = PeerSeqMarks{status->seq_used, status->seq_seen};
    }
  }
  return marks;
}

std::int64_t Simulator::unix_time(const Host& host) const {
  return kStartUnixTime + std::chrono::duration_cast<seconds>(now_ - start_).count() +
         host.unix_offset_;
}

void Simulator::set_unix_time(Host& host, std::int64_t unix_seconds) {
  host.unix_offset_ += unix_seconds - unix_time(host);
  host.endpoint_->set_unix_time(now_, unix_seconds);
}

void Simulator::add_peer(Host& host, const Host& peer, PeerOptions options) {
  auto added = host.endpoint().add_peer(peer.public_key(), options);
  EXPECT_TRUE(added.has_value()) << host.name() << " add_peer(" << peer.name()
                                 << ") failed: " << to_string(added.error());
  if (added.has_value()) {
    EXPECT_EQ(added.value(), peer.hashname()) << "add_peer returned another hashname";
  }
  drain(host);
}

void Simulator::make_peers(Host& a, Host& b, PeerOptions options) {
  make_peers(a, options, b, options);
}

void Simulator::make_peers(Host& a, PeerOptions a_options, Host& b, PeerOptions b_options) {
  add_peer(a, b, a_options);
  add_peer(b, a, b_options);
}

std::optional<Address> Simulator::address_of(const Host& to) const {
  return network_.public_address(to.id(), now_);
}

PathId Simulator::path_to(Host& from, const Host& to) {
  auto address = address_of(to);
  if (!address) {
    ADD_FAILURE() << to.name() << " has no address reachable from " << from.name();
    return kNoPath;
  }
  return from.path_for(*address);
}

Result<Sent, EndpointError> Simulator::connect(Host& from, const Host& to) {
  auto result = from.endpoint().connect(now_, to.hashname(), path_to(from, to));
  drain(from);
  return result;
}

Result<Sent, EndpointError> Simulator::request_keepalive(Host& from, const Host& to) {
  auto result = from.endpoint().request_keepalive(now_, to.hashname());
  drain(from);
  return result;
}

std::uint32_t Simulator::open_channel(Host& from, const Host& to, std::string type, bool reliable,
                                      Bytes body, ChannelOptions options) {
  auto result = from.endpoint().open_channel(now_, to.hashname(), std::move(type), reliable, {},
                                             body, options);
  drain(from);
  if (!result.has_value()) {
    ADD_FAILURE() << from.name() << " open_channel to " << to.name()
                  << " failed: " << to_string(result.error());
    return 0;
  }
  return result.value();
}

Result<Sent, EndpointError> Simulator::send_channel(Host& from, const Host& to,
                                                    std::uint32_t channel, Bytes body, bool end) {
  auto result = from.endpoint().send_channel(now_, to.hashname(), channel, {}, body, end);
  drain(from);
  return result;
}

void Simulator::inject(Host& to, Address from, Bytes bytes, Duration delay) {
  network_.inject(now_ + delay, to.id(), from, std::move(bytes));
}

std::vector<SentRecord> Simulator::sent_by(
    const Host& host, const std::function<bool(const SentRecord&)>& match) const {
  std::vector<SentRecord> out;
  for (const SentRecord& record : network_.sent_log()) {
    if (record.from_node == host.id() && (!match || match(record))) out.push_back(record);
  }
  return out;
}

void Simulator::drain(Host& host) {
  for (;;) {
    bool any = false;
    for (;;) {
      std::optional<Transmit> transmit =
          host.routing_ ? host.routing_->poll_transmit(now_) : host.endpoint().poll_transmit();
      if (!transmit) break;
      any = true;
      ++host.datagrams_sent_;
      auto address = host.address_of(transmit->path);
      if (!address) {
        ADD_FAILURE() << host.name() << " transmitted on unknown path " << transmit->path;
        continue;
      }
      network_.send(now_, host.id(), *address, std::move(transmit->packet));
    }
    while (auto event = host.endpoint().poll_event()) {
      any = true;
      host.events_.push_back(LoggedEvent{now_, host.generation_, *event});
      if (host.routing_ && host.routing_->on_event(now_, *event)) continue;
      if (host.on_event) host.on_event(host, *event);
    }
    if (!any) return;
  }
}

void Simulator::drain_all() {
  for (auto& host : hosts_) drain(*host);
}

void Simulator::advance_to(Instant at) {
  if (at > now_) {
    now_ = at;
    steps_at_same_instant_ = 0;
  } else {
    ++steps_at_same_instant_;
  }
}

bool Simulator::step(Instant limit) {
  if (stuck_) return false;
  drain_all();
  const std::optional<Instant> net = network_.next_delivery();
  std::optional<Instant> timer;
  Host* timer_host = nullptr;
  for (auto& host : hosts_) {
    if (auto t = host->endpoint().next_timeout(); t && (!timer || *t < *timer)) {
      timer = t;
      timer_host = host.get();
    }
    if (!host->routing_) continue;
    if (auto t = host->routing_->next_timeout(); t && (!timer || *t < *timer)) {
      timer = t;
      timer_host = host.get();
    }
  }
  const bool deliver = net && (!timer || *net <= *timer);
  if (!deliver && !timer) return false;
  const Instant at = std::max(deliver ? *net : *timer, now_);
  if (at > limit) return false;
  advance_to(at);
  if (steps_at_same_instant_ > kMaxStepsAtOneInstant) {
    stuck_ = true;
    ADD_FAILURE() << "simulation stuck: " << steps_at_same_instant_ << " steps at "
                  << (now_ - start_).count() << " ns without time advancing"
                  << (deliver ? "" : " (an endpoint's next_timeout() stays at or before now)");
    return false;
  }
  ++steps_;
  if (deliver) {
    std::optional<Delivery> delivery = network_.pop_due(now_);
    Host& host = *hosts_.at(delivery->node);
    const PathId path = host.path_for(delivery->from);
    ++host.datagrams_received_;
    Routing::Decision decision{Routing::Decision::Kind::kDeliver, path};
    if (host.routing_) decision = host.routing_->on_datagram(now_, path, delivery->bytes);
    if (decision.kind == Routing::Decision::Kind::kDeliver) {
      host.endpoint().handle_datagram(now_, decision.path, delivery->bytes);
    } else if (decision.kind == Routing::Decision::Kind::kForward) {
      if (auto to = host.address_of(decision.path)) {
        ++host.datagrams_sent_;
        network_.send(now_, host.id(), *to, delivery->bytes);
      }
    }
    if (network_.capturing()) {
      host.received_.push_back(ReceivedRecord{now_, delivery->from, path, delivery->injected,
                                              std::move(delivery->bytes)});
    }
    drain(host);
  } else {
    timer_host->endpoint().handle_timeout(now_);
    if (timer_host->routing_) timer_host->routing_->handle_timeout(now_);
    drain(*timer_host);
  }
  return true;
}

bool Simulator::run_until(const std::function<bool()>& done, Duration timeout) {
  const Instant deadline = now_ + timeout;
  drain_all();
  while (!done()) {
    if (!step(deadline)) {
      if (done()) return true;
      if (!stuck_) now_ = std::max(now_, deadline);
      return false;
    }
  }
  return true;
}

void Simulator::run_for(Duration duration) {
  run_until_time(now_ + duration);
}

void Simulator::run_until_time(Instant at) {
  while (step(at)) {
  }
  if (!stuck_ && at > now_) now_ = at;
}

bool Simulator::in_sync(const Host& a, const Host& b) const {
  auto up = [](const Host& x, const Host& y) {
    auto status = x.endpoint().peer_status(y.hashname());
    return status && status->state == ExchangeState::kUp;
  };
  return up(a, b) && up(b, a);
}

bool Simulator::run_until_in_sync(Host& a, Host& b, Duration timeout) {
  return run_until([&] { return in_sync(a, b); }, timeout);
}

// ---- helpers ----

Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

std::string text_of(ByteView bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::string describe(const Event& event) {
  std::ostringstream out;
  std::visit(
      [&out](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, event::ExchangeUp>) {
          out << "ExchangeUp{seq=" << e.seq << ", new_session=" << e.new_session
              << ", path=" << e.path << "}";
        } else if constexpr (std::is_same_v<T, event::ExchangeDown>) {
          out << "ExchangeDown{" << to_string(e.reason) << "}";
        } else if constexpr (std::is_same_v<T, event::PathChanged>) {
          out << "PathChanged{path=" << e.path << "}";
        } else if constexpr (std::is_same_v<T, event::ChannelOpened>) {
          out << "ChannelOpened{c=" << e.channel << ", type=" << e.type << "}";
        } else if constexpr (std::is_same_v<T, event::ChannelData>) {
          out << "ChannelData{c=" << e.channel << ", " << e.body.size() << " bytes}";
        } else if constexpr (std::is_same_v<T, event::ChannelEnded>) {
          out << "ChannelEnded{c=" << e.channel << "}";
        } else if constexpr (std::is_same_v<T, event::ChannelErrored>) {
          out << "ChannelErrored{c=" << e.channel << ", " << e.reason << "}";
        } else if constexpr (std::is_same_v<T, event::SeqExhausted>) {
          out << "SeqExhausted{}";
        } else {
          out << "MessageReceived{type=" << e.type << ", id=" << e.id << "}";
        }
      },
      event);
  return out.str();
}

}  // namespace e3x::sim
