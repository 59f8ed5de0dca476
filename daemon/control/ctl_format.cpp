#include "daemon/control/ctl_format.hpp"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>
#include <utility>
#include <vector>

#include <boost/json/serialize.hpp>

#include "daemon/support/encoding.hpp"
#include "daemon/support/text_escape.hpp"

namespace e3x::control {

namespace {

namespace json = boost::json;

// Every string shown to a person is escaped: many carry what a peer chose (message types
// and ids, reported paths, channel types), which must not reach the terminal raw
// (PROTOCOL.md 10.10). Text the daemon made itself is unchanged by it.
constexpr std::size_t kShownTextLimit = 4096;

std::optional<std::string> get_string(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_string()) return std::nullopt;
  return daemon::escape_text(value->get_string(), kShownTextLimit);
}

std::optional<std::int64_t> get_int(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64()) {
    const std::uint64_t u = value->get_uint64();
    return u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(u);
  }
  if (value->is_double() && std::isfinite(value->get_double())) {
    return static_cast<std::int64_t>(value->get_double());
  }
  return std::nullopt;
}

std::optional<double> get_number(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_double()) return value->get_double();
  if (value->is_int64()) return static_cast<double>(value->get_int64());
  if (value->is_uint64()) return static_cast<double>(value->get_uint64());
  return std::nullopt;
}

std::optional<bool> get_bool(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_bool()) return std::nullopt;
  return value->get_bool();
}

