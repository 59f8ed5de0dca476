// The datagram layer of the simulator: nodes with fake IPv4 addresses, one-way links with
// delay, jitter (which reorders), loss and duplication, an optional bottleneck (a rate with a
// bounded queue), partitions over time windows, and NAT boxes that rewrite inside addresses
// to public mappings and forget idle ones.
//
// It knows nothing about E3X: it moves byte strings between node ids at simulated instants,
// and every random choice comes from one generator seeded by the caller, so the same seed
// and the same sends always give the same deliveries.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "core/time.hpp"

namespace e3x::sim {

// A fake IPv4 address and port. Never touches the real network.
struct Address {
  std::uint32_t ip = 0;
  std::uint16_t port = 0;

  std::string to_string() const;  // "10.0.0.7:4000"
  friend auto operator<=>(const Address&, const Address&) = default;
};
Address ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port);
std::ostream& operator<<(std::ostream& out, const Address& address);

using NodeId = std::size_t;
using NatId = std::size_t;

struct LinkParams {
  Duration delay = milliseconds(10);  // one way
  Duration jitter{};                  // extra delay, uniform in [0, jitter]: reorders packets
  double loss = 0.0;                  // probability a datagram is lost
  double duplicate = 0.0;             // probability a delivered datagram arrives twice
  // A bottleneck: datagrams leave one after another at this many bytes per second (0: no
  // limit), after waiting in a queue of at most `queue` datagrams (the one being sent
  // included); a datagram that finds the queue full is dropped (Fate::kQueueFull). The
  // delay and jitter above come on top, after the datagram has left the queue.
  std::uint64_t rate = 0;
  std::size_t queue = 64;
  // Burst loss, as when a sender's GSO batch is dropped whole (or a queue overflows for a
  // moment): the datagrams a node sends on the link at one instant form runs of at most
  // `burst_length` (a lone send is a run of one), and each run is lost whole (Fate::kLost)
  // with probability `burst_loss`, so that fraction of datagrams is lost, in runs.
  // Independent of `loss`, which applies per datagram on top.
  double burst_loss = 0.0;
  std::size_t burst_length = 64;
};

struct NatOptions {
  std::uint32_t public_ip = 0;
  // A mapping unused for this long is forgotten: later traffic to its port is dropped, and
  // the inside host's next outgoing datagram gets a new port.
  Duration idle_timeout = seconds(30);
  // Whether inbound traffic also keeps a mapping alive (RFC 4787 allows either). Off by
  // default: only the inside host's own sends refresh it.
  bool refresh_on_inbound = false;
  std::uint16_t first_port = 40000;
  // Endpoint-dependent mapping ("symmetric", like Linux masquerade with `random`): every
  // destination gets a mapping, and a port, of its own. Hole punching cannot predict it.
  bool symmetric = false;
  // Address-and-port-dependent filtering (what Linux conntrack does): inbound traffic reaches
  // the inside host only from addresses the mapping has sent to. Hole punching needs both
  // sides to send; a full cone (off) lets anyone in.
  bool address_dependent_filtering = false;
};

// A NAT with idle expiry: by default an endpoint-independent mapping (full cone); see
// NatOptions for symmetric mapping and address-dependent filtering. Ports are never reused.
class Nat {
 public:
  explicit Nat(NatOptions options) : options_(options), next_port_(options.first_port) {}

  // The public source address for a datagram the inside address sends at `now`: its live
  // mapping (refreshed), or a new one on a port never handed out before.
  Address outbound(Address inside, Address to, Instant now);
  // The inside address a datagram from `from` to public `port` reaches at `now`, if that
  // mapping is alive (and, with address-dependent filtering, has sent to `from`).
  std::optional<Address> inbound(std::uint16_t port, Address from, Instant now);
  // The live mapping of `inside`, without refreshing it.
  std::optional<Address> mapping_of(Address inside, Instant now) const;

  std::uint32_t public_ip() const { return options_.public_ip; }
  const NatOptions& options() const { return options_; }
  std::size_t mappings_created() const { return mappings_created_; }

 private:
  struct Mapping {
    std::uint16_t port = 0;
    Instant last_used{};
    std::set<Address> contacted;  // destinations sent to (address-dependent filtering)
  };
  // (inside, destination): the destination is {} unless the mapping is symmetric.
  using Key = std::pair<Address, Address>;
  bool alive(const Mapping& mapping, Instant now) const;

  NatOptions options_;
  std::uint16_t next_port_;
  std::size_t mappings_created_ = 0;
  std::map<Key, Mapping> by_key_;
  std::map<std::uint16_t, Key> by_port_;
};

// What became of a sent datagram.
enum class Fate {
  kDelivered,    // scheduled for delivery (possibly twice when duplicated)
  kLost,         // link loss
  kPartitioned,  // the link was down
  kNatDropped,   // sent to a NAT port with no live mapping
  kUnroutable,   // no node has that address
  kFiltered,     // a test filter dropped it
  kQueueFull,    // the link's bottleneck queue was full
};
const char* to_string(Fate fate);

// One datagram as it left a node (after NAT rewriting of its source).
struct SentRecord {
  std::uint64_t id = 0;
  Instant at{};
  NodeId from_node = 0;
  Address local;  // the sender's own address
  Address from;   // the source address as the receiver sees it (after NAT)
  Address to;     // the destination as the sender addressed it
  std::optional<NodeId> to_node;
  Fate fate = Fate::kDelivered;
  Bytes bytes;
};

// A datagram due at a node.
struct Delivery {
  Instant at{};
  NodeId node = 0;
  Address from;  // the source address the receiver sees
  Bytes bytes;
  std::uint64_t sent_id = 0;  // 0 for injected datagrams
  bool injected = false;
  std::uint64_t link_seq = 0;  // send order on its directed link, for reordering stats
  NodeId from_node = 0;        // the sending node (meaningless when injected)
};

