// e3xd: the driver around the sans-I/O core (ARCHITECTURE.md). After any input (a batch of
// packets, a timer, a control command) it persists the SEQ mark if needed, drains the core's
// transmits into the sockets and its events into logs and watchers, and re-arms one timer
// at next_timeout(). Everything runs on one thread: the io_context's.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "config/config.hpp"
#include "core/endpoint.hpp"
#include "core/random.hpp"
#include "core/receipts.hpp"
#include "core/sealed_message.hpp"
#include "daemon/config_diff.hpp"
#include "daemon/control_server.hpp"
#include "daemon/inbox.hpp"
#include "daemon/outbox.hpp"
#include "daemon/peer_runtime.hpp"
#include "daemon/seq_store.hpp"
#include "daemon/speedtest_session.hpp"
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
inline constexpr std::size_t kPublicPathLimit = 16;
// A path probe (`e3xctl ping`) unanswered this long fails with "no_reply"; shorter than the
// channel's own 10 s OPENING timeout so e3xctl (10 s request timeout) always hears why.
inline constexpr Duration kPathProbeTimeout = seconds(5);  // addresses peers report seeing us at

// Wall-clock Unix seconds (message times, event times).
inline std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Outbox delivery (docs/messages.md): per peer at most kDeliveryWindow messages and
// kDeliveryWindowBytes of payload await a receipt at once; a message unanswered is sent again
// after 1 s, then 2, 4, 4, 4, ... s while the peer stays up, and at once when its exchange
// comes up again. The short cap keeps a lossy path's tail short (the peer is known to be up);
// the byte window keeps those resends from flooding a slow one.
inline constexpr std::size_t kDeliveryWindow = 32;
inline constexpr std::size_t kDeliveryWindowBytes = 256 * 1024;
inline constexpr Duration kRetryFirst = seconds(1);
inline constexpr Duration kRetryMax = seconds(4);
// The largest UDP datagram a message may use: what fits a 1500-byte MTU without IP
// fragmentation (20/40-byte IP header, 8-byte UDP header). Larger messages need TCP.
inline constexpr std::size_t kUdp4DatagramLimit = 1472;
inline constexpr std::size_t kUdp6DatagramLimit = 1452;
inline constexpr std::size_t kTcpPacketLimit = 65535;  // one chunked frame (PROTOCOL.md 7)
inline constexpr std::size_t kCloakOverhead = 8;

struct MessageStats {
  std::uint64_t received = 0;             // new messages stored in the inbox
  std::uint64_t duplicates = 0;           // repeats acknowledged again, not stored
  std::uint64_t refused = 0;              // not stored (quota, disk): no receipt, sender retries
  std::uint64_t refused_expiry = 0;       // imported with no valid expiry (PROTOCOL.md 10.7)
  std::uint64_t delivered = 0;            // receipts that emptied an outbox entry
  std::uint64_t unmatched_receipts = 0;   // receipts for nothing in the outbox (already done)
  std::uint64_t mismatched_receipts = 0;  // receipts naming another payload than ours
  std::uint64_t expired = 0;
};

class Daemon {
 public:
  // `config_file` empty: running on the embedded default (reload has nothing to re-read).
  Daemon(boost::asio::io_context& io, config::Config config, std::filesystem::path config_file);
  ~Daemon();

  // Loads the identity and state, binds sockets and the control socket, adds the peers.
  std::optional<StartError> start();
  // Reloads the config file (SIGHUP, `e3xctl reload`): the JSON result or an error.
  control::ControlServer::Reply reload();
  // Stops everything; the io_context then runs out of work.
  void shutdown(const char* why);

 private:
  // ---- the driver ----
  Instant now();  // also re-anchors the core's Unix time
  void wait_for_signal();
  void start_watchdog();
  void on_packet(PathId path, ByteView packet);
  void drive();
  void arm_core_timer();
  void on_core_timer();
  void housekeeping();
  void connect_due_peers();
  void summarise_drops();
  // What the endpoint says about each peer's SEQs now (for the SEQ store).
  SeqStore::Lookup seq_lookup() const;

  // ---- core events ----
  void handle_event(Event& event);
  void on_exchange_up(const event::ExchangeUp& up);
  void on_exchange_down(const event::ExchangeDown& down);
  void on_path_changed(const event::PathChanged& changed);
  void on_seq_exhausted(const event::SeqExhausted& exhausted);
  void on_channel_opened(event::ChannelOpened& opened);
  void on_channel_data(event::ChannelData& data);
  void on_message(event::MessageReceived& message);