// The strings of an array member (non-strings are skipped).
std::vector<std::string> get_strings(const json::object& object, std::string_view key) {
  std::vector<std::string> out;
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_array()) return out;
  for (const json::value& item : value->get_array()) {
    if (item.is_string()) out.emplace_back(daemon::escape_text(item.get_string(), kShownTextLimit));
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::string int_or_unknown(const std::optional<std::int64_t>& value) {
  return value ? std::to_string(*value) : "?";
}

std::string count_bytes(const json::object& object, std::string_view key) {
  const auto value = get_int(object, key);
  if (!value || *value < 0) return "?";
  return format_bytes(static_cast<std::uint64_t>(*value));
}

// "alpha" for a named peer, its hashname otherwise.
std::string peer_label(const json::object& object) {
  if (auto name = get_string(object, "peer")) return *name;
  if (auto hashname = get_string(object, "hashname")) return *hashname;
  return "?";
}

// A printable preview of a message body: up to 60 characters of printable ASCII, quoted;
// empty when the body is not text.
std::string body_preview(const json::object& event) {
  const json::value* value = event.if_contains("body_base64");
  if (value == nullptr || !value->is_string()) return "";
  const std::optional<std::string> encoded = std::string(value->get_string());
  const auto body = daemon::from_base64(*encoded);
  if (!body || body->empty()) return "";
  constexpr std::size_t kPreview = 60;
  std::string text;
  for (std::uint8_t byte : *body) {
    if (byte == '\n' || byte == '\t') byte = ' ';
    if (byte < 0x20 || byte > 0x7e) return "";
    if (text.size() < kPreview) text.push_back(static_cast<char>(byte));
  }
  if (body->size() > kPreview) text += "...";
  return " \"" + text + "\"";
}

// The reload summary as parts ("added alpha, beta"); empty when nothing changed.
std::vector<std::string> reload_parts(const json::object& result) {
  std::vector<std::string> parts;
  for (const char* key : {"added", "removed", "changed"}) {
    const auto names = get_strings(result, key);
    if (!names.empty()) parts.push_back(std::string(key) + " " + join(names));
  }
  const auto restart = get_strings(result, "restart_required");
  if (!restart.empty()) parts.push_back("restart required for " + join(restart));
  return parts;
}

// A peer's "reach" object as "direct", "relayed via hub" or "connecting via hub" (PROTOCOL.md
// 12); nullopt when the peer object has none (an older daemon), so callers show what they
// always did.
std::optional<std::string> reach_text(const json::object& peer) {
  const json::value* reach = peer.if_contains("reach");
  if (reach == nullptr || !reach->is_object()) return std::nullopt;
  std::string out = get_string(reach->get_object(), "kind").value_or("?");
  if (auto via = get_string(reach->get_object(), "via")) out += " via " + *via;
  return out;
}

// A configured name, or the first 12 characters of the hashname (enough to tell peers apart).
std::string short_label(const json::object& object, std::string_view name_key,
                        std::string_view hashname_key) {
  if (auto name = get_string(object, name_key)) return *name;
  if (auto hashname = get_string(object, hashname_key)) return hashname->substr(0, 12);
  return "?";
}

// Rows as aligned columns, two spaces apart, without trailing spaces.
std::string table_text(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

// An outbox row's "deposited" object (PROTOCOL.md 14): the mailbox's label and how long ago
// ("hub", "2 min ago"; "?" when unknown); nullopt when the message was not deposited.
std::optional<std::pair<std::string, std::string>> deposited_at(const json::object& message,
                                                                std::int64_t now) {
  const json::value* deposited = message.if_contains("deposited");
  if (deposited == nullptr || !deposited->is_object()) return std::nullopt;
  const json::object& d = deposited->get_object();
  const auto at = get_int(d, "at");
  return std::pair{short_label(d, "mailbox", "hashname"),
                   at ? format_age(now - *at) : std::string("?")};
}

// "1 message", "3 messages".
std::string count_of(const std::optional<std::int64_t>& count, std::string_view noun) {
  return int_or_unknown(count) + " " + std::string(noun) + (count == 1 ? "" : "s");
}

}  // namespace

std::string format_duration(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  const auto unit = [](std::int64_t value, const char* name) {
    return std::to_string(value) + " " + name;
  };
  const auto two = [&](std::int64_t big, const char* big_name, std::int64_t small,
                       const char* small_name) {
    return small == 0 ? unit(big, big_name) : unit(big, big_name) + ", " + unit(small, small_name);
  };
  if (seconds < 60) return unit(seconds, "s");
  if (seconds < 3600) return two(seconds / 60, "min", seconds % 60, "s");
  if (seconds < 86400) return two(seconds / 3600, "h", seconds % 3600 / 60, "min");
  return two(seconds / 86400, "d", seconds % 86400 / 3600, "h");
}

std::string format_age(std::int64_t seconds) {
  return format_duration(seconds) + " ago";
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr std::array<const char*, 3> kUnits{"KiB", "MiB", "GiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  // Move up while the value would print as 1024.00 or more.
  while (unit + 1 < kUnits.size() && value >= 1024.0 - 0.005) {
    value /= 1024.0;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f %s", value, kUnits[unit]);
  return text;
}

std::string format_rate(double bytes_per_s) {
  if (!std::isfinite(bytes_per_s) || bytes_per_s < 0) return "?";
  char text[64];
  if (bytes_per_s < 999.5) {
    std::snprintf(text, sizeof(text), "%.0f B/s", bytes_per_s);
    return text;
  }
  static constexpr std::array<const char*, 4> kUnits{"KB/s", "MB/s", "GB/s", "TB/s"};
  double value = bytes_per_s / 1000.0;
  std::size_t unit = 0;
  // Move up while the value would print as 1000.0 or more.
  while (unit + 1 < kUnits.size() && value >= 1000.0 - 0.05) {
    value /= 1000.0;
    ++unit;
  }
  std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string format_rtt(double milliseconds) {
  if (!std::isfinite(milliseconds) || milliseconds < 0) return "?";
  char text[64];
  std::snprintf(text, sizeof(text), "%.1f ms", milliseconds);
  return text;
}

std::string format_clock(std::int64_t unix_seconds, std::int64_t utc_offset_s) {
  const std::time_t shifted = static_cast<std::time_t>(unix_seconds + utc_offset_s);
  std::tm tm{};
  if (::gmtime_r(&shifted, &tm) == nullptr) return "?";
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return text;
}

std::string format_path_object(const json::object& path) {
  const std::string type = get_string(path, "type").value_or("?");
  std::string ip = get_string(path, "ip").value_or("?");
  if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";
  return type + " " + ip + ":" + int_or_unknown(get_int(path, "port"));
}

std::string format_status(const json::object& status) {
  // Both are 52 base32 characters; people pasted the hashname as a peer's key, so each line
  // says what it is for.
  std::string out = "e3xd " + get_string(status, "version").value_or("?") + "\n";
  out += "  hashname: " + get_string(status, "hashname").value_or("?") +
         " (our name; not what peers configure)\n";
  out += "  key: " + get_string(status, "key").value_or("?") +
         " (what peers put in their [[peer]] key)\n";
  const auto listen = get_strings(status, "listen");
  out += "  listening: " + (listen.empty() ? std::string("nothing") : join(listen)) + "\n";
  const auto public_paths = get_strings(status, "public_paths");
  out +=
      "  public paths: " + (public_paths.empty() ? std::string("none known") : join(public_paths)) +
      "\n";
  const auto uptime = get_int(status, "uptime_s");
  out += "  uptime: " + (uptime ? format_duration(*uptime) : std::string("?")) + "\n";
  out += "  peers: " + int_or_unknown(get_int(status, "peers_up")) + " up, " +
         int_or_unknown(get_int(status, "peers_total")) + " total\n";
  if (const json::value* messages = status.if_contains("messages");
      messages != nullptr && messages->is_object()) {
    const json::object& m = messages->get_object();
    out += "  outbox: " + int_or_unknown(get_int(m, "outbox")) + " to deliver";
    if (auto expired = get_int(m, "outbox_expired"); expired && *expired > 0) {
      out += ", " + std::to_string(*expired) + " expired";
    }
    out += " (" + count_bytes(m, "outbox_bytes") + ")\n";
    out += "  inbox: " + int_or_unknown(get_int(m, "inbox")) + " unacknowledged (" +
           count_bytes(m, "inbox_bytes") + ")\n";
    if (auto corrupt = get_int(m, "corrupt_files"); corrupt && *corrupt > 0) {
      out += "  damaged message files set aside: " + std::to_string(*corrupt) + "\n";
    }
  }
  if (const json::value* services = status.if_contains("services");
      services != nullptr && services->is_object()) {
    const json::object& s = services->get_object();
    out += "  services: " + int_or_unknown(get_int(s, "services")) + " offered, " +
           int_or_unknown(get_int(s, "forwards")) + " forwards, " +
           int_or_unknown(get_int(s, "streams")) + " open streams\n";
    // Streams since start, and every refusal by its reason (the limits of PROTOCOL.md 11).
    std::string since = int_or_unknown(get_int(s, "streams_in")) + " in, " +
                        int_or_unknown(get_int(s, "streams_out")) + " out";
    for (const char* reason : {"unavailable", "busy", "refused", "forward_refused", "reset"}) {
      if (auto count = get_int(s, reason); count && *count > 0) {
        since += ", " + std::to_string(*count) + " " + reason;
      }
    }
    out += "  streams since start: " + since + "\n";
  }
  // Every silent drop is counted (PROTOCOL.md 4 and 10); the non-zero ones are listed.
  if (const json::value* dropped = status.if_contains("dropped");
      dropped != nullptr && dropped->is_object()) {
    std::vector<std::string> counts;
    for (const auto& [reason, count] : dropped->get_object()) {
      if (count.is_int64() && count.get_int64() > 0) {
        counts.push_back(std::to_string(count.get_int64()) + " " + std::string(reason));
      } else if (count.is_uint64() && count.get_uint64() > 0) {
        counts.push_back(std::to_string(count.get_uint64()) + " " + std::string(reason));
      }
    }
    out += "  dropped: " + (counts.empty() ? std::string("nothing") : join(counts)) + "\n";
  }
  return out;
}

// "paced 91%, congestion window 2%, peer's window 5%, application 2%": where the
// senders' time went while they had something to send or in flight (PathControl's SendLimit).
std::string format_send_limits(const json::object& limited) {
  static constexpr std::pair<const char*, const char*> kReasons[] = {
      {"pacing", "paced"},
      {"congestion_window", "congestion window"},
      {"peer_window", "peer's window"},
      {"application", "application"},
  };
  auto milliseconds_of = [&](const char* key) {  // what is not a time counts as none
    const double value = get_number(limited, key).value_or(0);
    return std::isfinite(value) && value > 0 ? value : 0.0;
  };
  double total = 0;
  for (const auto& [key, label] : kReasons) total += milliseconds_of(key);
  if (!(total > 0) || !std::isfinite(total)) return "";
  std::string out;
  const char* separator = "";
  for (const auto& [key, label] : kReasons) {
    char share[48];
    std::snprintf(share, sizeof share, "%s%s %.0f%%", separator, label,
                  100 * milliseconds_of(key) / total);
    out += share;
    separator = ", ";
  }
  return out;
}

// "newreno, window 1.2 MB (slow start), 340.0 kB in flight, srtt 41.2 ms (min 40.1 ms),
// pacing 98.0 Mbit/s, 3 congestion events"
std::string format_congestion(const json::object& flow) {
  std::string out = get_string(flow, "algorithm").value_or("?");
  if (auto window = get_int(flow, "window")) {
    out += ", window " + format_bytes(static_cast<std::uint64_t>(*window));
  }
  if (const json::value* slow = flow.if_contains("slow_start"); slow && slow->is_bool()) {
    if (slow->get_bool()) out += " (slow start)";
  }
  if (auto in_flight = get_int(flow, "bytes_in_flight")) {
    out += ", " + format_bytes(static_cast<std::uint64_t>(*in_flight)) + " in flight";
  }
  if (auto srtt = get_number(flow, "srtt_ms")) {
    out += ", srtt " + format_rtt(*srtt);
    if (auto min_rtt = get_number(flow, "min_rtt_ms")) out += " (min " + format_rtt(*min_rtt) + ")";
  }
  if (auto pacing = get_number(flow, "pacing_bytes_per_s"); pacing && *pacing > 0) {
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f Mbit/s", *pacing * 8 / 1e6);
    out += std::string(", pacing ") + rate;
  }
  if (auto events = get_int(flow, "congestion_events")) {
    out += ", " + std::to_string(*events) + " congestion event" + (*events == 1 ? "" : "s");
  }
  return out;
}

std::string format_peer(const json::object& peer, std::int64_t now) {
  const auto name = get_string(peer, "name");
  const std::string hashname = get_string(peer, "hashname").value_or("?");
  std::string out = "peer: " + (name ? *name + " (" + hashname + ")" : hashname) + "\n";

  std::string state = get_string(peer, "state").value_or("?");
  if (auto reason = get_string(peer, "reason")) state += " (" + *reason + ")";
  out += "  state: " + state + "\n";

  const auto path = get_string(peer, "path");
  const auto endpoints = get_strings(peer, "endpoints");
  if (path) {
    out += "  endpoint: " + *path + "\n";
    std::vector<std::string> others;
    for (const std::string& other : get_strings(peer, "paths")) {
      if (other != *path) others.push_back(other);
    }
    if (!others.empty()) out += "  other paths: " + join(others) + "\n";
  } else if (!endpoints.empty()) {
    out += "  configured endpoints: " + join(endpoints) + "\n";
  } else {
    out += "  endpoint: none\n";
  }
  if (auto reach = reach_text(peer)) out += "  reach: " + *reach + "\n";

  // Why a configured endpoint gives no address (DNS): kept until it resolves again.
  if (const json::value* errors = peer.if_contains("endpoint_errors");
      errors && errors->is_object()) {
    for (const auto& [endpoint, error] : errors->get_object()) {
      if (!error.is_string()) continue;
      out += "  cannot resolve " + daemon::escape_text(endpoint, kShownTextLimit) + ": " +
             daemon::escape_text(error.get_string(), kShownTextLimit) + "\n";
    }
  }

  const auto handshake = get_int(peer, "last_handshake");
  out += "  latest handshake: " + (handshake ? format_age(now - *handshake) : "never") + "\n";
  out += "  transfer: " + count_bytes(peer, "rx_bytes") + " received, " +
         count_bytes(peer, "tx_bytes") + " sent\n";
  out += "  packets: " + int_or_unknown(get_int(peer, "rx_packets")) + " received, " +
         int_or_unknown(get_int(peer, "tx_packets")) + " sent\n";
  if (auto rtt = get_number(peer, "rtt_ms")) out += "  rtt: " + format_rtt(*rtt) + "\n";
  if (auto keepalive = get_int(peer, "keepalive")) {
    out += "  keepalive: " +
           (*keepalive <= 0 ? std::string("off") : "every " + std::to_string(*keepalive) + " s") +
           "\n";
  }
  out += "  channels: " + int_or_unknown(get_int(peer, "channels")) + "\n";
  if (const json::value* flow = peer.if_contains("congestion"); flow && flow->is_object()) {
    out += "  congestion: " + format_congestion(flow->get_object()) + "\n";
    if (const json::value* limited = flow->get_object().if_contains("limited_ms");
        limited && limited->is_object()) {
      if (auto shares = format_send_limits(limited->get_object()); !shares.empty()) {
        out += "  sending: " + shares + "\n";
      }
    }
  }
  // Hole punching toward a relayed peer, and how its path changed (`peer NAME` only).
  if (const json::value* punch = peer.if_contains("punch"); punch && punch->is_object()) {
    const json::object& p = punch->get_object();
    out += "  punch: " + get_string(p, "state").value_or("?");
    if (auto failure = get_string(p, "last_failure")) out += "; last failure: " + *failure;
    if (auto next = get_number(p, "next_attempt_in"); next && std::isfinite(*next)) {
      out += "; next attempt in " + format_duration(static_cast<std::int64_t>(std::ceil(*next)));
    }
    out += "\n";
  }
  if (const json::value* history = peer.if_contains("path_history");
      history && history->is_array() && !history->get_array().empty()) {
    out += "  path history:\n";
    for (const json::value& value : history->get_array()) {
      if (!value.is_object()) continue;
      const json::object& change = value.get_object();
      const auto at = get_int(change, "at");
      out += "    " + (at ? format_age(now - *at) : std::string("?")) + ": ";
      if (auto from = get_string(change, "from")) out += *from + " -> ";
      out += get_string(change, "to").value_or("?");
      if (auto reason = get_string(change, "reason")) out += " (" + *reason + ")";
      out += "\n";
    }
  }
  if (const json::value* exhausted = peer.if_contains("seq_exhausted");
      exhausted && exhausted->is_bool() && exhausted->get_bool()) {
    out += "  error: no SEQ value is left toward this peer; nothing more can be sent to it\n";
  }
  return out;
}

std::string format_peers(const json::array& peers, std::int64_t now) {
  std::string out;
  for (const json::value& peer : peers) {
    if (!peer.is_object()) continue;
    if (!out.empty()) out += "\n";
    out += format_peer(peer.get_object(), now);
  }
  return out.empty() ? "no peers\n" : out;
}

std::string format_peers_table(const json::array& peers, std::int64_t now) {
  std::vector<std::vector<std::string>> rows{
      {"NAME", "HASHNAME", "STATE", "ENDPOINT", "HANDSHAKE", "RX", "TX", "RTT"}};
  // A REACH column (direct, relayed via hub) only when the daemon reports it (PROTOCOL.md 12).
  const bool with_reach = std::any_of(peers.begin(), peers.end(), [](const json::value& value) {
    return value.is_object() && reach_text(value.get_object());
  });
  if (with_reach) rows.front().insert(rows.front().begin() + 3, "REACH");
  std::vector<std::string> reasons{""};
  for (const json::value& value : peers) {
    if (!value.is_object()) continue;
    const json::object& peer = value.get_object();
    const std::string hashname = get_string(peer, "hashname").value_or("?");
    std::string endpoint = get_string(peer, "path").value_or("");
    if (endpoint.empty()) {
      const auto endpoints = get_strings(peer, "endpoints");
      endpoint = endpoints.empty() ? "-" : endpoints.front();
    }
    const auto handshake = get_int(peer, "last_handshake");
    const auto rtt = get_number(peer, "rtt_ms");
    rows.push_back({get_string(peer, "name").value_or("-"),
                    // Enough of it to tell peers apart; `peer NAME` shows all of it.
                    hashname.substr(0, 12), get_string(peer, "state").value_or("?"), endpoint,
                    handshake ? format_age(now - *handshake) : "never",
                    count_bytes(peer, "rx_bytes"), count_bytes(peer, "tx_bytes"),
                    rtt ? format_rtt(*rtt) : "-"});
    if (with_reach) rows.back().insert(rows.back().begin() + 3, reach_text(peer).value_or("-"));
    reasons.push_back(get_string(peer, "reason").value_or(""));
  }
  if (rows.size() == 1) return "no peers\n";
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t i = 0; i < rows[r].size(); ++i) {
      line += rows[r][i];
      if (i + 1 < rows[r].size()) line += std::string(widths[i] - rows[r][i].size() + 2, ' ');
    }
    // The reason a peer is down goes last: it is the one cell of any length.
    if (!reasons[r].empty()) line += "  (" + reasons[r] + ")";
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string format_reload(const json::object& result) {
  std::string out;
  for (const char* key : {"added", "removed", "changed"}) {
    const auto names = get_strings(result, key);
    if (!names.empty()) out += "peers " + std::string(key) + ": " + join(names) + "\n";
  }
  const auto unchanged = get_strings(result, "unchanged");
  if (out.empty()) {
    out = "peers: no changes";
    if (!unchanged.empty()) out += " (" + std::to_string(unchanged.size()) + " unchanged)";
    out += "\n";
  } else if (!unchanged.empty()) {
    out += "peers unchanged: " + join(unchanged) + "\n";
  }
  const auto applied = get_strings(result, "applied");
  if (!applied.empty()) {
    out += "settings applied:\n";
    for (const std::string& item : applied) out += "  " + item + "\n";
  }
  const auto restart = get_strings(result, "restart_required");
  if (!restart.empty()) {
    out += "restart e3xd to apply:\n";
    for (const std::string& item : restart) out += "  " + item + "\n";
  }
  return out;
}

std::string format_send(const json::object& result, std::string_view peer) {
  const bool duplicate = get_bool(result, "duplicate").value_or(false);
  return std::string(duplicate ? "already accepted" : "accepted") + " message " +
         get_string(result, "id").value_or("?") + " for " + std::string(peer) + " (" +
         int_or_unknown(get_int(result, "bytes")) + " bytes); it is stored and will be delivered\n";
}

std::string format_outbox(const json::array& messages, std::int64_t now) {
  if (messages.empty()) return "outbox empty\n";
  std::string out;
  for (const json::value& value : messages) {
    if (!value.is_object()) continue;
    const json::object& m = value.get_object();
    const std::string state = get_string(m, "state").value_or("?");
    const auto deposited = deposited_at(m, now);
    std::string shown = state;
    if (state == "pending") {
      shown = "queued";
    } else if (state == "deposited") {
      shown = deposited ? "deposited at " + deposited->first + " (" + deposited->second + ")"
                        : "deposited";
    }
    out += get_string(m, "id").value_or("?") + "  to " + peer_label(m) + "  " +
           count_bytes(m, "bytes") + "  " + shown;
    if (auto created = get_int(m, "created")) out += ", accepted " + format_age(now - *created);
    // Delivered or expired after a deposit: where it was left, too.
    if (deposited && state != "deposited") {
      out += ", deposited at " + deposited->first + " " + deposited->second;
    }
    if (auto delivered = get_int(m, "delivered"))
      out += ", delivered " + format_age(now - *delivered);
    out += ", " + int_or_unknown(get_int(m, "attempts")) + " attempt(s)";
    if (auto error = get_string(m, "last_error")) out += "; last error: " + *error;
    out += "\n";
  }
  return out;
}

std::string format_inbox(const json::array& messages, std::int64_t now) {
  if (messages.empty()) return "inbox empty\n";
  std::string out;
  for (const json::value& value : messages) {
    if (!value.is_object()) continue;
    const json::object& m = value.get_object();
    out += get_string(m, "id").value_or("?") + "  from " + peer_label(m) + " (" +
           get_string(m, "hashname").value_or("?") + ")  " + count_bytes(m, "bytes");
    if (auto received = get_int(m, "received")) out += ", received " + format_age(now - *received);
    const auto via = get_string(m, "via");
    if (via && *via == "mailbox") {
      // Picked up from a mailbox (PROTOCOL.md 14): the peer that held it.
      out += " (via " + get_string(m, "mailbox").value_or("?") + ")";
    } else if (via && *via != "network") {
      out += " (" + *via + ")";
    }
    out += "\n";
  }
  return out;
}

std::string format_inbox_ack(const json::object& result) {
  const auto line = [](const json::object& message) {
    return "acknowledged and deleted message " + get_string(message, "id").value_or("?") +
           " from " + peer_label(message) + "\n";
  };
  const json::value* acked = result.if_contains("acked");
  if (acked == nullptr || !acked->is_array()) return line(result);
  std::string out;
  for (const json::value& one : acked->get_array()) {
    if (one.is_object()) out += line(one.get_object());
  }
  return out.empty() ? "nothing to acknowledge\n" : out;
}

std::string format_ping(const json::object& result, std::string_view peer) {
  std::string out = std::string(peer) + " sees us at ";
  const json::value* path = result.if_contains("path");
  out += path != nullptr && path->is_object() ? format_path_object(path->get_object()) : "?";
  if (auto rtt = get_number(result, "rtt_ms")) out += " (rtt " + format_rtt(*rtt) + ")";
  return out + "\n";
}

std::string format_ping_summary(std::string_view peer, std::uint64_t sent, std::uint64_t answered,
                                const std::vector<double>& rtts_ms) {
  const std::uint64_t lost = sent > answered ? sent - answered : 0;
  const std::uint64_t percent = sent == 0 ? 0 : (lost * 100 + sent / 2) / sent;
  std::string out = "--- " + std::string(peer) + ": " + std::to_string(sent) + " sent, " +
                    std::to_string(answered) + " answered, " + std::to_string(percent) + "% lost\n";
  if (rtts_ms.empty()) return out;
  double sum = 0;
  for (const double rtt : rtts_ms) sum += rtt;
  const auto [min, max] = std::minmax_element(rtts_ms.begin(), rtts_ms.end());
  char text[96];
  std::snprintf(text, sizeof text, "rtt min/avg/max %.1f/%.1f/%.1f ms\n", *min,
                sum / static_cast<double>(rtts_ms.size()), *max);
  return out + text;
}

std::string format_speedtest(const json::object& result) {
  auto fixed = [](std::optional<double> value, int decimals) {
    if (!value) return std::string("?");
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, *value);
    return std::string(text);
  };
  std::string out = "speed test to " + get_string(result, "peer").value_or("?") + ": " +
                    fixed(get_number(result, "duration_s"), 1) + " s of " +
                    int_or_unknown(get_int(result, "size")) + "-byte packets\n";
  out += "  sent: " + int_or_unknown(get_int(result, "sent")) + " packets (" +
         int_or_unknown(get_int(result, "send_buffer_full")) + " refused by a full send buffer)\n";
  const auto bytes = get_int(result, "delivered_bytes");
  out += "  delivered: " + int_or_unknown(get_int(result, "delivered")) + " packets, " +
         (bytes ? format_bytes(static_cast<std::uint64_t>(std::max<std::int64_t>(*bytes, 0)))
                : std::string("?")) +
         " (" + fixed(get_number(result, "loss_percent"), 2) + "% lost)\n";
  out += "  rate: " + fixed(get_number(result, "packets_per_s"), 0) + " packets/s, " +
         fixed(get_number(result, "mbit_per_s"), 1) + " Mbit/s\n";
  out += "  cpu: " + fixed(get_number(result, "cpu_us_per_packet"), 1) +
         " us per delivered packet here, " +
         fixed(get_number(result, "receiver_cpu_us_per_packet"), 1) + " us at the peer\n";
  return out;
}

std::string format_event(const json::object& event, std::int64_t utc_offset_s) {
  const auto time = get_int(event, "time");
  std::string out = (time ? format_clock(*time, utc_offset_s) : std::string("?")) + " ";
  const std::string name = get_string(event, "event").value_or("?");
  if (name == "peer_up") {
    out += peer_label(event) + " up via " + get_string(event, "path").value_or("?");
    if (get_bool(event, "new_session").value_or(false)) out += " (new session)";
  } else if (name == "peer_down") {
    out += peer_label(event) + " down";
    if (auto reason = get_string(event, "reason")) out += " (" + *reason + ")";
  } else if (name == "path_changed") {
    out += peer_label(event) + " moved to " + get_string(event, "path").value_or("?");
  } else if (name == "message") {
    out += "message from " + peer_label(event) + ": " + get_string(event, "type").value_or("?") +
           ", " + int_or_unknown(get_int(event, "bytes")) + " bytes, id " +
           get_string(event, "id").value_or("?") + body_preview(event);
  } else if (name == "delivered") {
    out += "message " + get_string(event, "id").value_or("?") + " delivered to " +
           peer_label(event) + " (" + int_or_unknown(get_int(event, "attempts")) + " attempt(s))";
  } else if (name == "expired") {
    out += "message " + get_string(event, "id").value_or("?") + " to " + peer_label(event) +
           " expired undelivered (" + int_or_unknown(get_int(event, "attempts")) +
           " attempt(s)); it stays in the outbox until cancelled";
  } else if (name == "deposited") {
    // Ours, left at a mailbox for the recipient (PROTOCOL.md 14).
    out += "message " + get_string(event, "id").value_or("?") + " for " + peer_label(event) +
           " deposited at " + get_string(event, "mailbox").value_or("?");
  } else if (name == "deposit") {
    // We are the mailbox: a sender left a message for a recipient.
    out += peer_label(event) + " deposited " + int_or_unknown(get_int(event, "bytes")) +
           " bytes for " + get_string(event, "recipient").value_or("?");
  } else if (name == "pickup") {
    out +=
        peer_label(event) + " picked up " + int_or_unknown(get_int(event, "count")) + " message(s)";
  } else if (name == "deposit_refused") {
    const std::string reason = get_string(event, "reason").value_or("?");
    out += "refused a deposit from " + peer_label(event) + " for " +
           get_string(event, "recipient").value_or("?") + " (" +
           (reason == "quota"    ? std::string("over quota")
            : reason == "policy" ? std::string("not allowed by [mailbox] allow")
                                 : reason) +
           ")";
  } else if (name == "mail_expired") {
    out += int_or_unknown(get_int(event, "count")) + " message(s) held for " +
           get_string(event, "recipient").value_or("?") + " expired";
  } else if (name == "stream_open") {
    out += "stream " +
           std::string(get_string(event, "direction").value_or("?") == "in" ? "from " : "to ") +
           peer_label(event) + " service '" + get_string(event, "service").value_or("?") + "' (" +
           get_string(event, "via").value_or("?") + ")";
  } else if (name == "stream_close") {
    out += "stream with " + peer_label(event) + " service '" +
           get_string(event, "service").value_or("?") + "' closed (" +
           get_string(event, "reason").value_or("?") + "; " + count_bytes(event, "bytes_in") +
           " in, " + count_bytes(event, "bytes_out") + " out)";
  } else if (name == "reload") {
    // The reload result's members sit beside "event" (or, tolerated, under "result").
    const json::value* nested = event.if_contains("result");
    const auto parts =
        reload_parts(nested != nullptr && nested->is_object() ? nested->get_object() : event);
    out += "reload: " + (parts.empty() ? std::string("no changes") : join(parts, "; "));
  } else {
    json::object rest = event;
    rest.erase("event");
    rest.erase("time");
    out += name + " " + json::serialize(rest);
  }
  return out + "\n";
}

std::string format_routes(const json::object& result) {
  std::string out;
  const json::value* router = result.if_contains("router");
  const json::object no_router;
  const json::object& r =
      router != nullptr && router->is_object() ? router->get_object() : no_router;
  if (!get_bool(r, "enable").value_or(false)) {
    out = "router off\n";
  } else {
    out = "router on: ";
    if (get_bool(r, "relay").value_or(true)) {
      const auto rate = get_number(r, "relay_rate");
      out += "relays up to " + (rate ? format_rate(*rate) : std::string("?")) + " per pair";
    } else {
      out += "introductions only, no relaying";
    }
    if (auto idle = get_int(r, "relay_idle")) {
      out += ", routes expire after " + format_duration(*idle) + " idle";
    }
    out += "\n";
  }

  std::vector<std::vector<std::string>> rows{
      {"A", "B", "INTRODUCTIONS", "RELAYED", "RATE", "DROPPED", "IDLE", "STATE"}};
  if (const json::value* routes = result.if_contains("routes"); routes && routes->is_array()) {
    for (const json::value& value : routes->get_array()) {
      if (!value.is_object()) continue;
      const json::object& route = value.get_object();
      const auto rate = get_number(route, "rate");
      const auto idle = get_number(route, "idle_seconds");
      const auto relaying = get_bool(route, "relaying");
      rows.push_back(
          {short_label(route, "a", "a_hashname"), short_label(route, "b", "b_hashname"),
           int_or_unknown(get_int(route, "introductions")),
           int_or_unknown(get_int(route, "relayed_packets")) + " packets, " +
               count_bytes(route, "relayed_bytes"),
           rate ? format_rate(*rate) : "?", int_or_unknown(get_int(route, "dropped_rate_limited")),
           idle && std::isfinite(*idle) ? format_duration(static_cast<std::int64_t>(*idle)) : "?",
           relaying ? (*relaying ? "relaying" : "introduced") : "?"});
    }
  }
  if (rows.size() == 1) {
    // Routes linger after a reload turned the router off; "no routes" only says there are none.
    return get_bool(r, "enable").value_or(false) ? out + "no routes\n" : out;
  }
  return out + table_text(rows);
}

std::string format_mailbox(const json::object& result, std::int64_t now) {
  const bool enabled = get_bool(result, "enabled").value_or(false);
  std::string out;
  if (!enabled) {
    out = "mailbox: off (no [mailbox] in the configuration)\n";
  } else {
    const auto quota = [&](std::string_view key) {
      const auto bytes = get_int(result, key);
      return bytes && *bytes >= 0 ? format_bytes(static_cast<std::uint64_t>(*bytes))
                                  : std::string("?");
    };
    const auto max_age = get_int(result, "max_age");
    out = "mailbox on: up to " + quota("quota_per_recipient") + " per recipient, " +
          quota("quota_per_sender") + " per sender, kept at most " +
          (max_age ? format_duration(*max_age) : std::string("?")) + "\n";
    out += "holding " + count_of(get_int(result, "held"), "message") + ", " +
           count_bytes(result, "bytes") + "\n";
  }
  if (const auto error = get_string(result, "read_error")) {
    out +=
        "the mailbox database did not answer (" + *error + "): it may hold more than this shows\n";
  }

  // Who has mail waiting: counts and sizes, never what it says (it is sealed anyway).
  std::vector<std::vector<std::string>> rows{
      {"RECIPIENT", "MESSAGES", "BYTES", "OLDEST", "SENDERS"}};
  if (const json::value* list = result.if_contains("recipients"); list && list->is_array()) {
    for (const json::value& value : list->get_array()) {
      if (!value.is_object()) continue;
      const json::object& r = value.get_object();
      const auto oldest = get_int(r, "oldest");
      rows.push_back({short_label(r, "peer", "hashname"), int_or_unknown(get_int(r, "messages")),
                      count_bytes(r, "bytes"), oldest ? format_age(now - *oldest) : "?",
                      int_or_unknown(get_int(r, "senders"))});
    }
  }
  if (rows.size() > 1) {
    out += table_text(rows);
  } else if (enabled && !result.contains("read_error")) {
    out += "no mail held\n";
  }

  if (const json::value* stats = result.if_contains("stats"); stats && stats->is_object()) {
    const json::object& st = stats->get_object();
    static constexpr std::pair<const char*, const char*> kCounters[] = {
        {"deposits", "deposits"},
        {"duplicates", "duplicates"},
        {"refused_policy", "refused by policy"},
        {"refused_quota", "refused over quota"},
        {"picked_up", "picked up"},
        {"expired", "expired"},
        {"corrupt", "corrupt"}};
    std::vector<std::string> parts;
    bool any = false;
    for (const auto& [key, text] : kCounters) {
      const auto count = get_int(st, key);
      any = any || count.value_or(0) != 0;
      parts.push_back(int_or_unknown(count) + " " + text);
    }
    // Off and never used: the counters say nothing.
    if (enabled || any) out += "since start: " + join(parts) + "\n";
    if (const auto errors = get_int(st, "read_errors"); errors && *errors > 0) {
      out += "database reads failed since start: " + std::to_string(*errors) + "\n";
    }
  }
  return out;
}

std::string format_services(const json::array& services) {
  if (services.empty()) return "no services ([[service]] in the configuration)\n";
  std::string out;
  for (const json::value& value : services) {
    if (!value.is_object()) continue;
    const json::object& service = value.get_object();
    out += get_string(service, "name").value_or("?") + "  " +
           get_string(service, "target").value_or("?") +
           "  allow: " + join(get_strings(service, "allow")) + "\n";
  }
  return out;
}

std::string format_forwards(const json::array& forwards) {
  if (forwards.empty()) return "no forwards ([[forward]] in the configuration)\n";
  std::string out;
  for (const json::value& value : forwards) {
    if (!value.is_object()) continue;
    const json::object& forward = value.get_object();
    out += get_string(forward, "listen").value_or("?") + " -> " +
           get_string(forward, "peer").value_or("?") + " service '" +
           get_string(forward, "service").value_or("?") + "'  ";
    if (auto error = get_string(forward, "error")) {
      out += "failed: " + *error;
    } else {
      out += get_string(forward, "state").value_or("?") + ", " +
             int_or_unknown(get_int(forward, "connections")) + " open, " +
             int_or_unknown(get_int(forward, "accepted")) + " accepted, " +
             int_or_unknown(get_int(forward, "refused")) + " refused, " +
             count_bytes(forward, "bytes_in") + " in, " + count_bytes(forward, "bytes_out") +
             " out";
    }
    out += "\n";
  }
  return out;
}

std::string format_streams(const json::array& streams) {
  if (streams.empty()) return "no open streams\n";
  std::string out;
  for (const json::value& value : streams) {
    if (!value.is_object()) continue;
    const json::object& stream = value.get_object();
    const bool in = get_string(stream, "direction").value_or("") == "in";
    out += std::string(in ? "from " : "to ") + peer_label(stream) + "  service '" +
           get_string(stream, "service").value_or("?") + "' (" +
           get_string(stream, "via").value_or("?") + ")  " +
           get_string(stream, "state").value_or("?") + ", " + count_bytes(stream, "bytes_in") +
           " in, " + count_bytes(stream, "bytes_out") + " out, open " +
           (get_int(stream, "age_s") ? format_duration(*get_int(stream, "age_s")) : "?") + "\n";
  }
  return out;
}

}  // namespace e3x::control
