// The host's lifecycle and the driver loop (host.hpp). Event handling is in host_events.cpp,
// peers in host_peers.cpp, control commands and reload in host_control.cpp.
#include "daemon/host/host.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <csignal>

#include "config/identity_file.hpp"
#include "daemon/host/handshake_limiter.hpp"
#include "daemon/host/preflight.hpp"
#include "daemon/modules/modules.hpp"
#include "daemon/support/build_info.hpp"
#include "daemon/support/logging.hpp"
#include "daemon/support/systemd_notify.hpp"

namespace e3x::daemon {

namespace asio = boost::asio;

namespace {

std::chrono::steady_clock::time_point to_steady(Instant at) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(at.time_since_epoch()));
}

// Creates a directory (and parents) with `mode`: 0700 for state holding a secret, 0750 for
// the control socket's (group members may use e3xctl). An existing directory is left as is.
std::string make_directory(const std::filesystem::path& dir, unsigned mode) {
  if (dir.empty()) return {};
  std::error_code error;
  if (std::filesystem::is_directory(dir, error)) return {};
  std::filesystem::create_directories(dir, error);
  if (error) return "cannot create directory " + dir.string() + ": " + error.message();
  ::chmod(dir.c_str(), mode);
  return {};
}

}  // namespace

Host::Host(asio::io_context& io, config::Config config, std::filesystem::path config_file)
    : io_(io),
      config_(std::move(config)),
      config_file_(std::move(config_file)),
      started_at_(std::chrono::steady_clock::now()),
      accept_any_(config_.accept == config::Accept::kAny),
      core_timer_(io),
      housekeeping_timer_(io),
      watchdog_timer_(io),
      signals_(io),
      resolver_(io) {
  serve_builtin_commands();
  modules_ = make_modules(*this);
}

Host::~Host() = default;

std::optional<StartError> Module::start() {
  return std::nullopt;
}

Instant Host::now() {
  const auto steady = std::chrono::steady_clock::now();
  const Instant at(std::chrono::duration_cast<Duration>(steady.time_since_epoch()));
  if (endpoint_) {
    // SEQs follow Unix time; re-anchor on every input so a stepped clock is noticed at once.
    const auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    endpoint_->set_unix_time(at, unix_now.count());
  }
  return at;
}

// Binds the UDP and TCP listen addresses and the control socket. Nothing is read from them
// until the io_context runs, after start() has set up the endpoint they feed.
std::optional<StartError> Host::start_sockets() {
  net::NetworkOptions options;
  for (const auto& listen : config_.udp.listen) {
    options.udp_listen.emplace_back(asio::ip::make_address(listen.ip), listen.port);
  }
  for (const auto& listen : config_.tcp.listen) {
    options.tcp_listen.emplace_back(asio::ip::make_address(listen.ip), listen.port);
  }
  options.udp_cloak = config_.udp.cloak;
  options.tcp_cloak = config_.tcp.cloak;
  options.tcp_unauthenticated_per_address = config_.tcp.unauthenticated_limit;
  options.udp_buffers = {config_.udp.receive_buffer, config_.udp.send_buffer};
  options.udp_gso = config_.udp.gso;
  network_ = std::make_unique<net::Network>(
      io_, random_, options, [this](PathId path, ByteView packet) { on_packet(path, packet); },
      [this] { drive(); });
  if (auto error = network_->start(); !error.empty()) {
    return StartError{kExitRuntime, "cannot listen: " + error};
  }
  warn_of_small_socket_buffers();

  if (auto error = make_directory(config_.control_socket.parent_path(), 0750); !error.empty()) {
    return StartError{kExitCantCreat, error};
  }
  control_ = std::make_unique<control::ControlServer>(
      io_, config_.control_socket,
      [this](const control::Request& request, control::ControlServer::Respond respond) {
        handle_control(request, std::move(respond));
      });
  if (auto error = control_->start(); !error.empty()) {
    return StartError{kExitRuntime, "control socket: " + error};
  }
  return std::nullopt;
}