  // ---- messages: outbox, inbox, receipts (daemon_messages.cpp) ----
  std::optional<StartError> open_message_stores();
  void on_receipt(const event::MessageReceived& receipt);
  void on_inbox_message(event::MessageReceived& message);
  void owe_receipt(const ApplicationMessage& message);
  void flush_receipts();
  // Durably stores an arrival (or recognises a repeat). On an error send no receipt: the
  // sender keeps the message and retries.
  Result<Inbox::Stored, StoreError> store_arrival(const ApplicationMessage& message,
                                                  const std::string& via);
  void pump_outbox();
  void attempt_delivery(OutboxEntry& entry, Instant at);
  void retry_later(OutboxEntry& entry, Instant at, std::string error);
  void report_expiry(OutboxEntry& entry);
  void restart_deliveries(const Hashname& peer);
  std::size_t message_wire_size(const std::string& type, const std::string& id,
                                std::int64_t expires, std::size_t body_bytes) const;
  std::size_t path_packet_limit(PathId path) const;
  std::string check_deliverable(const Hashname& peer, std::size_t wire_size,
                                std::size_t body_bytes) const;
  PathId delivery_path(const Hashname& peer, std::size_t wire_size, std::string& why);
  control::ControlServer::Reply outbox_command(const control::Request& request);
  control::ControlServer::Reply outbox_cancel_command(const control::Request& request);
  control::ControlServer::Reply inbox_command(const control::Request& request);
  control::ControlServer::Reply inbox_read_command(const control::Request& request, bool ack);
  control::ControlServer::Reply inbox_import_command(const control::Request& request);
  boost::json::object messages_json() const;

  // ---- peers ----
  std::optional<std::string> add_configured_peer(const config::PeerConfig& peer);
  void remove_configured_peer(const std::string& name);
  void resolve_endpoints(PeerRuntime& peer);
  void attempt_connect(PeerRuntime& peer);
  void schedule_retry(PeerRuntime& peer, Instant at);
  void apply_keepalive(const Hashname& hashname);
  Duration keepalive_for(const PeerRuntime* peer, PathId path) const;
  PeerRuntime* find_runtime(const Hashname& hashname);
  const PeerRuntime* find_runtime(const Hashname& hashname) const;
  std::optional<Hashname> lookup_peer(const std::string& name_or_hashname) const;
  std::string peer_label(const Hashname& hashname) const;
  void start_path_probe(const Hashname& peer, control::ControlServer::Respond respond);
  void finish_probe(const Hashname& peer, std::uint32_t channel, const std::string& why);
  void expire_probes(Instant at);

  // ---- speed test (daemon_speedtest.cpp) ----
  void start_speedtest(const control::Request& request, control::ControlServer::Respond respond);
  void speedtest_wait(const ChannelKey& key, Duration delay,
                      std::function<void(const ChannelKey&)> then);
  void speedtest_pump(const ChannelKey& key);
  void speedtest_ask_report(const ChannelKey& key);
  void speedtest_fail(const ChannelKey& key, std::string code, std::string message);
  void speedtest_watch_idle(const ChannelKey& key);
  void on_speedtest_opened(event::ChannelOpened& opened);
  void on_speedtest_data(event::ChannelData& data);
  void on_speedtest_closed(const Hashname& peer, std::uint32_t channel, const std::string& why);
  void stop_speedtests();

  // ---- control ----
  void handle_control(const control::Request& request, control::ControlServer::Respond respond);
  boost::json::object status_json() const;
  boost::json::object drops_json() const;
  boost::json::object peer_json(const Hashname& hashname) const;
  boost::json::array peers_json() const;
  control::ControlServer::Reply send_command(const control::Request& request);
  void broadcast(boost::json::object event, std::optional<Hashname> peer = std::nullopt);
  std::string path_text(PathId path) const;
  std::string endpoint_url(PathId path) const;  // "tcp://127.0.0.1:4000"
  boost::json::object path_object(PathId path) const;

  boost::asio::io_context& io_;
  config::Config config_;
  std::filesystem::path config_file_;
  SodiumRandom random_;
  std::chrono::steady_clock::time_point started_at_;
  bool accept_any_ = false;
  bool stopping_ = false;

  std::unique_ptr<SeqStore> seq_store_;
  KeyPair identity_;  // for sealed files handed in with `inbox import`
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<Inbox> inbox_;
  MessageStats message_stats_;
  ReceiptScheduler receipts_;
  Instant last_tombstone_sweep_{};
  std::unique_ptr<Endpoint> endpoint_;
  std::unique_ptr<net::Network> network_;
  std::unique_ptr<control::ControlServer> control_;
  boost::asio::steady_timer core_timer_;
  boost::asio::steady_timer housekeeping_timer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::signal_set signals_;
  boost::asio::ip::tcp::resolver resolver_;

  std::map<std::string, Hashname> names_;  // configured name -> hashname
  std::unordered_map<Hashname, std::unique_ptr<PeerRuntime>> runtimes_;
  std::map<std::pair<Hashname, std::uint32_t>, PathProbe> probes_;
  std::set<std::string> public_paths_;
  std::map<ChannelKey, SpeedtestSend> speedtest_sends_;
  std::map<ChannelKey, SpeedtestReceive> speedtest_receives_;
  std::uint64_t seq_mark_failures_ = 0;  // failed writes of the SEQ marks
  // SEQs the endpoint used that are not yet covered on disk (a write failed).
  std::vector<std::pair<Hashname, std::uint32_t>> uncovered_seqs_;
  std::uint64_t held_back_packets_ = 0;  // not sent because the SEQ mark could not be written
  Instant last_drop_summary_{};
  EndpointStats last_endpoint_stats_{};
  net::NetworkStats last_network_stats_{};
};

}  // namespace e3x::daemon
