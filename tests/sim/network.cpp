#include "sim/network.hpp"

#include <algorithm>
#include <stdexcept>

namespace e3x::sim {

std::string Address::to_string() const {
  return std::to_string((ip >> 24) & 0xff) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff) + ":" +
         std::to_string(port);
}

Address ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
  return Address{(std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) |
                     std::uint32_t{d},
                 port};
}

std::ostream& operator<<(std::ostream& out, const Address& address) {
  return out << address.to_string();
}

const char* to_string(Fate fate) {
  switch (fate) {
    case Fate::kDelivered:
      return "delivered";
    case Fate::kLost:
      return "lost";
    case Fate::kPartitioned:
      return "partitioned";
    case Fate::kNatDropped:
      return "nat-dropped";
    case Fate::kUnroutable:
      return "unroutable";
    case Fate::kFiltered:
      return "filtered";
    case Fate::kQueueFull:
      return "queue-full";
  }
  return "?";
}

// ---- Nat ----

bool Nat::alive(const Mapping& mapping, Instant now) const {
  return now - mapping.last_used < options_.idle_timeout;
}

Address Nat::outbound(Address inside, Address to, Instant now) {
  const Key key{inside, options_.symmetric ? to : Address{}};
  auto it = by_key_.find(key);
  if (it != by_key_.end() && alive(it->second, now)) {
    it->second.last_used = now;
    it->second.contacted.insert(to);
    return Address{options_.public_ip, it->second.port};
  }
  if (it != by_key_.end()) {
    by_port_.erase(it->second.port);
    by_key_.erase(it);
  }
  if (next_port_ == 0) throw std::runtime_error("simulated NAT ran out of ports");
  const std::uint16_t port = next_port_++;
  by_key_[key] = Mapping{port, now, {to}};
  by_port_[port] = key;
  ++mappings_created_;
  return Address{options_.public_ip, port};
}

std::optional<Address> Nat::inbound(std::uint16_t port, Address from, Instant now) {
  auto it = by_port_.find(port);
  if (it == by_port_.end()) return std::nullopt;
  auto mapping = by_key_.find(it->second);
  if (mapping == by_key_.end() || !alive(mapping->second, now)) return std::nullopt;
  if (options_.address_dependent_filtering && !mapping->second.contacted.count(from)) {
    return std::nullopt;
  }
  if (options_.refresh_on_inbound) mapping->second.last_used = now;
  return it->second.first;
}

std::optional<Address> Nat::mapping_of(Address inside, Instant now) const {
  // With a symmetric NAT, the first live mapping of `inside` (there is no single address).
  for (auto it = by_key_.lower_bound(Key{inside, Address{}});
       it != by_key_.end() && it->first.first == inside; ++it) {
    if (alive(it->second, now)) return Address{options_.public_ip, it->second.port};
  }
  return std::nullopt;
}

// ---- Network ----

double Network::uniform01() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

bool Network::chance(double probability) {
  if (probability <= 0.0) return false;
  return uniform01() < probability;
}

NodeId Network::add_node(Address local, std::optional<NatId> nat) {
  if (nat && *nat >= nats_.size()) throw std::out_of_range("no such NAT");
  nodes_.push_back(Node{local, nat});
  return nodes_.size() - 1;
}

NatId Network::add_nat(NatOptions options) {
  nats_.emplace_back(options);
  return nats_.size() - 1;
}

std::optional<Address> Network::public_address(NodeId node, Instant now) const {
  const Node& n = nodes_.at(node);
  if (!n.nat) return n.local;
  return nats_.at(*n.nat).mapping_of(n.local, now);
}

void Network::set_link(NodeId a, NodeId b, LinkParams params) {
  links_[{a, b}] = params;
  links_[{b, a}] = params;
}

void Network::set_link_one_way(NodeId from, NodeId to, LinkParams params) {
  links_[{from, to}] = params;
}

