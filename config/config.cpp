// Reading the e3xd configuration: toml++ parses the text, and the functions below walk the
// tree once, turning every value into its plain struct field or failing with the file, line
// and dotted key of the first problem. docs/config.md is the reference for the schema and
// shows the messages produced here.
#include "config/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "config/byte_size.hpp"
#include "config/suggest.hpp"
#include "core/base32.hpp"
#include "core/stream.hpp"

namespace e3x::config {

namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kMaxKeepaliveS = 86400;  // one day
constexpr std::size_t kMaxPeerName = 64;

// The first schema problem found. Thrown inside this file only, so the walk below reads as
// straight-line code; parse_config turns it into a ConfigError.
struct Failure {
  int line = 0;
  std::string key;
  std::string message;
};

// Where a value sits: the line it starts on and its dotted key.
struct Where {
  int line = 0;
  std::string key;
};

[[noreturn]] void fail(const Where& at, std::string message) {
  throw Failure{at.line, at.key, std::move(message)};
}

int line_of(const toml::node& node) {
  return static_cast<int>(node.source().begin.line);
}

Where where(const toml::node& node, std::string key) {
  return {line_of(node), std::move(key)};
}

// "udp" + "listen" -> "udp.listen"; "" + "identity" -> "identity".
std::string join(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

// "peer" + 2 -> "peer[2]". Indexes are 0-based, like the TOML array positions.
std::string indexed(const std::string& key, std::size_t index) {
  return key + "[" + std::to_string(index) + "]";
}

std::string in_quotes(std::string_view text) {
  return "'" + std::string(text) + "'";
}

// ---- Types ----

// "a string", "an integer", ...: for "expected X, found Y" messages.
const char* type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

[[noreturn]] void fail_type(const toml::node& node, const std::string& key,
                            std::string_view expected) {
  fail(where(node, key), "expected " + std::string(expected) + ", found " + type_name(node.type()));
}

const std::string& get_string(const toml::node& node, const std::string& key,
                              std::string_view expected = "a string") {
  if (!node.is_string()) fail_type(node, key, expected);
  return node.as_string()->get();
}

bool get_bool(const toml::node& node, const std::string& key) {
  if (!node.is_boolean()) fail_type(node, key, "a boolean (true or false)");
  return node.as_boolean()->get();
}

const toml::array& get_array(const toml::node& node, const std::string& key,
                             std::string_view expected) {
  if (!node.is_array()) fail_type(node, key, expected);
  return *node.as_array();
}

const toml::table& get_table(const toml::node& node, const std::string& key,
                             std::string_view expected) {
  if (!node.is_table()) fail_type(node, key, expected);
  return *node.as_table();
}

std::uint32_t get_keepalive(const toml::node& node, const std::string& key) {
  constexpr std::string_view kWhat = "an integer number of seconds (0 to 86400)";
  if (!node.is_integer()) fail_type(node, key, kWhat);
  const std::int64_t value = node.as_integer()->get();
  if (value < 0 || value > kMaxKeepaliveS) {
    fail(where(node, key), "keepalive " + std::to_string(value) +
                               " is out of range; use 0 (off) to 86400 seconds (one day)");
  }
  return static_cast<std::uint32_t>(value);
}

// ---- Keys ----

struct AllowedKey {
  std::string_view name;
  std::string_view shown;  // how the list in messages writes it, e.g. "[udp]"
};

// Fails on the first key (in file order) of `table` that is not allowed. `where_text` is
// how messages name the table: "top-level keys", "keys in [udp]".
void check_keys(const toml::table& table, const std::string& path,
                std::initializer_list<AllowedKey> allowed, std::string_view where_text) {
  // toml::table iterates in key order; report the earliest unknown key in the file instead.
  const toml::key* first = nullptr;
  for (const auto& [key, value] : table) {
    const bool known =
        std::any_of(allowed.begin(), allowed.end(),
                    [&key = key](const AllowedKey& a) { return a.name == key.str(); });
    if (!known && (first == nullptr || key.source().begin < first->source().begin)) first = &key;
  }
  if (first == nullptr) return;

  std::string message = "unknown key " + in_quotes(first->str());
  std::vector<std::string_view> names;
  for (const AllowedKey& a : allowed) names.push_back(a.name);
  if (const auto meant = did_you_mean(first->str(), names)) {
    message += " (did you mean " + in_quotes(*meant) + "?)";
  }
  message += "; allowed " + std::string(where_text) + ": ";
  bool comma = false;
  for (const AllowedKey& a : allowed) {
    message += (comma ? ", " : "") + std::string(a.shown.empty() ? a.name : a.shown);
    comma = true;
  }
  fail({static_cast<int>(first->source().begin.line), join(path, first->str())}, message);
}

// ---- Paths ----

// A path value: non-empty, no '~' (nothing expands it), relative ones joined to base_dir.
fs::path get_path(const toml::node& node, const std::string& key, const fs::path& base_dir) {
  const std::string& text = get_string(node, key, "a path string");
  if (text.empty()) fail(where(node, key), "the path is empty; give a file or directory path");
  if (text.find('\0') != std::string::npos) {
    fail(where(node, key), "the path contains a NUL character");
  }
  if (text[0] == '~') {
    fail(where(node, key), "'~' is not expanded in paths; write the full path");
  }
  const fs::path path(text);
  if (path.is_absolute() || base_dir.empty()) return path;
  return (base_dir / path).lexically_normal();
}

// ---- Addresses ----

// An address split into its parts: "[::1]:80" -> host "::1", bracketed, port "80".
struct HostPort {
  std::string host;
  bool bracketed = false;
  std::string port;
};

// Splits HOST:PORT or [IPV6]:PORT. Messages quote `value` (the whole configured text) and
// show `example`, a well-formed value.
HostPort split_host_port(std::string_view text, std::string_view value, const Where& at,
                         std::string_view example) {
  HostPort out;
  std::string_view rest;
  if (!text.empty() && text[0] == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      fail(at, in_quotes(value) +
                   " has '[' without ']'; write IPv6 addresses as [IPV6]:PORT, e.g. " +
                   "\"[::1]:42424\"");
    }
    out.host = text.substr(1, close - 1);
    out.bracketed = true;
    rest = text.substr(close + 1);
  } else {
    const std::size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      fail(at, in_quotes(value) +
                   " has an IPv6 address without brackets; write it in brackets, as in "
                   "\"[::1]:42424\"");
    }
    out.host = text.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
  }
  if (rest.empty() || rest[0] != ':') {
    fail(at, in_quotes(value) + " has no port; write " + std::string(example));
  }
  out.port = rest.substr(1);
  if (out.host.empty()) fail(at, in_quotes(value) + " has no host; write " + std::string(example));
  return out;
}