std::optional<StartError> Host::start() {
  // Signals are caught before anything visible exists: the control socket appears early (so a
  // busy one stops the start before an identity is made), and a SIGTERM sent as soon as it
  // appears must stop e3xd cleanly, not kill it with the socket left behind. Asio keeps a
  // signal that arrives before the wait below and delivers it once the loop runs.
  signals_.add(SIGHUP);
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  if (auto error = make_directory(config_.state_dir, 0700); !error.empty()) {
    return StartError{kExitCantCreat, error};
  }
  // The sockets first: a start that fails on a port or the control socket in use must not
  // leave a new identity (a new hashname nobody asked for) behind.
  if (auto error = start_sockets()) return error;
  // The metrics listener starts with its module, after the identity; its port is checked
  // now, for the same reason (the network's own ports are bound already, so left out).
  if (config_.metrics.listen) {
    config::Config metrics_only = config_;
    metrics_only.udp.listen.clear();
    metrics_only.tcp.listen.clear();
    if (auto problems = check_listen_addresses(metrics_only); !problems.empty()) {
      return StartError{problems.front().exit_code, problems.front().message};
    }
  }
  bool created = false;
  auto identity = config::load_or_create_identity(config_.identity, random_, &created);
  if (!identity) return StartError{exit_code_for(identity.error().kind), identity.error().message};
  if (created) spdlog::info("created a new identity in {}", config_.identity.string());

  seq_store_ = std::make_unique<SeqStore>(config_.state_dir / "seq.json");
  auto floor = seq_store_->load();
  if (!floor) return StartError{kExitDataErr, floor.error()};
  if (seq_store_->migrated()) {
    spdlog::info(
        "{}: one SEQ mark for all peers (version 1); it becomes the floor for every "
        "peer and the file is rewritten with one mark per peer",
        seq_store_->file().string());
  }

  identity_ = *identity;
  Endpoint::Config endpoint_config;
  endpoint_config.identity = std::move(*identity);
  endpoint_config.random = &random_;
  endpoint_config.seq_floor = *floor;
  endpoint_config.seq_marks_of = [this](const Hashname& peer) {
    return seq_store_->marks_of(peer);
  };
  endpoint_config.max_message_ahead = config_.messages.max_expiry_s;
  endpoint_config.congestion = config_.streams.congestion;
  endpoint_config.accept = [this](const Hashname&) { return accept_any_; };
  endpoint_config.refused_sender = [this](PathId path, const Hashname& sender,
                                          const PublicKey& key) {
    on_refused_sender(path, sender, key);
  };
  // X25519 for KEYs the core does not know is rate-limited per source IP (port ignored) and
  // globally (daemon/handshake_limiter.hpp, docs/daemon-decisions.md).
  auto limiter = std::make_shared<HandshakeLimiter>();
  endpoint_config.admit_expensive = [this, limiter](PathId path) {
    const Instant at(
        std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
    const net::PathAddress* address = network_->address_of(path);
    return address ? limiter->admit(at, address->ip) : limiter->admit_global(at);
  };
  endpoint_ = std::make_unique<Endpoint>(std::move(endpoint_config));
  now();  // anchors Unix time
  routing_ = std::make_unique<Routing>(*endpoint_, routing_config());

  for (auto& module : modules_) {
    if (auto error = module->start()) return error;
  }

  for (const auto& peer : config_.peers) {
    if (auto error = add_configured_peer(peer)) {
      return StartError{kExitConfig, config_.source + ":" + std::to_string(peer.line) + ": peer '" +
                                         peer.name + "': " + *error};
    }
  }

  wait_for_signal();

  std::string listening;
  for (const auto& address : network_->local_addresses()) {
    listening += (listening.empty() ? "" : ", ") + net::to_string(address);
  }
  spdlog::info("e3xd {} running as {}", e3xd_version(), endpoint_->hashname().to_string());
  spdlog::info("listening on {}; control socket {}; {} peer(s) configured",
               listening.empty() ? "nothing" : listening, config_.control_socket.string(),
               config_.peers.size());
  last_drop_summary_ = now();
  housekeeping();
  start_watchdog();
  notify_ready(std::to_string(config_.peers.size()) + " peers configured");
  return std::nullopt;
}

void Host::wait_for_signal() {
  signals_.async_wait([this](const boost::system::error_code& error, int signal) {
    if (error || stopping_) return;
    if (signal == SIGHUP) {
      spdlog::info("SIGHUP: reloading {}", config_file_.string());
      auto result = reload();
      if (!result) spdlog::error("reload failed: {}", result.error().message);
      wait_for_signal();
      return;
    }
    shutdown(signal == SIGINT ? "SIGINT" : "SIGTERM");
  });
}

void Host::start_watchdog() {
  const auto interval = watchdog_interval();
  if (!interval) return;
  watchdog_timer_.expires_after(*interval / 2);
  watchdog_timer_.async_wait([this](const boost::system::error_code& error) {
    if (error || stopping_) return;
    notify_watchdog();
    start_watchdog();
  });
}

void Host::shutdown(const char* why) {
  if (stopping_) return;
  stopping_ = true;
  notify_stopping();
  spdlog::info("{}: shutting down", why);
  core_timer_.cancel();
  core_timer_due_.reset();
  housekeeping_timer_.cancel();
  watchdog_timer_.cancel();
  signals_.cancel();
  resolver_.cancel();
  for (auto& module : modules_) module->stop();
  if (network_) network_->stop();
  if (control_) control_->stop();
  // Every SEQ that left was covered on disk before it left (drive()); what is written now is
  // the peers' newest SEQs seen, so their older handshakes stay stale after a restart.
  if (seq_store_ && endpoint_) {
    if (auto error = seq_store_->renew(seq_lookup(), known_peers(), unix_seconds());
        !error.empty()) {
      spdlog::warn("cannot record the peers' SEQs seen: {}", error);
    }
  }
}

SeqStore::Lookup Host::seq_lookup() const {
  return [this](const Hashname& peer) { return endpoint_->seq_marks(peer); };
}

SeqStore::KnownPeers Host::known_peers() const {
  return [this] { return endpoint_->peers(); };
}

// ---------------------------------------------------------------------------------------
// The driver loop

void Host::on_packet(PathId path, ByteView packet) {
  if (stopping_) return;
  // An authenticated packet makes its path a peer's: its address survives a flood of new
  // ones, and an accepted TCP connection on it stays open (PROTOCOL.md 10.9).
  const std::uint64_t unauthenticated = endpoint_->stats().dropped_unauthenticated;
  const Instant at = now();
  // A router forwards what it routes before any cryptographic work (PROTOCOL.md 12); a packet
  // of a peer we reach through a router is delivered on that relay path.
  const Routing::Decision decision = routing_->on_datagram(at, path, packet);
  if (decision.kind == Routing::Decision::Kind::kForward) {
    network_->send(decision.path, packet);
    return;
  }
  if (decision.kind == Routing::Decision::Kind::kDrop) return;
  if (endpoint_->handle_datagram(at, decision.path, packet)) network_->mark_authenticated(path);
  // A message packet (LENGTH 1: a handshake or an application message) that did not open or
  // authenticate: its sender has the wrong key for us, or is no one we know. Channel packets
  // that fail are left to the counters: a stale exchange sends those after every restart.
  const bool message_packet = packet.size() >= 2 && packet[0] == 0 && packet[1] == 1;
  if (message_packet && endpoint_->stats().dropped_unauthenticated != unauthenticated) {
    on_unauthenticated(path);
  }
  // An introduction (`peer` at a router, `connect` at its target) must take effect before the
  // next datagram of the batch: the packets right behind it are routed by what it sets up.
  // Otherwise drive() runs once for the whole batch (the network's batch handler).
  if (routing_->in_order_needed(path)) drive();
}

void Host::drive() {
  if (stopping_) return;
  // Module code may ask for a drive from inside one of its own hooks (a stream attaches its
  // socket while a channel event is handled). Running the loop again there would hand the
  // module later events before it finished the current one (a stream wrote its second packet
  // before its first); the loop already running picks up whatever the nested call would have.
  if (driving_) return;
  struct Driving {
    bool& flag;
    explicit Driving(bool& f) : flag(f) { flag = true; }
    ~Driving() { flag = false; }
  } driving(driving_);
  bool pumped = false;
  // Packets of one turn mostly go to one peer in a row: held, they leave as runs with one
  // system call each (UDP GSO).
  network_->hold_udp();
  for (;;) {
    bool worked = false;
    // Events before transmits: what a packet delivered is handled (a message stored, mail
    // committed to the inbox) before the ack that the same packet made due can leave, so an
    // ack never covers something a crash could still lose (PROTOCOL.md 14: a mailbox deletes
    // what the recipient acknowledged).
    while (auto event = endpoint_->poll_event()) {
      worked = true;
      handle_event(*event);
    }
    // The SEQ marks on disk must cover every SEQ before a packet carrying it leaves.
    bool may_send = true;
    for (auto& used : endpoint_->take_seq_usage()) uncovered_seqs_.push_back(std::move(used));
    if (!uncovered_seqs_.empty()) {
      if (auto error =
              seq_store_->cover(uncovered_seqs_, seq_lookup(), known_peers(), unix_seconds());
          !error.empty()) {
        // Sending would risk reusing a SEQ after a restart; hold everything back (the core
        // resends handshakes) until the state directory is writable again.
        may_send = false;
        if (seq_mark_failures_++ % 100 == 0) {
          spdlog::error("cannot record the SEQ marks, so nothing is sent: {}", error);
        }
      } else {
        uncovered_seqs_.clear();
      }
    }
    // The endpoint's transmits, those on a relay path rewritten by routing (core/routing.hpp).
    while (auto transmit = routing_->poll_transmit(now())) {
      worked = true;
      if (may_send) {
        network_->send(transmit->path, transmit->packet);
      } else {
        held_back_packets_ += 1;
      }
    }
    if (worked) continue;  // event handlers may have produced more; loop until both are empty
    if (pumped) break;
    // Quiet: modules waiting on core state (capacity, acceptance) act now; once more round
    // sends what they produced.
    pumped = true;
    for (auto& module : modules_) module->pump();
  }
  network_->flush_udp();
  arm_core_timer();
}

void Host::arm_core_timer() {
  auto next = endpoint_->next_timeout();
  if (auto routing = routing_->next_timeout(); routing && (!next || *routing < *next)) {
    next = routing;
  }
  if (!next) {
    if (core_timer_due_) core_timer_.cancel();
    core_timer_due_.reset();
    return;
  }
  // Arming costs a timerfd_settime system call and the cancelled wait's handler. Most drives
  // leave the earliest deadline where it was (a packet moves its own exchange's timers, and
  // with many peers the earliest is usually another's): 10% of a 10,000-peer daemon's CPU at
  // steady keepalive went to arming the timer for the same instant again.
  if (core_timer_due_ == next) return;
  core_timer_due_ = next;
  core_timer_.expires_at(to_steady(*next));
  core_timer_.async_wait([this](const boost::system::error_code& error) {
    // Cancelled: a newer wait (or none, at stop) replaced this one, and core_timer_due_ is its.
    if (error) return;
    core_timer_due_.reset();
    on_core_timer();
  });
}

void Host::on_core_timer() {
  if (stopping_) return;
  const Instant at = now();
  endpoint_->handle_timeout(at);
  routing_->handle_timeout(at);
  drive();
}

void Host::housekeeping() {
  if (stopping_) return;
  connect_due_peers();
  connect_via_routers();
  const Instant at = now();
  for (auto& module : modules_) module->tick(at);
  if (at - last_drop_summary_ >= kDropSummaryInterval) summarise_drops();
  renew_seq_marks();
  drive();
  housekeeping_timer_.expires_after(kHousekeepingInterval);
  housekeeping_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) housekeeping();
  });
}