const LinkParams& Network::link(NodeId from, NodeId to) const {
  auto it = links_.find({from, to});
  return it == links_.end() ? default_link_ : it->second;
}

void Network::partition(NodeId a, NodeId b, Instant from, Instant until) {
  partitions_[{std::min(a, b), std::max(a, b)}].push_back(Window{from, until});
}

void Network::isolate(NodeId node, Instant from, Instant until) {
  isolated_[node].push_back(Window{from, until});
}

bool Network::link_up(NodeId a, NodeId b, Instant at) const {
  auto inside = [at](const std::vector<Window>& windows) {
    return std::any_of(windows.begin(), windows.end(),
                       [at](const Window& w) { return w.from <= at && at < w.until; });
  };
  if (auto it = partitions_.find({std::min(a, b), std::max(a, b)});
      it != partitions_.end() && inside(it->second)) {
    return false;
  }
  for (NodeId n : {a, b}) {
    if (auto it = isolated_.find(n); it != isolated_.end() && inside(it->second)) return false;
  }
  return true;
}

std::optional<NodeId> Network::resolve(Address to, NodeId sender, Address seen_from, Instant now,
                                       bool& nat_dropped) {
  nat_dropped = false;
  for (NatId id = 0; id < nats_.size(); ++id) {
    if (nats_[id].public_ip() != to.ip) continue;
    auto inside = nats_[id].inbound(to.port, seen_from, now);
    if (!inside) {
      nat_dropped = true;
      return std::nullopt;
    }
    for (NodeId n = 0; n < nodes_.size(); ++n) {
      if (nodes_[n].nat == id && nodes_[n].local == *inside) return n;
    }
    return std::nullopt;
  }
  // A private address is only reachable from behind the same NAT.
  const std::optional<NatId> sender_nat = nodes_.at(sender).nat;
  for (NodeId n = 0; n < nodes_.size(); ++n) {
    if (nodes_[n].local == to && (!nodes_[n].nat || nodes_[n].nat == sender_nat)) return n;
  }
  return std::nullopt;
}

Duration Network::sample_delay(const LinkParams& params) {
  Duration delay = params.delay;
  if (params.jitter > Duration::zero()) {
    const auto span = static_cast<std::uint64_t>(params.jitter.count()) + 1;
    delay += Duration{static_cast<Duration::rep>(rng_() % span)};
  }
  return delay;
}

void Network::schedule(Delivery delivery) {
  const auto key = std::make_pair(delivery.at, order_++);
  queue_.emplace(key, std::move(delivery));
}

// The bottleneck: a datagram leaves once those queued before it have, at the link's rate.
bool Network::enqueue(std::pair<NodeId, NodeId> link_key, const LinkParams& params,
                      std::size_t size, Instant now, Instant& departs) {
  auto& queue = bottlenecks_[link_key];
  while (!queue.empty() && queue.front() <= now) queue.pop_front();
  if (queue.size() >= params.queue) return false;
  const Instant start = queue.empty() ? now : std::max(now, queue.back());
  const auto nanos = static_cast<Duration::rep>(static_cast<long double>(size) * 1e9L /
                                                static_cast<long double>(params.rate));
  departs = start + Duration{nanos};
  queue.push_back(departs);
  return true;
}

bool Network::burst_lost(std::pair<NodeId, NodeId> link_key, const LinkParams& params,
                         Instant now) {
  if (params.burst_loss <= 0.0) return false;
  BurstState& state = bursts_[link_key];
  if (state.position == 0 || state.position >= params.burst_length || state.at != now) {
    state = BurstState{now, 0, chance(params.burst_loss)};
  }
  ++state.position;
  return state.lost;
}