// A decimal port in [min_port, 65535].
std::uint16_t parse_port(std::string_view text, const std::string& port_text,
                         std::uint16_t min_port, const Where& at) {
  const bool digits =
      !port_text.empty() && port_text.size() <= 5 &&
      std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const unsigned long value = digits ? std::stoul(port_text) : 0;
  if (!digits || value < min_port || value > 65535) {
    std::string message = in_quotes(text) + ": port " + in_quotes(port_text) + " is ";
    message += digits ? "out of range" : "not a number";
    message += min_port == 0 ? "; use 1 to 65535 (0 picks a free port)" : "; use 1 to 65535";
    fail(at, message);
  }
  return static_cast<std::uint16_t>(value);
}

// The binary form of a numeric address (family first), or empty if it is not one.
std::string numeric_address(const std::string& ip, bool v6) {
  unsigned char bytes[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, ip.c_str(), bytes) != 1) return {};
  return std::string(v6 ? "6" : "4") + std::string(reinterpret_cast<char*>(bytes), v6 ? 16 : 4);
}

// A host name by RFC 1123: dot-separated labels of letters, digits and '-', at most 63 each,
// not starting or ending with '-', 253 in all.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (dot == host.size()) return true;
    start = dot + 1;
  }
}

// A `listen` entry: numeric IPv4 or [IPv6], and a port (0: the system picks one).
ListenAddress parse_listen(std::string_view text, const Where& at, std::string* binary) {
  constexpr std::string_view kExample = "IP:PORT, e.g. \"0.0.0.0:42424\" or \"[::]:42424\"";
  const HostPort parts = split_host_port(text, text, at, kExample);
  *binary = numeric_address(parts.host, parts.bracketed);
  if (binary->empty()) {
    fail(at, in_quotes(text) + ": " + in_quotes(parts.host) + " is not a numeric " +
                 (parts.bracketed ? "IPv6" : "IPv4") +
                 " address; listen addresses are numeric (IPv4, or IPv6 in brackets such as "
                 "\"[::]:42424\")");
  }
  ListenAddress address{parts.host, parse_port(text, parts.port, 0, at)};
  binary->append(reinterpret_cast<const char*>(&address.port), sizeof address.port);
  return address;
}