// The SEQ marks are renewed ahead of the clock here, off the send path, so the SEQs of the
// next keepalive round are covered before they are chosen (seq_store.hpp). A failure here
// is only logged: drive() will not send a SEQ that is not covered, and reports that itself.
void Host::renew_seq_marks() {
  const std::int64_t unix_now = unix_seconds();
  if (!seq_store_->renewal_due(unix_now)) return;
  if (auto error = seq_store_->renew(seq_lookup(), known_peers(), unix_now); !error.empty()) {
    spdlog::warn("cannot renew the SEQ marks: {}", error);
  }
}

// Drops are counted per packet but logged as one summary line per interval, so a flood of
// garbage cannot flood the log.
void Host::summarise_drops() {
  last_drop_summary_ = now();
  const EndpointStats& core = endpoint_->stats();
  const net::NetworkStats& net = network_->stats();
  std::string summary;
  auto add = [&summary](std::uint64_t now_count, std::uint64_t before, const char* what) {
    if (now_count == before) return;
    summary += (summary.empty() ? "" : ", ") + std::to_string(now_count - before) + " " + what;
  };
  const EndpointStats& was = last_endpoint_stats_;
  add(core.dropped_malformed, was.dropped_malformed, "malformed");
  add(core.dropped_unauthenticated, was.dropped_unauthenticated, "unauthenticated");
  add(core.dropped_policy, was.dropped_policy, "from senders not accepted");
  add(core.dropped_stale, was.dropped_stale, "stale handshakes");
  add(core.dropped_unknown_token, was.dropped_unknown_token, "for unknown exchanges");
  add(core.dropped_replay, was.dropped_replay, "replayed");
  add(core.dropped_channel, was.dropped_channel, "bad channel packets");
  add(core.dropped_pending, was.dropped_pending, "over the pending limit");
  add(core.dropped_rate_limited, was.dropped_rate_limited, "handshakes over the rate limit");
  const net::NetworkStats& net_was = last_network_stats_;
  add(net.dropped_oversize, net_was.dropped_oversize, "oversized");
  add(net.dropped_receive_buffer, net_was.dropped_receive_buffer,
      "by the kernel at a full UDP receive buffer (see [udp] receive_buffer)");
  add(net.dropped_uncloak, net_was.dropped_uncloak, "undecloakable");
  add(net.dropped_send_error, net_was.dropped_send_error, "unsendable");
  add(net.dropped_write_queue_full, net_was.dropped_write_queue_full, "over a TCP write queue");
  if (!summary.empty()) {
    spdlog::info("dropped in the last {} s: {}",
                 std::chrono::duration_cast<std::chrono::seconds>(kDropSummaryInterval).count(),
                 summary);
  }
  last_endpoint_stats_ = core;
  last_network_stats_ = net;
}

