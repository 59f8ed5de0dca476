// e3xd's host: the driver around the sans-I/O core (ARCHITECTURE.md) and what every feature
// shares. After any input (a batch of packets, a timer, a control command) it persists the
// SEQ marks if needed, drains the core's transmits into the sockets and its events into the
// modules, logs and watchers, and re-arms one timer at next_timeout(). It keeps the peer
// table (configured peers, their endpoints, reconnects), the sockets, the control socket and
// reload; features (messages, the path probe, the speed test, ...) are Modules
// (host/module.hpp) that register what they serve. Everything runs on one thread: the
// io_context's.
//
// Files: host.cpp (lifecycle, driver loop), host_events.cpp (core events and their routing to
// modules), host_peers.cpp (configured peers), host_control.cpp (control commands, status,
// reload).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "core/endpoint.hpp"
#include "core/keystream_random.hpp"
#include "core/random.hpp"
#include "core/routing.hpp"
#include "daemon/control/control_server.hpp"
#include "daemon/host/config_diff.hpp"
#include "daemon/host/module.hpp"
#include "daemon/host/peer_runtime.hpp"
#include "daemon/host/refusal_log.hpp"
#include "daemon/host/seq_store.hpp"
#include "transports/network.hpp"

namespace e3x::daemon {

// Exit codes of e3xd (documented in docs/config.md and the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;     // could not bind, another e3xd running, ...
inline constexpr int kExitUsage = 64;      // bad command line
inline constexpr int kExitDataErr = 65;    // identity file malformed
inline constexpr int kExitNoInput = 66;    // config file missing or unreadable
inline constexpr int kExitCantCreat = 73;  // identity or state file cannot be created
inline constexpr int kExitNoPerm = 77;     // identity file readable by others
inline constexpr int kExitConfig = 78;     // config syntax or schema error

struct StartError {
  int exit_code = kExitRuntime;
  std::string message;
};

// How the reconnect backoff grows after a failed attempt (a handshake unconfirmed for 30 s).
inline constexpr Duration kReconnectBackoffFirst = seconds(1);
inline constexpr Duration kReconnectBackoffMax = seconds(300);
inline constexpr Duration kHousekeepingInterval = seconds(1);
inline constexpr Duration kDropSummaryInterval = seconds(10);

// Wall-clock Unix seconds (message times, event times).
inline std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Host {
 public:
  using Reply = control::ControlServer::Reply;
  using Respond = control::ControlServer::Respond;
  using CommandHandler = std::function<void(const control::Request&, Respond)>;

  // `config_file` empty: running on the embedded default (reload has nothing to re-read).
  Host(boost::asio::io_context& io, config::Config config, std::filesystem::path config_file);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Loads the identity and state, binds sockets and the control socket, starts the modules,
  // adds the peers.
  std::optional<StartError> start();
  // Reloads the config file (SIGHUP, `e3xctl reload`): the JSON result or an error.
  Reply reload();
  // Stops everything; the io_context then runs out of work.
  void shutdown(const char* why);

  // ---- what modules use ----
  boost::asio::io_context& io() { return io_; }
  Endpoint& endpoint() { return *endpoint_; }
  const Endpoint& endpoint() const { return *endpoint_; }
  net::Network& network() { return *network_; }
  const net::Network& network() const { return *network_; }
  const config::Config& config() const { return config_; }
  Random& random() { return random_; }
  const KeyPair& identity() const { return identity_; }
  bool stopping() const { return stopping_; }
  Instant now();  // also re-anchors the core's Unix time
  // Drains the core (transmits, events) and re-arms its timer: call after core commands that
  // did not come from a host hook (a module's own timer, posted work).
  void drive();

  // Registration (from a module's constructor or start()).
  void serve_channel(std::string type, Module& module);
  void serve_messages(Module& module);
  void serve_command(std::string name, CommandHandler handler);

  // Opens a channel whose events go to `owner`.
  Result<std::uint32_t, EndpointError> open_channel(Module& owner, const Hashname& peer,
                                                    std::string type, bool reliable,
                                                    boost::json::object extra = {}, Bytes body = {},
                                                    ChannelOptions options = {});
  // Sends {"err":reason} and forgets the channel (its owner gets no channel_closed).
  void close_channel(const ChannelKey& key, const std::string& reason);

  // Peers.
  std::optional<Hashname> lookup_peer(const std::string& name_or_hashname) const;
  std::string peer_label(const Hashname& hashname) const;  // "alpha", or "hashname12…"
  const PeerRuntime* find_runtime(const Hashname& hashname) const;
  // Someone needs the peer now (e3xctl connect): a configured peer that is down is dialled
  // at once, its backoff reset.
  void connect_now(const Hashname& hashname);
  std::string path_text(PathId path) const;            // "udp4 127.0.0.1:42424", "relayed via hub"
  boost::json::object path_object(PathId path) const;  // {"type","ip","port"}
  std::string endpoint_url(PathId path) const;         // "tcp://127.0.0.1:4000"

  // The `status` and `peers` results (docs/control-protocol.md), modules' parts included.
  boost::json::object status_json() const;
  boost::json::array peers_json() const;

  // Tells every `watch` client; `peer` adds its name and hashname.
  void broadcast(boost::json::object event, std::optional<Hashname> peer = std::nullopt);

 private:
  // ---- the driver (host.cpp) ----
  std::optional<StartError> start_sockets();
  void wait_for_signal();
  void start_watchdog();
  void on_packet(PathId path, ByteView packet);
  void arm_core_timer();
  void on_core_timer();
  void housekeeping();
  void summarise_drops();
  void warn_of_small_socket_buffers() const;
  std::optional<boost::json::object> path_flow_json(const Hashname& hashname) const;
  SeqStore::Lookup seq_lookup() const;
  SeqStore::KnownPeers known_peers() const;
  void renew_seq_marks();

  // ---- routing through a mutual peer (host_routing.cpp) ----
  RoutingConfig routing_config();
  void connect_via_routers();
  boost::json::object reach_json(const Hashname& hashname, bool detailed) const;
  boost::json::object routes_json();
  void log_path_upgrade(const Hashname& hashname, PathId path);

  // ---- core events (host_events.cpp) ----
  void handle_event(Event& event);
  void on_exchange_up(const event::ExchangeUp& up);
  void on_exchange_down(const event::ExchangeDown& down);
  void on_path_changed(const event::PathChanged& changed);
  void on_seq_exhausted(const event::SeqExhausted& exhausted);
  void on_channel_opened(event::ChannelOpened& opened);
  void on_channel_data(event::ChannelData& data);
  void on_channel_closed(const ChannelKey& key, const std::string& reason);
  void on_message(event::MessageReceived& message);

  // ---- peers (host_peers.cpp) ----
  std::optional<std::string> add_configured_peer(const config::PeerConfig& peer);
  void remove_configured_peer(const std::string& name);
  void connect_due_peers();
  void resolve_endpoints(PeerRuntime& peer);
  void attempt_connect(PeerRuntime& peer);
  void schedule_retry(PeerRuntime& peer, Instant at);
  void apply_keepalive(const Hashname& hashname);
  Duration keepalive_for(const PeerRuntime* peer, PathId path) const;
  PeerRuntime* runtime_of(const Hashname& hashname);  // find_runtime, for changing it

  // ---- refused senders (host_refusals.cpp) ----
  void on_refused_sender(PathId path, const Hashname& sender, const PublicKey& key);
  void on_unauthenticated(PathId path);
  std::string refusal_source(PathId path) const;

  // ---- control (host_control.cpp) ----
  void handle_control(const control::Request& request, Respond respond);
  void serve_builtin_commands();
  boost::json::object counters_json() const;
  boost::json::object drops_json() const;
  boost::json::object peer_json(const Hashname& hashname) const;

  boost::asio::io_context& io_;
  config::Config config_;
  std::filesystem::path config_file_;
  // Nonces for every sealed and cloaked packet: a user-space keystream keyed from the OS,
  // not a getrandom call per packet (core/keystream_random.hpp).
  KeystreamRandom random_;
  std::chrono::steady_clock::time_point started_at_;
  bool accept_any_ = false;
  bool driving_ = false;  // inside drive(): a nested call returns at once
  bool stopping_ = false;

  std::unique_ptr<SeqStore> seq_store_;
  KeyPair identity_;
  std::unique_ptr<Endpoint> endpoint_;
  // Introductions, relay and hole punching (PROTOCOL.md 12): every datagram, transmit and
  // event of the endpoint passes through it first.
  std::unique_ptr<Routing> routing_;
  std::unique_ptr<net::Network> network_;
  std::unique_ptr<control::ControlServer> control_;
  boost::asio::steady_timer core_timer_;
  // The core deadline core_timer_ waits for, while a wait is pending: a drive that leaves the
  // earliest deadline where it was does not arm the timer again.
  std::optional<Instant> core_timer_due_;
  boost::asio::steady_timer housekeeping_timer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::signal_set signals_;
  boost::asio::ip::tcp::resolver resolver_;

  // The features, in the order of daemon/modules/modules.cpp, and what each serves.
  std::vector<std::unique_ptr<Module>> modules_;
  std::map<std::string, Module*> channel_types_;
  std::map<ChannelKey, Module*> channel_owners_;
  std::map<std::string, CommandHandler> commands_;
  Module* message_handler_ = nullptr;

  std::map<std::string, Hashname> names_;  // configured name -> hashname
  std::unordered_map<Hashname, std::unique_ptr<PeerRuntime>> runtimes_;
  std::uint64_t seq_mark_failures_ = 0;  // failed writes of the SEQ marks
  std::uint64_t held_back_packets_ = 0;  // not sent because the SEQ marks could not be written
  // SEQs the endpoint used that are not yet covered on disk (a write failed).
  std::vector<std::pair<Hashname, std::uint32_t>> uncovered_seqs_;
  RefusalLog refusal_log_;
  // Peers whose configured key was found to be a sender's hashname: said once each.
  std::set<std::string> key_is_hashname_told_;
  Instant last_drop_summary_{};
  EndpointStats last_endpoint_stats_{};
  net::NetworkStats last_network_stats_{};
};

}  // namespace e3x::daemon