// A peer endpoint URL: udp://HOST:PORT or tcp://HOST:PORT, HOST a name, IPv4 or [IPv6].
PeerEndpoint parse_endpoint(std::string_view text, const Where& at) {
  constexpr std::string_view kExample =
      "udp://HOST:PORT or tcp://HOST:PORT, e.g. \"udp://192.0.2.7:42424\"";
  PeerEndpoint endpoint;
  endpoint.text = text;
  const std::size_t separator = text.find("://");
  if (separator == std::string_view::npos) {
    fail(at, in_quotes(text) + " has no scheme; write " + std::string(kExample));
  }
  const std::string_view scheme = text.substr(0, separator);
  if (scheme == "udp") {
    endpoint.transport = TransportKind::kUdp;
  } else if (scheme == "tcp") {
    endpoint.transport = TransportKind::kTcp;
  } else {
    fail(at, in_quotes(text) + ": unknown scheme " + in_quotes(scheme) + "; use udp:// or tcp://");
  }
  const std::string_view authority = text.substr(separator + 3);
  const HostPort parts = split_host_port(authority, text, at, kExample);
  const bool all_numeric = std::all_of(parts.host.begin(), parts.host.end(),
                                       [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
  if (parts.bracketed && numeric_address(parts.host, true).empty()) {
    fail(at, in_quotes(text) + ": " + in_quotes(parts.host) + " is not an IPv6 address");
  } else if (!parts.bracketed && all_numeric && numeric_address(parts.host, false).empty()) {
    fail(at, in_quotes(text) + ": " + in_quotes(parts.host) + " is not an IPv4 address");
  } else if (!parts.bracketed && !is_host_name(parts.host)) {
    fail(at, in_quotes(text) + ": " + in_quotes(parts.host) +
                 " is not a host name (letters, digits, '-' and '.') or a numeric address");
  }
  endpoint.host = parts.host;
  endpoint.port = parse_port(text, parts.port, 1, at);
  return endpoint;
}

// ---- Tables ----

std::int64_t get_integer_in(const toml::node& node, const std::string& key, std::int64_t min,
                            std::int64_t max, std::string_view unit);

// A kernel socket buffer size: bytes as an integer or a string with a unit ("4 MiB"); 0 leaves
// the system's default.
std::uint64_t get_size(const toml::node& node, const std::string& key, std::uint64_t min,
                       std::uint64_t max);

std::uint32_t get_socket_buffer(const toml::node& node, const std::string& key) {
  return static_cast<std::uint32_t>(get_size(node, key, 0, std::uint64_t{1} << 30));
}

// [udp] or [tcp]; `config` arrives holding the defaults.
void parse_transport(const toml::node& node, const std::string& name, TransportConfig& config) {
  const toml::table& table = get_table(node, name, "a table ([" + name + "])");
  if (name == "tcp") {
    check_keys(table, name,
               {{"listen", ""}, {"cloak", ""}, {"keepalive", ""}, {"unauthenticated_limit", ""}},
               "keys in [" + name + "]");
  } else {
    check_keys(table, name,
               {{"listen", ""},
                {"cloak", ""},
                {"keepalive", ""},
                {"receive_buffer", ""},
                {"send_buffer", ""},
                {"gso", ""}},
               "keys in [" + name + "]");
  }

  if (const toml::node* listen = table.get("listen")) {
    const std::string key = join(name, "listen");
    const toml::array& list =
        get_array(*listen, key, "an array of addresses such as [\"0.0.0.0:42424\"]");
    config.listen.clear();
    std::vector<std::string> seen;  // binary form of each address, to find duplicates
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Where at = where(list[i], indexed(key, i));
      const std::string& text =
          get_string(list[i], at.key, "an address string such as \"0.0.0.0:42424\"");
      std::string binary;
      ListenAddress address = parse_listen(text, at, &binary);
      // Port 0 asks for a fresh port each time, so repeating it is no conflict.
      const auto same = std::find(seen.begin(), seen.end(), binary);
      if (address.port != 0 && same != seen.end()) {
        const std::size_t other = static_cast<std::size_t>(same - seen.begin());
        fail(at, in_quotes(text) + " is the same address as " + indexed(key, other) + " (" +
                     in_quotes(list[other].as_string()->get()) +
                     "); each address can be listened on only once");
      }
      seen.push_back(binary);
      config.listen.push_back(std::move(address));
    }
  }
  if (const toml::node* cloak = table.get("cloak")) {
    config.cloak = get_bool(*cloak, join(name, "cloak"));
  }
  if (const toml::node* keepalive = table.get("keepalive")) {
    config.keepalive_s = get_keepalive(*keepalive, join(name, "keepalive"));
  }
  if (const toml::node* limit = table.get("unauthenticated_limit")) {
    config.unauthenticated_limit = static_cast<std::uint32_t>(
        get_integer_in(*limit, join(name, "unauthenticated_limit"), 1, 4096, "connections"));
  }
  if (const toml::node* size = table.get("receive_buffer")) {
    config.receive_buffer = get_socket_buffer(*size, join(name, "receive_buffer"));
  }
  if (const toml::node* gso = table.get("gso")) config.gso = get_bool(*gso, join(name, "gso"));
  if (const toml::node* size = table.get("send_buffer")) {
    config.send_buffer = get_socket_buffer(*size, join(name, "send_buffer"));
  }
}

// An integer in [min, max]; `what` describes the unit for messages ("bytes").
std::int64_t get_integer_in(const toml::node& node, const std::string& key, std::int64_t min,
                            std::int64_t max, std::string_view unit) {
  const std::string range =
      std::to_string(min) + " to " + std::to_string(max) + " " + std::string(unit);
  if (!node.is_integer()) fail_type(node, key, "an integer (" + range + ")");
  const std::int64_t value = node.as_integer()->get();
  if (value < min || value > max) {
    fail(where(node, key), std::to_string(value) + " is out of range; use " + range);
  }
  return value;
}

// A size: an integer (bytes) or a string with a unit (config/byte_size.hpp), in [min, max].
std::uint64_t get_size(const toml::node& node, const std::string& key, std::uint64_t min,
                       std::uint64_t max) {
  const std::string expected = "a size such as \"4 MiB\" or a number of bytes, " +
                               std::to_string(min) + " to " + std::to_string(max);
  std::uint64_t value = 0;
  if (node.is_integer()) {
    const std::int64_t bytes = node.as_integer()->get();
    if (bytes < 0) fail(where(node, key), std::to_string(bytes) + " is negative; use " + expected);
    value = static_cast<std::uint64_t>(bytes);
  } else if (node.is_string()) {
    const std::string& text = node.as_string()->get();
    const auto parsed = parse_byte_size(text);
    if (!parsed) {
      fail(where(node, key), in_quotes(text) + " is not a size; use a number and one of " +
                                 std::string(kByteSizeUnits) + ", such as \"4 MiB\"");
    }
    value = *parsed;
  } else {
    fail_type(node, key, expected);
  }
  if (value < min || value > max) {
    fail(where(node, key), std::to_string(value) + " bytes is out of range; use " + expected);
  }
  return value;
}

// [messages]; `config` arrives holding the defaults.
void parse_messages(const toml::node& node, MessagesConfig& config) {
  const toml::table& table = get_table(node, "messages", "a table ([messages])");
  check_keys(table, "messages",
             {{"max_payload", ""},
              {"expiry", ""},
              {"max_expiry", ""},
              {"store_quota", ""},
              {"peer_quota", ""},
              {"deposit_after", ""}},
             "keys in [messages]");
  if (const toml::node* max_payload = table.get("max_payload")) {
    config.max_payload = static_cast<std::uint32_t>(
        get_integer_in(*max_payload, "messages.max_payload", 1, kMaxMessagePayloadLimit, "bytes"));
  }
  if (const toml::node* expiry = table.get("expiry")) {
    // Peers refuse messages expiring more than 30 days ahead unless they say otherwise.
    config.expiry_s = static_cast<std::uint32_t>(
        get_integer_in(*expiry, "messages.expiry", 60, kMaxMessageExpiry, "seconds"));
  }
  if (const toml::node* max_expiry = table.get("max_expiry")) {
    config.max_expiry_s = static_cast<std::uint32_t>(
        get_integer_in(*max_expiry, "messages.max_expiry", 3600, 366 * 24 * 3600, "seconds"));
  }
  if (const toml::node* quota = table.get("store_quota")) {
    config.store_quota = static_cast<std::uint64_t>(
        get_integer_in(*quota, "messages.store_quota", 65536, std::int64_t{1} << 50, "bytes"));
  }
  if (const toml::node* quota = table.get("peer_quota")) {
    config.peer_quota = static_cast<std::uint64_t>(
        get_integer_in(*quota, "messages.peer_quota", 65536, std::int64_t{1} << 50, "bytes"));
  }
  if (const toml::node* after = table.get("deposit_after")) {
    // How long direct delivery is tried before a mailbox is asked (PROTOCOL.md 14).
    config.deposit_after_s = static_cast<std::uint32_t>(
        get_integer_in(*after, "messages.deposit_after", 0, 86400, "seconds"));
  }
}

// [metrics]: one `listen` address, numeric like the transports' (port 0: the system picks).
// [streams]; `config` arrives holding the defaults.
void parse_streams(const toml::node& node, StreamsConfig& config) {
  const toml::table& table = get_table(node, "streams", "a table ([streams])");
  check_keys(table, "streams", {{"congestion", ""}}, "keys in [streams]");
  if (const toml::node* congestion = table.get("congestion")) {
    const std::string& text = get_string(*congestion, "streams.congestion");
    const std::optional<CongestionAlgorithm> parsed = parse_congestion_algorithm(text);
    if (!parsed) {
      fail(where(*congestion, "streams.congestion"), "unknown congestion control " +
                                                         in_quotes(text) +
                                                         "; use \"newreno\", \"cubic\" or \"bbr\"");
    }
    config.congestion = *parsed;
  }
}

void parse_metrics(const toml::node& node, MetricsConfig& config) {
  const toml::table& table = get_table(node, "metrics", "a table ([metrics])");
  check_keys(table, "metrics", {{"listen", ""}}, "keys in [metrics]");
  if (const toml::node* listen = table.get("listen")) {
    const Where at = where(*listen, "metrics.listen");
    const std::string& text =
        get_string(*listen, at.key, "an address string such as \"127.0.0.1:9425\"");
    std::string binary;  // parse_listen's duplicate check key; one address cannot repeat
    config.listen = parse_listen(text, at, &binary);
  }
}

// `allow` of [router] and [mailbox]: "peers" (every configured peer), or a non-empty array of
// peer names or hashnames, in which "peers" may appear too. The names are checked against the
// peers in check_peer_references.
void parse_peer_allow(const toml::node& allow, const std::string& key,
                      std::string_view empty_message, bool& all_peers,
                      std::vector<std::string>& names) {
  constexpr std::string_view kAllowWhat =
      "\"peers\" or an array of peer names or hashnames, such as [\"alice\", \"bob\"]";
  if (allow.is_string()) {
    const std::string& text = allow.as_string()->get();
    if (text != "peers") {
      fail(where(allow, key),
           "unknown value " + in_quotes(text) +
               "; write allow = \"peers\" (every configured peer) or an array of peer names "
               "or hashnames, such as [\"" +
               text + "\"]");
    }
    all_peers = true;
    return;
  }
  const toml::array& list = get_array(allow, key, kAllowWhat);
  if (list.empty()) fail(where(allow, key), std::string(empty_message));
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string& entry = get_string(list[i], indexed(key, i), "a peer name or hashname");
    if (entry == "peers") {
      all_peers = true;
    } else {
      names.push_back(entry);
    }
  }
}