// Linux caps SO_RCVBUF/SO_SNDBUF at net.core.rmem_max/wmem_max (212 KiB by default) unless
// the process may force them (CAP_NET_ADMIN), which a service running as its own user may
// not: say so once, with the remedy, rather than drop bursts silently.
void Host::warn_of_small_socket_buffers() const {
  const std::vector<net::PathAddress> addresses = network_->local_addresses();
  const std::vector<net::UdpSocket::Buffers> buffers = network_->udp_buffers();
  for (std::size_t i = 0; i < buffers.size() && i < addresses.size(); ++i) {
    const std::size_t receive = buffers[i].receive;
    const std::size_t send = buffers[i].send;
    if (receive < config_.udp.receive_buffer || send < config_.udp.send_buffer) {
      spdlog::warn(
          "udp {}: the kernel gave a receive buffer of {} KiB and a send buffer of {} KiB for "
          "the {} KiB and {} KiB configured; raise net.core.rmem_max and net.core.wmem_max "
          "(sysctl) or run with CAP_NET_ADMIN, or fast streams will lose packets in bursts",
          net::to_string(addresses[i]), receive / 1024, send / 1024,
          config_.udp.receive_buffer / 1024, config_.udp.send_buffer / 1024);
    }
  }
}

}  // namespace e3x::daemon