std::uint64_t Network::send(Instant now, NodeId from, Address to, Bytes bytes) {
  ++stats_.sent;
  const Node& sender = nodes_.at(from);
  SentRecord record;
  record.id = next_sent_id_++;
  record.at = now;
  record.from_node = from;
  record.local = sender.local;
  record.to = to;
  record.from = sender.local;
  // Source rewriting happens first, so a send refreshes (or re-creates) the mapping even when
  // the datagram is lost further on, as a real NAT would.
  if (sender.nat) {
    Nat& nat = nats_[*sender.nat];
    const bool to_outside = to.ip == nat.public_ip() || [&] {
      for (const Node& n : nodes_) {
        if (n.local == to && n.nat == sender.nat) return false;
      }
      return true;
    }();
    if (to_outside) record.from = nat.outbound(sender.local, to, now);
  }
  bool nat_dropped = false;
  record.to_node = resolve(to, from, record.from, now, nat_dropped);

  if (!record.to_node) {
    record.fate = nat_dropped ? Fate::kNatDropped : Fate::kUnroutable;
  } else if (!link_up(from, *record.to_node, now)) {
    record.fate = Fate::kPartitioned;
  } else {
    if (filter_) record.bytes = bytes;  // the filter sees the bytes
    if (filter_ && !filter_(record)) {
      record.fate = Fate::kFiltered;
    } else {
      if (mutator_) mutator_(record, bytes);
      const LinkParams& params = link(from, *record.to_node);
      const auto link_key = std::make_pair(from, *record.to_node);
      Instant departs = now;
      if (burst_lost(link_key, params, now) || chance(params.loss)) {
        record.fate = Fate::kLost;
      } else if (params.rate > 0 && !enqueue(link_key, params, bytes.size(), now, departs)) {
        record.fate = Fate::kQueueFull;
      } else {
        record.fate = Fate::kDelivered;
        const std::uint64_t link_seq = ++link_sends_[link_key];
        const bool twice = chance(params.duplicate);
        Delivery delivery{departs + sample_delay(params),
                          *record.to_node,
                          record.from,
                          bytes,
                          record.id,
                          false,
                          link_seq,
                          from};
        if (twice) {
          ++stats_.duplicated;
          Delivery copy = delivery;
          copy.at = departs + sample_delay(params);
          schedule(std::move(copy));
        }
        schedule(std::move(delivery));
      }
    }
  }
  switch (record.fate) {
    case Fate::kDelivered:
      break;
    case Fate::kLost:
      ++stats_.lost;
      break;
    case Fate::kPartitioned:
      ++stats_.partitioned;
      break;
    case Fate::kNatDropped:
      ++stats_.nat_dropped;
      break;
    case Fate::kUnroutable:
      ++stats_.unroutable;
      break;
    case Fate::kFiltered:
      ++stats_.filtered;
      break;
    case Fate::kQueueFull:
      ++stats_.queue_full;
      break;
  }
  const std::uint64_t id = record.id;
  if (capture_) {
    record.bytes = std::move(bytes);
    sent_log_.push_back(std::move(record));
  }
  return id;
}

std::size_t Network::queued(NodeId from, NodeId to, Instant now) const {
  auto it = bottlenecks_.find({from, to});
  if (it == bottlenecks_.end()) return 0;
  return static_cast<std::size_t>(
      std::count_if(it->second.begin(), it->second.end(), [now](Instant t) { return t > now; }));
}

void Network::inject(Instant at, NodeId to, Address from, Bytes bytes) {
  ++stats_.injected;
  schedule(Delivery{at, to, from, std::move(bytes), 0, true, 0, to});
}

std::optional<Instant> Network::next_delivery() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first.first;
}

std::optional<Delivery> Network::pop_due(Instant now) {
  if (queue_.empty() || queue_.begin()->first.first > now) return std::nullopt;
  auto node = queue_.extract(queue_.begin());
  Delivery delivery = std::move(node.mapped());
  ++stats_.delivered;
  if (!delivery.injected) {
    auto& max_seen = link_max_delivered_[{delivery.from_node, delivery.node}];
    if (delivery.link_seq < max_seen) {
      ++stats_.reordered;
    } else {
      max_seen = delivery.link_seq;
    }
  }
  return delivery;
}

}  // namespace e3x::sim