// [router] (PROTOCOL.md 12); `config` arrives holding the defaults. Names in `allow` are
// checked against the peers in check_peer_references.
void parse_router(const toml::node& node, RouterConfig& config) {
  const toml::table& table = get_table(node, "router", "a table ([router])");
  check_keys(table, "router",
             {{"enable", ""}, {"allow", ""}, {"relay", ""}, {"relay_rate", ""}, {"relay_idle", ""}},
             "keys in [router]");
  if (const toml::node* enable = table.get("enable")) {
    config.enable = get_bool(*enable, "router.enable");
  }
  if (const toml::node* allow = table.get("allow")) {
    parse_peer_allow(*allow, "router.allow",
                     "a router must name the peers it routes for; write \"peers\" for every "
                     "configured peer",
                     config.allow_all_peers, config.allow);
  } else if (config.enable) {
    // Never an open relay, and no silent router for nobody either.
    fail(where(node, "router"),
         "missing key 'allow'; an enabled router must name the peers it routes for: allow = "
         "\"peers\" (every configured peer) or an array of peer names or hashnames");
  }
  if (const toml::node* relay = table.get("relay")) config.relay = get_bool(*relay, "router.relay");
  if (const toml::node* rate = table.get("relay_rate")) {
    const std::string& text =
        get_string(*rate, "router.relay_rate", "a rate string such as \"2 MB/s\"");
    const std::optional<std::uint64_t> parsed = parse_byte_rate(text);
    if (!parsed) {
      const std::string_view trimmed = text.ends_with("/s")
                                           ? std::string_view(text).substr(0, text.size() - 2)
                                           : std::string_view();
      if (parse_byte_size(trimmed) == std::uint64_t{0}) {
        fail(where(*rate, "router.relay_rate"),
             in_quotes(text) +
                 " relays nothing; use at least \"1 B/s\", or relay = false to "
                 "stop relaying");
      }
      fail(where(*rate, "router.relay_rate"),
           in_quotes(text) + " is not a rate; use a number, one of " + std::string(kByteSizeUnits) +
               ", and \"/s\", such as \"2 MB/s\"");
    }
    config.relay_rate = *parsed;
  }
  if (const toml::node* idle = table.get("relay_idle")) {
    config.relay_idle_s =
        static_cast<std::uint32_t>(get_integer_in(*idle, "router.relay_idle", 1, 86400, "seconds"));
  }
}

// The smallest mailbox quota: one message packet of the largest size (a 64 KiB TCP frame).
constexpr std::uint64_t kMinMailboxQuota = 64 * 1024;
constexpr std::uint64_t kMaxMailboxQuota = std::uint64_t{1} << 40;  // 1 TiB
constexpr std::int64_t kMinMailboxAge = 60;

