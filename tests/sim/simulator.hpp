// A deterministic discrete-event simulator of E3X endpoints on a simulated network.
//
// Each Host owns an e3x::Endpoint (with its own SeededRandom) and a table mapping the fake
// addresses it talks to onto opaque PathIds. The Simulator is the driver the architecture
// describes: after every input to an endpoint it drains poll_transmit() into the Network and
// poll_event() into the host's event log; time jumps to the earliest of the next delivery and
// every endpoint's next_timeout(). One seed drives everything: the hosts' keys and endpoint
// randomness and the network's loss, jitter and duplication. The seed is attached to every
// gtest failure raised while the Simulator exists (and can be forced with E3X_SIM_SEED).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "core/endpoint.hpp"
#include "core/random.hpp"
#include "core/routing.hpp"
#include "core/time.hpp"
#include "sim/network.hpp"
#include "sim/packets.hpp"
#include "sim/seed.hpp"

namespace e3x::sim {

using HostId = NodeId;

// The Unix time (seconds) every host's wall clock reads at the simulation's start.
inline constexpr std::int64_t kStartUnixTime = 1763700000;
// The monotonic Instant the simulation starts at.
inline constexpr Instant kStartInstant = Instant{} + seconds(1000);

struct HostOptions {
  std::string name;                // default "h<id>"
  std::optional<NatId> nat;        // behind this NAT
  std::optional<Address> address;  // default 10.0.0.<id+1>:4000 (192.168.0.<id+1> behind a NAT)
  std::size_t pending_limit = kDefaultPendingLimit;
  std::uint32_t seq_floor = 0;
  std::int64_t unix_offset = 0;  // seconds added to the simulation's wall clock for this host
  AcceptPolicy accept;
  // Congestion control of its reliable channels (Endpoint::Config::congestion).
  std::optional<CongestionAlgorithm> congestion = kDefaultCongestionAlgorithm;
};

struct RestartOptions {
  std::uint32_t seq_floor = 0;  // usually the old endpoint's highest_seq_used()
  std::int64_t unix_step = 0;   // added to the host's wall clock (negative: stepped back)
  std::optional<std::size_t> pending_limit;
  // What the daemon would have persisted per peer (PROTOCOL.md 10.4): see seq_marks_of().
  std::map<Hashname, PeerSeqMarks> seq_marks = {};
};

struct LoggedEvent {
  Instant at{};
  std::uint32_t generation = 0;  // which endpoint instance of the host reported it
  Event event;
};

struct ReceivedRecord {
  Instant at{};
  Address from;
  PathId path = kNoPath;
  bool injected = false;
  Bytes bytes;
};

class Simulator;

class Host {
 public:
  HostId id() const { return id_; }
  const std::string& name() const { return name_; }
  Endpoint& endpoint() { return *endpoint_; }
  const Endpoint& endpoint() const { return *endpoint_; }
  const KeyPair& identity() const { return identity_; }
  const PublicKey& public_key() const { return identity_.public_key; }
  const Hashname& hashname() const { return endpoint_->hashname(); }
  const EndpointStats& stats() const { return endpoint_->stats(); }
  // The routing layer (PROTOCOL.md 12) when enable_routing() gave it one: the simulator then
  // passes the host's datagrams, transmits, events and timers through it as a daemon does.
  Routing* routing() { return routing_.get(); }
  // Restarts so far: 0 for the first endpoint.
  std::uint32_t generation() const { return generation_; }

  // The PathId this host's endpoint uses for `address` (allocated on first use).
  PathId path_for(Address address);
  std::optional<Address> address_of(PathId path) const;
  std::optional<PathId> known_path(Address address) const;

  // Every event the host's endpoints reported, in order.
  const std::vector<LoggedEvent>& events() const { return events_; }
  template <class T>
  std::vector<T> events_of() const {
    std::vector<T> out;
    for (const LoggedEvent& e : events_) {
      if (const T* p = std::get_if<T>(&e.event)) out.push_back(*p);
    }
    return out;
  }
  template <class T>
  std::vector<std::pair<Instant, T>> timed_events_of() const {
    std::vector<std::pair<Instant, T>> out;
    for (const LoggedEvent& e : events_) {
      if (const T* p = std::get_if<T>(&e.event)) out.emplace_back(e.at, *p);
    }
    return out;
  }
  template <class T>
  std::size_t count() const {
    std::size_t n = 0;
    for (const LoggedEvent& e : events_) n += std::holds_alternative<T>(e.event) ? 1 : 0;
    return n;
  }
  void clear_events() { events_.clear(); }

  // Datagrams this host received (when the network captures).
  const std::vector<ReceivedRecord>& received() const { return received_; }

  std::uint64_t datagrams_sent() const { return datagrams_sent_; }
  std::uint64_t datagrams_received() const { return datagrams_received_; }

  // Called for every event as it is drained (after it is logged). It may issue commands.
  std::function<void(Host&, const Event&)> on_event;

 private:
  friend class Simulator;
  Host() = default;

