// The e3xd configuration: TOML (toml++) in, plain validated structs out. No TOML type leaks
// past this header. The schema is exact: an unknown key is an error, so typos never pass
// silently, and every error names the file, line and key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/congestion.hpp"
#include "core/cs3a.hpp"
#include "core/hashname.hpp"
#include "core/result.hpp"

namespace e3x::config {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
const char* to_string(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view text);

enum class Accept { kPeers, kAny };

enum class TransportKind { kUdp, kTcp };

// A numeric socket address from a `listen` list: "0.0.0.0:42424" or "[::]:42424".
struct ListenAddress {
  std::string ip;  // numeric IPv4 or IPv6, without brackets
  std::uint16_t port = 0;
  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

// A peer endpoint: "udp://192.0.2.7:42424", "tcp://[2001:db8::7]:42424",
// "udp://host.example:42424". `host` is resolved by the daemon.
struct PeerEndpoint {
  TransportKind transport = TransportKind::kUdp;
  std::string host;  // name or numeric address, without brackets
  std::uint16_t port = 0;
  std::string text;  // as written in the config, for messages
  friend bool operator==(const PeerEndpoint&, const PeerEndpoint&) = default;
};

inline constexpr std::uint32_t kDefaultSocketBuffer = 4 * 1024 * 1024;

struct TransportConfig {
  std::vector<ListenAddress> listen;
  bool cloak = true;
  std::uint32_t keepalive_s = 25;  // 0: off
  // TCP only: accepted connections from one source address that have not yet delivered an
  // authenticated packet, at most (PROTOCOL.md 10.9).
  std::uint32_t unauthenticated_limit = 16;
  // UDP only: kernel buffer sizes in bytes (0: the system's default). 4 MiB holds about 3,000
  // full-size datagrams, a window of a fast stream; Linux's default holds 150.
  std::uint32_t receive_buffer = kDefaultSocketBuffer;
  std::uint32_t send_buffer = kDefaultSocketBuffer;
  // UDP only: send runs of datagrams to one peer with one system call (UDP GSO). Off for a
  // path whose devices mishandle it, or to keep per-datagram loss emulation honest (a firewall
  // rule before segmentation drops a whole run).
  bool gso = true;
  friend bool operator==(const TransportConfig&, const TransportConfig&) = default;
};

// [messages]: the durable outbox and inbox of application messages (docs/messages.md).
inline constexpr std::uint32_t kMaxMessagePayloadLimit = 65000;  // one 64 KiB TCP frame
// Recipients refuse messages that expire further ahead than their maximum, 30 days unless
// they configure otherwise (PROTOCOL.md 10.7); our own expiry stays within that default.
inline constexpr std::uint32_t kMaxMessageExpiry = 30 * 24 * 3600;
struct MessagesConfig {
  std::uint32_t max_payload = 60 * 1024;   // bytes; 1 to kMaxMessagePayloadLimit
  std::uint32_t expiry_s = 7 * 24 * 3600;  // undelivered after this long: reported as expired
  std::uint64_t store_quota = 256ull * 1024 * 1024;  // bytes, for the outbox and for the inbox
  // Received messages expiring further ahead than this are dropped (no receipt).
  std::uint32_t max_expiry_s = kMaxMessageExpiry;
  // Bytes of unacknowledged messages one peer may have in our inbox (tombstones excluded),
  // so no peer can fill the inbox for everyone (PROTOCOL.md 10, issue 10 item 9).
  std::uint64_t peer_quota = 64ull * 1024 * 1024;
  // A message not delivered directly this long (seconds) is deposited at the recipient's
  // mailboxes ([[peer]] mailbox); 0: at once. Also at once while the recipient has no
  // exchange up (PROTOCOL.md 14).
  std::uint32_t deposit_after_s = 30;
  friend bool operator==(const MessagesConfig&, const MessagesConfig&) = default;
};

// Where a service is reached or a forward listens (PROTOCOL.md 11): a TCP address, or a Unix
// socket path.
struct LocalAddress {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // kTcp: numeric IP or (service targets only) a host name, no brackets
  std::uint16_t port = 0;
  std::filesystem::path path;  // kUnix: absolute
  std::string text;            // as written, for messages and status
  friend bool operator==(const LocalAddress&, const LocalAddress&) = default;
};

// [[service]]: a local service that named peers may reach over a stream.
struct ServiceConfig {
  std::string name;                // 1 to 64 of [a-z0-9._-]
  LocalAddress target;             // "tcp://127.0.0.1:22" or "unix:/run/app.sock"
  std::vector<std::string> allow;  // configured peer names or hashnames; never empty
  int line = 0;
  friend bool operator==(const ServiceConfig&, const ServiceConfig&) = default;
};

// [[forward]]: a local listener whose every connection becomes a stream to a peer's service.
struct ForwardConfig {
  LocalAddress listen;  // "127.0.0.1:2222" or "unix:/run/e3xd/beta-ssh.sock"
  std::string peer;     // a configured peer's name
  std::string service;
  int line = 0;
  friend bool operator==(const ForwardConfig&, const ForwardConfig&) = default;
};

// [streams]: reliable channels (streams, messages' transfers) at speed (PROTOCOL.md 13).
struct StreamsConfig {
  // The congestion control of every exchange's path: "bbr" (the default), "newreno" or
  // "cubic" (docs/core-decisions.md says why BBR is the default).
  CongestionAlgorithm congestion = CongestionAlgorithm::kBbr;
  friend bool operator==(const StreamsConfig&, const StreamsConfig&) = default;
};

// [metrics]: the Prometheus endpoint (docs/config.md). Off unless `listen` is given; the
// counters it serves need no authentication to read, so it belongs on loopback or a
// monitoring network.
struct MetricsConfig {
  std::optional<ListenAddress> listen;  // HTTP GET /metrics here
  friend bool operator==(const MetricsConfig&, const MetricsConfig&) = default;
};

// [router]: introducing and relaying for pairs of our peers that cannot reach each other
// directly (PROTOCOL.md 12). Off unless configured; never an open relay.
struct RouterConfig {
  bool enable = false;
  // `allow = "peers"`, or "peers" in the list: every configured peer.
  bool allow_all_peers = false;
  // Configured peer names or hashnames (as written) it introduces and relays for; both ends of
  // a pair must be allowed.
  std::vector<std::string> allow;
  bool relay = true;                     // keep forwarding when no direct path can be made
  std::uint64_t relay_rate = 2'000'000;  // bytes per second, per pair
  std::uint32_t relay_idle_s = 120;      // a route without traffic this long expires
  friend bool operator==(const RouterConfig&, const RouterConfig&) = default;
};

// [mailbox]: this daemon holds sealed messages for peers that are offline (PROTOCOL.md 14).
struct MailboxConfig {
  bool enable = false;
  // `allow = "peers"`, or "peers" in the list: every configured peer.
  bool allow_all_peers = false;
  // Configured peer names or hashnames (as written) that may deposit, and for whom mail is
  // held: both the sender and the recipient of a deposit must be allowed.
  std::vector<std::string> allow;
  std::uint64_t quota_per_recipient = 64ull * 1024 * 1024;  // bytes held for one recipient
  std::uint64_t quota_per_sender = 16ull * 1024 * 1024;     // bytes held from one sender
  std::uint32_t max_age_s = 7 * 24 * 3600;  // never kept longer, whatever the message says
  friend bool operator==(const MailboxConfig&, const MailboxConfig&) = default;
};

struct PeerConfig {
  std::string name;              // unique; [A-Za-z0-9_-]+
  std::optional<PublicKey> key;  // from `key`
  Hashname hashname;             // from `key`, or `hashname` for a peer that only connects
  std::vector<PeerEndpoint> endpoints;
  std::optional<std::uint32_t> keepalive_s;  // override of the transport's keepalive
  // Names of configured peers that may introduce us to this one (and relay), in order of
  // preference (PROTOCOL.md 12). Never the peer itself; no duplicates.
  std::vector<std::string> via;
  // Names of configured peers that may hold our messages for this one while it is offline
  // (PROTOCOL.md 14), in order of preference. Never the peer itself; no duplicates.
  std::vector<std::string> mailbox;
  int line = 0;  // where the [[peer]] table starts
  friend bool operator==(const PeerConfig&, const PeerConfig&) = default;
};

struct Config {
  std::string source;  // the file name errors and logs use ("<default>" for the embedded one)
  // Relative paths in a file are resolved against the file's directory; in the embedded
  // default, against the working directory.
  std::filesystem::path identity;
  std::filesystem::path state_dir;
  std::filesystem::path control_socket;
  LogLevel log_level = LogLevel::kInfo;
  Accept accept = Accept::kPeers;
  TransportConfig udp{{}, true, 25};
  TransportConfig tcp{{}, true, 300};
  MessagesConfig messages;
  StreamsConfig streams;
  MetricsConfig metrics;
  RouterConfig router;
  MailboxConfig mailbox;
  std::vector<PeerConfig> peers;
  std::vector<ServiceConfig> services;
  std::vector<ForwardConfig> forwards;
};

struct ConfigError {
  enum class Kind {
    kUnreadable,  // missing file, permission denied, not a regular file
    kSyntax,      // not valid TOML
    kSchema,      // valid TOML, wrong keys or values
  };
  Kind kind = Kind::kSchema;
  std::string file;
  int line = 0;     // 0 when there is no position (unreadable file)
  std::string key;  // dotted path, e.g. "peer[2].endpoints[0]"; empty for syntax errors
  std::string message;
  // "FILE:LINE: KEY: MESSAGE" (parts that are absent are left out).
  std::string to_string() const;
};

// Parses TOML text. `source` names it in errors; `base_dir` resolves relative paths.
Result<Config, ConfigError> parse_config(std::string_view toml_text, std::string source,
                                         const std::filesystem::path& base_dir);
// Reads and parses a file.
Result<Config, ConfigError> load_config(const std::filesystem::path& file);

// The embedded default used when e3xd runs without --config: identity and state under
// ./e3xd-state, UDP on 127.0.0.1:42424, control socket ./e3xd-state/control.sock, no peers.
std::string_view default_config_text();
Config default_config();

}  // namespace e3x::config