// [mailbox] (PROTOCOL.md 14); `config` arrives holding the defaults. Names in `allow` are
// checked against the peers in check_peer_references.
void parse_mailbox(const toml::node& node, MailboxConfig& config) {
  const toml::table& table = get_table(node, "mailbox", "a table ([mailbox])");
  check_keys(table, "mailbox",
             {{"enable", ""},
              {"allow", ""},
              {"quota_per_recipient", ""},
              {"quota_per_sender", ""},
              {"max_age", ""}},
             "keys in [mailbox]");
  if (const toml::node* enable = table.get("enable")) {
    config.enable = get_bool(*enable, "mailbox.enable");
  }
  if (const toml::node* allow = table.get("allow")) {
    parse_peer_allow(*allow, "mailbox.allow",
                     "a mailbox must name the peers it holds mail for; write \"peers\" for every "
                     "configured peer",
                     config.allow_all_peers, config.allow);
  } else if (config.enable) {
    // Never a drop box for anyone who knows our key.
    fail(where(node, "mailbox"),
         "missing key 'allow'; an enabled mailbox must name the peers it holds mail for: allow "
         "= \"peers\" (every configured peer) or an array of peer names or hashnames");
  }
  if (const toml::node* quota = table.get("quota_per_recipient")) {
    config.quota_per_recipient =
        get_size(*quota, "mailbox.quota_per_recipient", kMinMailboxQuota, kMaxMailboxQuota);
  }
  if (const toml::node* quota = table.get("quota_per_sender")) {
    config.quota_per_sender =
        get_size(*quota, "mailbox.quota_per_sender", kMinMailboxQuota, kMaxMailboxQuota);
  }
  if (const toml::node* age = table.get("max_age")) {
    config.max_age_s = static_cast<std::uint32_t>(
        get_integer_in(*age, "mailbox.max_age", kMinMailboxAge, kMaxMessageExpiry, "seconds"));
  }
}

bool is_peer_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxPeerName &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
         });
}

// The value itself is left out of the message, so a secret key pasted here by mistake never
// reaches a log.
std::string key_format_message(std::string_view what, std::string_view text) {
  std::string message = "expected " + std::string(what) +
                        ": 52 base32 characters (a-z, 2-7) that decode to 32 bytes; found ";
  if (text.size() == 52) return message + "52 characters that are not valid base32";
  return message + std::to_string(text.size()) + " characters";
}

// A [[peer]]'s list of other peers' names (`via`, `mailbox`): strings, never the peer itself
// (`role` and `instead` say so: "cannot be its own router; name other ..."), no duplicates.
std::vector<std::string> parse_peer_names(const toml::node& node, const std::string& list_key,
                                          const std::string& self, std::string_view role,
                                          std::string_view instead) {
  const toml::array& list = get_array(node, list_key, "an array of peer names, such as [\"hub\"]");
  std::vector<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Where at = where(list[i], indexed(list_key, i));
    const std::string& name = get_string(list[i], at.key, "a peer name");
    if (name == self) {
      fail(at, "peer " + in_quotes(self) + " cannot be its own " + std::string(role) + "; " +
                   std::string(instead));
    }
    for (std::size_t j = 0; j < names.size(); ++j) {
      if (names[j] == name) {
        fail(at, in_quotes(name) + " is listed twice (also " + indexed(list_key, j) + ")");
      }
    }
    names.push_back(name);
  }
  return names;
}

PeerConfig parse_peer(const toml::node& node, const std::string& path) {
  const toml::table& table = get_table(node, path, "a table ([[peer]])");
  check_keys(table, path,
             {{"name", ""},
              {"key", ""},
              {"hashname", ""},
              {"endpoints", ""},
              {"keepalive", ""},
              {"via", ""},
              {"mailbox", ""}},
             "keys in [[peer]]");
  PeerConfig peer;
  peer.line = line_of(node);

  const toml::node* name = table.get("name");
  if (name == nullptr) {
    fail(where(node, path),
         "missing required key 'name'; every [[peer]] needs a unique name of letters, digits, "
         "'_' and '-'");
  }
  peer.name = get_string(*name, join(path, "name"));
  if (!is_peer_name(peer.name)) {
    fail(where(*name, join(path, "name")),
         "peer name " + in_quotes(peer.name) +
             " may contain only letters, digits, '_' and '-' (1 to 64 characters)");
  }

  const toml::node* key = table.get("key");
  const toml::node* hashname = table.get("hashname");
  if (key != nullptr && hashname != nullptr) {
    fail(where(*hashname, join(path, "hashname")),
         "peer " + in_quotes(peer.name) +
             " has both 'key' and 'hashname'; give only one (the hashname follows from the key)");
  }
  if (key == nullptr && hashname == nullptr) {
    fail(where(node, path), "peer " + in_quotes(peer.name) +
                                " has neither 'key' nor 'hashname'; give exactly one: 'key' "
                                "(its base32 cs3a public key) or 'hashname'");
  }
  if (key != nullptr) {
    const std::string& text = get_string(*key, join(path, "key"), "a base32 string");
    const std::optional<Bytes> bytes = base32_decode(text);
    if (!bytes || bytes->size() != PublicKey{}.size()) {
      fail(where(*key, join(path, "key")), key_format_message("a cs3a public key", text));
    }
    peer.key.emplace();
    std::copy(bytes->begin(), bytes->end(), peer.key->begin());
    peer.hashname = hashname_of(*peer.key);
  } else {
    const std::string& text = get_string(*hashname, join(path, "hashname"), "a base32 string");
    const std::optional<Hashname> parsed = Hashname::parse(text);
    if (!parsed) {
      fail(where(*hashname, join(path, "hashname")), key_format_message("a hashname", text));
    }
    peer.hashname = *parsed;
  }

  if (const toml::node* endpoints = table.get("endpoints")) {
    const std::string list_key = join(path, "endpoints");
    const toml::array& list =
        get_array(*endpoints, list_key, "an array of URLs such as [\"udp://192.0.2.7:42424\"]");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Where at = where(list[i], indexed(list_key, i));
      const std::string& text =
          get_string(list[i], at.key, "a URL string such as \"udp://192.0.2.7:42424\"");
      PeerEndpoint endpoint = parse_endpoint(text, at);
      for (std::size_t j = 0; j < peer.endpoints.size(); ++j) {
        if (peer.endpoints[j].transport == endpoint.transport &&
            peer.endpoints[j].host == endpoint.host && peer.endpoints[j].port == endpoint.port) {
          fail(at, in_quotes(text) + " is listed twice (also " + indexed(list_key, j) + ")");
        }
      }
      peer.endpoints.push_back(std::move(endpoint));
    }
  }
  if (const toml::node* keepalive = table.get("keepalive")) {
    peer.keepalive_s = get_keepalive(*keepalive, join(path, "keepalive"));
  }
  // Routers for this peer (PROTOCOL.md 12) and its mailboxes (14); that they are configured
  // peers is checked in check_peer_references, once every peer is known.
  if (const toml::node* via = table.get("via")) {
    peer.via = parse_peer_names(*via, join(path, "via"), peer.name, "router",
                                "name other configured peers that can reach it");
  }
  if (const toml::node* mailbox = table.get("mailbox")) {
    peer.mailbox = parse_peer_names(*mailbox, join(path, "mailbox"), peer.name, "mailbox",
                                    "name other configured peers that may hold its messages");
  }
  return peer;
}