  HostId id_ = 0;
  std::string name_;
  KeyPair identity_;
  std::unique_ptr<SeededRandom> random_;
  std::unique_ptr<Endpoint> endpoint_;
  std::unique_ptr<Routing> routing_;
  std::uint32_t generation_ = 0;
  std::int64_t unix_offset_ = 0;
  PathId next_path_ = 1;
  std::map<Address, PathId> paths_;
  std::map<PathId, Address> addresses_;
  std::vector<LoggedEvent> events_;
  std::vector<ReceivedRecord> received_;
  std::uint64_t datagrams_sent_ = 0;
  std::uint64_t datagrams_received_ = 0;
};

class Simulator {
 public:
  explicit Simulator(std::uint64_t seed, Instant start = kStartInstant);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  std::uint64_t seed() const { return seed_; }
  Instant start() const { return start_; }
  Instant now() const { return now_; }
  Duration elapsed() const { return now_ - start_; }
  Network& network() { return network_; }
  const Network& network() const { return network_; }

  // ---- hosts ----
  Host& add_host(HostOptions options = {});
  Host& add_host(std::string name) {
    HostOptions options;
    options.name = std::move(name);
    return add_host(std::move(options));
  }
  Host& host(HostId id) { return *hosts_.at(id); }
  std::size_t host_count() const { return hosts_.size(); }
  Host* find_host(const Hashname& hashname);
  NatId add_nat(Duration idle_timeout, bool refresh_on_inbound = false);
  // A NAT with these options; its public address is assigned as above.
  NatId add_nat(NatOptions options);

  // Gives the host a routing layer. Unless set, describe_path and path_from_description map
  // the host's PathIds to {"type":"udp4","ip":"a.b.c.d","port":n} and back. Routing does not
  // survive restart().
  Routing& enable_routing(Host& host, RoutingConfig config);

  // Replaces the host's endpoint by a new one with the same identity (a process restart):
  // a new random stream, so a new ephemeral key; no peers, paths or exchanges survive.
  // The host's wall clock moves by options.unix_step.
  Host& restart(Host& host, RestartOptions options = {});

  // The host's wall clock at `now` (what set_unix_time told its endpoint).
  std::int64_t unix_time(const Host& host) const;
  // Steps the host's wall clock to `unix_seconds` now and tells its endpoint.
  void set_unix_time(Host& host, std::int64_t unix_seconds);

  // ---- commands (each drains the host afterwards) ----
  void add_peer(Host& host, const Host& peer, PeerOptions options = {});
  void make_peers(Host& a, Host& b, PeerOptions options = {});
  void make_peers(Host& a, PeerOptions a_options, Host& b, PeerOptions b_options);
  // The address `to` can be reached at from `from` now (its own, or its live NAT mapping).
  std::optional<Address> address_of(const Host& to) const;
  // The PathId `from` uses for `to`'s reachable address.
  PathId path_to(Host& from, const Host& to);
  Result<Sent, EndpointError> connect(Host& from, const Host& to);
  Result<Sent, EndpointError> request_keepalive(Host& from, const Host& to);
  // Opens a channel; a gtest failure and 0 when the endpoint refuses.
  std::uint32_t open_channel(Host& from, const Host& to, std::string type, bool reliable,
                             Bytes body = {}, ChannelOptions options = {});
  Result<Sent, EndpointError> send_channel(Host& from, const Host& to, std::uint32_t channel,
                                           Bytes body, bool end = false);

  // ---- the tap ----
  // Delivers raw bytes to `to` at now + delay as if from `from` (replays and forgeries).
  void inject(Host& to, Address from, Bytes bytes, Duration delay = Duration::zero());
  // Datagrams the host sent (from the network's capture), optionally only those matching.
  std::vector<SentRecord> sent_by(const Host& host,
                                  const std::function<bool(const SentRecord&)>& match = {}) const;

  // ---- running ----
  void drain(Host& host);
  void drain_all();
  // Processes the earliest pending delivery or timer if it is due at or before `limit`.
  // False (time unchanged) when nothing is due by then.
  bool step(Instant limit);
  // Steps until `done()` holds (true) or `timeout` passes (false, and now = start + timeout).
  bool run_until(const std::function<bool()>& done, Duration timeout);
  // Steps through everything due up to now + duration; now ends at exactly now + duration.
  void run_for(Duration duration);
  void run_until_time(Instant at);

  // Both endpoints report their exchange with each other as up.
  bool in_sync(const Host& a, const Host& b) const;
  bool run_until_in_sync(Host& a, Host& b, Duration timeout);

  // Steps taken so far (deliveries plus timer firings).
  std::uint64_t steps() const { return steps_; }

 private:
  void make_endpoint(Host& host, std::uint32_t seq_floor, std::size_t pending_limit,
                     AcceptPolicy accept, std::map<Hashname, PeerSeqMarks> seq_marks = {});
  void advance_to(Instant at);

  std::uint64_t seed_;
  ::testing::ScopedTrace trace_;
  Instant start_;
  Instant now_;
  Network network_;
  SeededRandom key_random_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::map<HostId, AcceptPolicy> accept_;
  std::map<HostId, std::size_t> pending_limits_;
  std::map<HostId, std::optional<CongestionAlgorithm>> congestion_;
  std::size_t nat_count_ = 0;
  std::uint64_t steps_ = 0;
  std::uint64_t steps_at_same_instant_ = 0;
  bool stuck_ = false;
};

// What a daemon persists for the host at a clean shutdown: each peer's highest SEQ used and
// seen (PROTOCOL.md 10.4), for RestartOptions::seq_marks.
std::map<Hashname, PeerSeqMarks> seq_marks_of(const Host& host);

// Helpers for bodies and readable failure messages.
Bytes bytes_of(std::string_view text);
std::string text_of(ByteView bytes);
std::string describe(const Event& event);

}  // namespace e3x::sim