struct NetworkStats {
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t partitioned = 0;
  std::uint64_t nat_dropped = 0;
  std::uint64_t unroutable = 0;
  std::uint64_t filtered = 0;
  std::uint64_t queue_full = 0;
  std::uint64_t injected = 0;
  std::uint64_t reordered = 0;  // deliveries that overtook an earlier send on the same link
};

class Network {
 public:
  explicit Network(std::uint64_t seed) : rng_(seed) {}

  NodeId add_node(Address local, std::optional<NatId> nat = std::nullopt);
  NatId add_nat(NatOptions options);
  Nat& nat(NatId id) { return nats_.at(id); }
  // Moves a node to another local address (a host that changes network).
  void set_address(NodeId node, Address local) { nodes_.at(node).local = local; }
  Address local_address(NodeId node) const { return nodes_.at(node).local; }
  std::optional<NatId> nat_of(NodeId node) const { return nodes_.at(node).nat; }
  // Where others can reach the node at `now`: its own address, or its live NAT mapping.
  std::optional<Address> public_address(NodeId node, Instant now) const;

  void set_default_link(LinkParams params) { default_link_ = params; }
  void set_link(NodeId a, NodeId b, LinkParams params);  // both directions
  void set_link_one_way(NodeId from, NodeId to, LinkParams params);
  const LinkParams& link(NodeId from, NodeId to) const;
  // The link between a and b is down (both directions) for sends in [from, until).
  void partition(NodeId a, NodeId b, Instant from, Instant until);
  // Every link of the node is down for sends in [from, until).
  void isolate(NodeId node, Instant from, Instant until);
  bool link_up(NodeId a, NodeId b, Instant at) const;

  // Returns false to drop the datagram (counted as kFiltered).
  using Filter = std::function<bool(const SentRecord&)>;
  void set_filter(Filter filter) { filter_ = std::move(filter); }
  // Rewrites a datagram's bytes in flight (an on-path attacker, a hostile router), after the
  // filter; `record` says who sent it to whom.
  using Mutator = std::function<void(const SentRecord& record, Bytes& bytes)>;
  void set_mutator(Mutator mutator) { mutator_ = std::move(mutator); }

  // Sends a datagram from a node to an address at `now`. Returns the record id.
  std::uint64_t send(Instant now, NodeId from, Address to, Bytes bytes);
  // Delivers bytes to a node at `at` as if sent from `from`, bypassing links and NATs (a
  // tap replaying or forging traffic).
  void inject(Instant at, NodeId to, Address from, Bytes bytes);

  std::optional<Instant> next_delivery() const;
  // Removes and returns the earliest delivery due at or before `now`.
  std::optional<Delivery> pop_due(Instant now);
  std::size_t in_flight() const { return queue_.size(); }

  // Datagrams waiting in (or being sent by) the bottleneck of the link from -> to at `now`.
  std::size_t queued(NodeId from, NodeId to, Instant now) const;

  // Every datagram sent, in order (when capturing; on by default).
  const std::vector<SentRecord>& sent_log() const { return sent_log_; }
  void set_capture(bool capture) { capture_ = capture; }
  bool capturing() const { return capture_; }
  void clear_log() { sent_log_.clear(); }
  const NetworkStats& stats() const { return stats_; }

  // The network's generator, for tests that want extra seeded choices.
  std::mt19937_64& rng() { return rng_; }
  double uniform01();
  bool chance(double probability);

 private:
  struct Node {
    Address local;
    std::optional<NatId> nat;
  };
  struct Window {
    Instant from{};
    Instant until{};
  };
  // `seen_from`: the sender's address after its own NAT (what a NAT at `to` filters on).
  std::optional<NodeId> resolve(Address to, NodeId sender, Address seen_from, Instant now,
                                bool& nat_dropped);
  void schedule(Delivery delivery);
  bool enqueue(std::pair<NodeId, NodeId> link_key, const LinkParams& params, std::size_t size,
               Instant now, Instant& departs);
  Duration sample_delay(const LinkParams& params);

  std::mt19937_64 rng_;
  std::vector<Node> nodes_;
  std::vector<Nat> nats_;
  LinkParams default_link_;
  std::map<std::pair<NodeId, NodeId>, LinkParams> links_;
  std::map<std::pair<NodeId, NodeId>, std::vector<Window>> partitions_;  // key (min, max)
  std::map<NodeId, std::vector<Window>> isolated_;
  Filter filter_;
  Mutator mutator_;
  std::map<std::pair<Instant, std::uint64_t>, Delivery> queue_;
  std::uint64_t order_ = 0;
  std::uint64_t next_sent_id_ = 1;
  std::map<std::pair<NodeId, NodeId>, std::uint64_t> link_sends_;
  // Per directed link with burst loss: where it is in the current run, and that run's fate.
  struct BurstState {
    Instant at{};              // when the current run was sent
    std::size_t position = 0;  // datagrams of the current run so far
    bool lost = false;
  };
  std::map<std::pair<NodeId, NodeId>, BurstState> bursts_;
  bool burst_lost(std::pair<NodeId, NodeId> link_key, const LinkParams& params, Instant now);
  // Per directed link with a rate: when each queued datagram finishes leaving, in order.
  std::map<std::pair<NodeId, NodeId>, std::deque<Instant>> bottlenecks_;
  std::map<std::pair<NodeId, NodeId>, std::uint64_t> link_max_delivered_;
  std::vector<SentRecord> sent_log_;
  bool capture_ = true;
  NetworkStats stats_;
};

}  // namespace e3x::sim