// A service target: "tcp://HOST:PORT" (HOST a name, IPv4 or [IPv6]) or "unix:/absolute/path".
// A forward's listen address: "IP:PORT" (numeric) or "unix:/absolute/path".
LocalAddress parse_local(std::string_view text, const Where& at, bool is_target) {
  LocalAddress address;
  address.text = text;
  if (text.starts_with("unix:")) {
    address.kind = LocalAddress::Kind::kUnix;
    address.path = std::string(text.substr(5));
    constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;
    if (!address.path.is_absolute()) {
      fail(at,
           in_quotes(text) + ": a Unix socket path must be absolute, e.g. \"unix:/run/app.sock\"");
    }
    if (address.path.native().size() > kMaxSocketPath) {
      fail(at, in_quotes(text) + ": the socket path is longer than " +
                   std::to_string(kMaxSocketPath) + " bytes");
    }
    return address;
  }
  if (is_target) {
    if (!text.starts_with("tcp://")) {
      fail(at, in_quotes(text) +
                   " is not a service target; write \"tcp://HOST:PORT\" (e.g. "
                   "\"tcp://127.0.0.1:22\") or \"unix:/path/to/socket\"");
    }
    const PeerEndpoint endpoint = parse_endpoint(text, at);
    address.host = endpoint.host;
    address.port = endpoint.port;
    return address;
  }
  std::string binary;
  const ListenAddress listen = parse_listen(text, at, &binary);
  if (listen.port == 0) {
    fail(at, in_quotes(text) + ": a forward needs a fixed port (1 to 65535), not 0");
  }
  address.host = listen.ip;
  address.port = listen.port;
  return address;
}

// A list of peer names or hashnames (a service's `allow`).
std::vector<std::string> parse_allow(const toml::node& node, const std::string& key) {
  const toml::array& list =
      get_array(node, key, "an array of peer names or hashnames, such as [\"beta\"]");
  if (list.empty()) {
    fail(where(node, key),
         "a service must name the peers allowed to use it; there is no default allow");
  }
  std::vector<std::string> allow;
  for (std::size_t i = 0; i < list.size(); ++i) {
    allow.push_back(get_string(list[i], indexed(key, i), "a peer name or hashname"));
  }
  return allow;
}

std::vector<ServiceConfig> parse_services(const toml::node& node) {
  if (node.is_table()) {
    fail(where(node, "service"), "'service' must be an array of tables: write [[service]]");
  }
  const toml::array& list = get_array(node, "service", "an array of tables ([[service]])");
  std::vector<ServiceConfig> services;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = indexed("service", i);
    const toml::table& table = get_table(list[i], path, "a table ([[service]])");
    check_keys(table, path, {{"name", ""}, {"target", ""}, {"allow", ""}}, "keys in [[service]]");
    ServiceConfig service;
    service.line = line_of(list[i]);
    for (const char* required : {"name", "target", "allow"}) {
      if (!table.get(required)) {
        fail(where(list[i], path), std::string("missing required key '") + required +
                                       "'; a [[service]] needs name, target and allow");
      }
    }
    const toml::node& name = *table.get("name");
    service.name = get_string(name, join(path, "name"));
    if (!is_service_name(service.name)) {
      fail(where(name, join(path, "name")),
           "service name " + in_quotes(service.name) +
               " may contain only a-z, 0-9, '.', '_' and '-' (1 to 64 characters)");
    }
    for (const ServiceConfig& other : services) {
      if (other.name == service.name) {
        fail(where(name, join(path, "name")),
             "service name " + in_quotes(service.name) + " is already used (line " +
                 std::to_string(other.line) + "); service names must be unique");
      }
    }
    const toml::node& target = *table.get("target");
    service.target = parse_local(get_string(target, join(path, "target")),
                                 where(target, join(path, "target")), true);
    service.allow = parse_allow(*table.get("allow"), join(path, "allow"));
    services.push_back(std::move(service));
  }
  return services;
}

std::vector<ForwardConfig> parse_forwards(const toml::node& node) {
  if (node.is_table()) {
    fail(where(node, "forward"), "'forward' must be an array of tables: write [[forward]]");
  }
  const toml::array& list = get_array(node, "forward", "an array of tables ([[forward]])");
  std::vector<ForwardConfig> forwards;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = indexed("forward", i);
    const toml::table& table = get_table(list[i], path, "a table ([[forward]])");
    check_keys(table, path, {{"listen", ""}, {"peer", ""}, {"service", ""}}, "keys in [[forward]]");
    ForwardConfig forward;
    forward.line = line_of(list[i]);
    for (const char* required : {"listen", "peer", "service"}) {
      if (!table.get(required)) {
        fail(where(list[i], path), std::string("missing required key '") + required +
                                       "'; a [[forward]] needs listen, peer and service");
      }
    }
    const toml::node& listen = *table.get("listen");
    forward.listen = parse_local(get_string(listen, join(path, "listen")),
                                 where(listen, join(path, "listen")), false);
    for (const ForwardConfig& other : forwards) {
      if (other.listen.kind == forward.listen.kind && other.listen.host == forward.listen.host &&
          other.listen.port == forward.listen.port && other.listen.path == forward.listen.path) {
        fail(where(listen, join(path, "listen")),
             in_quotes(forward.listen.text) +
                 " is already the listen address of the forward at "
                 "line " +
                 std::to_string(other.line));
      }
    }
    forward.peer = get_string(*table.get("peer"), join(path, "peer"));
    const toml::node& service = *table.get("service");
    forward.service = get_string(service, join(path, "service"));
    if (!is_service_name(forward.service)) {
      fail(where(service, join(path, "service")),
           "service name " + in_quotes(forward.service) +
               " may contain only a-z, 0-9, '.', '_' and '-' (1 to 64 characters)");
    }
    forwards.push_back(std::move(forward));
  }
  return forwards;
}

// Names in services' `allow` and forwards' `peer` must be configured peers (a hashname may
// also be given in `allow`, for a peer admitted by accept = "any").
void check_peer_references(const toml::table& root, const Config& config) {
  const auto configured = [&](const std::string& name) {
    return std::any_of(config.peers.begin(), config.peers.end(),
                       [&](const PeerConfig& peer) { return peer.name == name; });
  };
  const auto names = [&] {
    std::string list;
    for (const PeerConfig& peer : config.peers) list += (list.empty() ? "" : ", ") + peer.name;
    return list.empty() ? std::string("none configured") : "configured: " + list;
  };
  for (std::size_t i = 0; i < config.services.size(); ++i) {
    const toml::node& allow = *root.get("service")->as_array()->get(i)->as_table()->get("allow");
    const ServiceConfig& service = config.services[i];
    for (std::size_t j = 0; j < service.allow.size(); ++j) {
      const std::string& entry = service.allow[j];
      if (configured(entry) || Hashname::parse(entry)) continue;
      fail(
          where(*allow.as_array()->get(j), indexed(join(indexed("service", i), "allow"), j)),
          in_quotes(entry) + " is neither a configured peer name nor a hashname (" + names() + ")");
    }
  }
  for (std::size_t i = 0; i < config.forwards.size(); ++i) {
    const toml::node& peer = *root.get("forward")->as_array()->get(i)->as_table()->get("peer");
    if (!configured(config.forwards[i].peer)) {
      fail(where(peer, join(indexed("forward", i), "peer")),
           in_quotes(config.forwards[i].peer) + " is not a configured peer name (" + names() + ")");
    }
  }
  // [router] and [mailbox] allow: like a service's (the "peers" entries stand for every
  // configured peer).
  for (const char* table : {"router", "mailbox"}) {
    const toml::node* section = root.get(table);
    const toml::node* allow = section ? section->as_table()->get("allow") : nullptr;
    if (allow == nullptr || !allow->is_array()) continue;
    const toml::array& list = *allow->as_array();
    for (std::size_t j = 0; j < list.size(); ++j) {
      const std::string& entry = list[j].as_string()->get();
      if (entry == "peers" || configured(entry) || Hashname::parse(entry)) continue;
      fail(where(list[j], indexed(join(table, "allow"), j)),
           in_quotes(entry) + " is neither a configured peer name nor a hashname (" + names() +
               "; \"peers\" stands for all of them)");
    }
  }
  // A peer's routers and mailboxes are configured peers, named.
  for (std::size_t i = 0; i < config.peers.size(); ++i) {
    const PeerConfig& peer = config.peers[i];
    const toml::table& table = *root.get("peer")->as_array()->get(i)->as_table();
    for (const auto& [key, list] :
         {std::pair<const char*, const std::vector<std::string>*>{"via", &peer.via},
          {"mailbox", &peer.mailbox}}) {
      for (std::size_t j = 0; j < list->size(); ++j) {
        if (configured((*list)[j])) continue;
        fail(where(*table.get(key)->as_array()->get(j), indexed(join(indexed("peer", i), key), j)),
             in_quotes((*list)[j]) + " is not a configured peer name (" + names() + ")");
      }
    }
  }
}

std::vector<PeerConfig> parse_peers(const toml::node& node) {
  if (node.is_table()) {
    fail(where(node, "peer"),
         "'peer' must be an array of tables: write [[peer]] (double brackets) before each peer");
  }
  const toml::array& list = get_array(node, "peer", "an array of tables ([[peer]])");
  std::vector<PeerConfig> peers;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = indexed("peer", i);
    PeerConfig peer = parse_peer(list[i], path);
    const toml::table& table = *list[i].as_table();
    for (std::size_t j = 0; j < peers.size(); ++j) {
      const std::string other =
          indexed("peer", j) + " (line " + std::to_string(peers[j].line) + ")";
      if (peers[j].name == peer.name) {
        const std::string message = "peer name " + in_quotes(peer.name) + " is already used by " +
                                    other + "; peer names must be unique";
        fail(where(*table.get("name"), join(path, "name")), message);
      }
      if (peers[j].hashname == peer.hashname) {
        const char* field = peer.key ? "key" : "hashname";
        fail(where(*table.get(field), join(path, field)),
             "peer " + in_quotes(peer.name) + " has the same hashname as peer " +
                 in_quotes(peers[j].name) + ", " + other + "; each peer may appear only once");
      }
    }
    peers.push_back(std::move(peer));
  }
  return peers;
}

Config parse_root(const toml::table& root, std::string source, const fs::path& base_dir) {
  check_keys(root, "",
             {{"identity", ""},
              {"state_dir", ""},
              {"control_socket", ""},
              {"log_level", ""},
              {"accept", ""},
              {"udp", "[udp]"},
              {"tcp", "[tcp]"},
              {"messages", "[messages]"},
              {"streams", "[streams]"},
              {"metrics", "[metrics]"},
              {"router", "[router]"},
              {"mailbox", "[mailbox]"},
              {"peer", "[[peer]]"},
              {"service", "[[service]]"},
              {"forward", "[[forward]]"}},
             "top-level keys");
  Config config;
  config.source = std::move(source);

  const toml::node* state_dir = root.get("state_dir");
  config.state_dir = state_dir ? get_path(*state_dir, "state_dir", base_dir) : "/var/lib/e3xd";
  const toml::node* identity = root.get("identity");
  config.identity =
      identity ? get_path(*identity, "identity", base_dir) : config.state_dir / "identity.json";
  if (const toml::node* socket = root.get("control_socket")) {
    config.control_socket = get_path(*socket, "control_socket", base_dir);
    // The kernel caps a Unix socket path at sizeof(sun_path) - 1 bytes.
    constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;
    const std::size_t length = config.control_socket.native().size();
    if (length > kMaxSocketPath) {
      fail(where(*socket, "control_socket"),
           "the socket path is " + std::to_string(length) +
               " bytes long; a Unix socket path may have at most " +
               std::to_string(kMaxSocketPath) + " bytes");
    }
  } else {
    config.control_socket = "/run/e3xd/control.sock";
  }

  if (const toml::node* level = root.get("log_level")) {
    const std::string& text = get_string(*level, "log_level");
    const std::optional<LogLevel> parsed = parse_log_level(text);
    if (!parsed) {
      fail(where(*level, "log_level"),
           "unknown log level " + in_quotes(text) + "; use one of trace, debug, info, warn, error");
    }
    config.log_level = *parsed;
  }
  if (const toml::node* accept = root.get("accept")) {
    const std::string& text = get_string(*accept, "accept");
    if (text == "peers") {
      config.accept = Accept::kPeers;
    } else if (text == "any") {
      config.accept = Accept::kAny;
    } else {
      fail(where(*accept, "accept"),
           "unknown accept policy " + in_quotes(text) +
               "; use \"peers\" (only [[peer]] entries may connect) or \"any\" (any endpoint may "
               "connect)");
    }
  }

  // The defaults that apply when a table or key is absent.
  config.udp = TransportConfig{{ListenAddress{"0.0.0.0", 42424}}, true, 25};
  config.tcp = TransportConfig{{}, true, 300};
  if (const toml::node* udp = root.get("udp")) parse_transport(*udp, "udp", config.udp);
  if (const toml::node* tcp = root.get("tcp")) parse_transport(*tcp, "tcp", config.tcp);
  if (const toml::node* messages = root.get("messages")) {
    parse_messages(*messages, config.messages);
  }
  if (const toml::node* streams = root.get("streams")) parse_streams(*streams, config.streams);
  if (const toml::node* metrics = root.get("metrics")) parse_metrics(*metrics, config.metrics);
  if (const toml::node* router = root.get("router")) parse_router(*router, config.router);
  if (const toml::node* mailbox = root.get("mailbox")) parse_mailbox(*mailbox, config.mailbox);
  if (const toml::node* peers = root.get("peer")) config.peers = parse_peers(*peers);
  if (const toml::node* services = root.get("service")) config.services = parse_services(*services);
  if (const toml::node* forwards = root.get("forward")) config.forwards = parse_forwards(*forwards);
  check_peer_references(root, config);
  return config;
}

// toml++ descriptions may quote raw control characters ("saw 'tru\n'"); a message stays on
// one line.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

constexpr std::string_view kDefaultConfigText =
    R"(# The embedded default configuration of e3xd, used when it runs without --config.
# Relative paths are relative to the working directory.
state_dir = "e3xd-state"
identity = "e3xd-state/identity.json"
control_socket = "e3xd-state/control.sock"
log_level = "info"
accept = "peers"

[udp]
listen = ["127.0.0.1:42424"]
cloak = true
keepalive = 25

[tcp]
listen = []
cloak = true
keepalive = 300
)";

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += (out.empty() ? "line " : ":") + std::to_string(line);
  for (const std::string* part : {&key, &message}) {
    if (part->empty()) continue;
    if (!out.empty()) out += ": ";
    out += *part;
  }
  return out;
}

Result<Config, ConfigError> parse_config(std::string_view toml_text, std::string source,
                                         const std::filesystem::path& base_dir) {
  try {
    const toml::table root = toml::parse(toml_text, std::string_view(source));
    return parse_root(root, source, base_dir);
  } catch (const toml::parse_error& error) {
    return unexpected(ConfigError{ConfigError::Kind::kSyntax, source,
                                  static_cast<int>(error.source().begin.line), "",
                                  "not valid TOML: " + printable(error.description())});
  } catch (const Failure& failure) {
    return unexpected(ConfigError{ConfigError::Kind::kSchema, source, failure.line, failure.key,
                                  failure.message});
  }
}

Result<Config, ConfigError> load_config(const std::filesystem::path& file) {
  const auto unreadable = [&](std::string why) {
    return unexpected(ConfigError{ConfigError::Kind::kUnreadable, file.string(), 0, "",
                                  "cannot read the configuration file: " + std::move(why)});
  };
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unreadable(std::strerror(errno));
  std::string text;
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return unreadable(std::strerror(error));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return unreadable(S_ISDIR(info.st_mode) ? "it is a directory" : "it is not a regular file");
  }
  char buffer[8192];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      return unreadable(std::strerror(error));
    }
    if (got == 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);

  // Relative paths are resolved against the file's directory, made absolute so a later
  // change of working directory does not move them.
  std::error_code ignored;
  fs::path absolute = fs::absolute(file, ignored);
  if (absolute.empty()) absolute = file;
  return parse_config(text, file.string(), absolute.parent_path());
}

std::string_view default_config_text() {
  return kDefaultConfigText;
}

Config default_config() {
  // config_parse_test checks that the embedded text parses, so value() cannot throw here.
  return parse_config(kDefaultConfigText, "<default>", "").value();
}

}  // namespace e3x::config
