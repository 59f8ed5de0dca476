#include "daemon/modules/metrics/metrics_format.hpp"

#include <charconv>
#include <cmath>
#include <span>

namespace e3x::daemon {

namespace json = boost::json;

namespace {

// Label values escape backslash, double quote and newline; help text backslash and newline.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

const json::value* member(const json::object& object, std::string_view key) {
  return object.if_contains(key);
}

const json::object* object_member(const json::object& object, std::string_view key) {
  const json::value* value = member(object, key);
  return value && value->is_object() ? &value->get_object() : nullptr;
}

bool is_number(const json::value* value) {
  return value && (value->is_int64() || value->is_uint64() || value->is_double());
}

// One metric taken from a member of a JSON object.
struct FromMember {
  std::string_view key;
  std::string_view name;
  std::string_view type;
  std::string_view help;
};

// status itself.
constexpr FromMember kStatus[] = {
    {"uptime_s", "e3xd_uptime_seconds", "gauge", "Seconds since e3xd started."},
    {"peers_total", "e3xd_peers", "gauge", "Peers: configured ones, and others admitted."},
    {"peers_up", "e3xd_peers_up", "gauge", "Peers with an exchange up."},
};

// status.counters: the core's work since start.
constexpr FromMember kCounters[] = {
    {"x25519_operations", "e3xd_x25519_operations_total", "counter",
     "X25519 scalar multiplications (key generation and shared secrets) since start."},
    {"datagrams_received", "e3xd_datagrams_received_total", "counter",
     "Packets handed to the protocol core since start, whatever became of them."},
    {"handshakes_received", "e3xd_handshakes_received_total", "counter",
     "Authenticated handshakes received since start."},
    {"handshakes_sent", "e3xd_handshakes_sent_total", "counter",
     "Handshakes sent since start, resends included."},
    {"channel_packets_received", "e3xd_channel_packets_received_total", "counter",
     "Channel packets received since start, authenticated and not replayed."},
    {"channel_packets_sent", "e3xd_channel_packets_sent_total", "counter",
     "Channel packets sent since start."},
    {"message_packets_received", "e3xd_message_packets_received_total", "counter",
     "Authenticated application message packets received since start, repeats included."},
    {"message_packets_sent", "e3xd_message_packets_sent_total", "counter",
     "Application message packets sent since start, resends included."},
};

// status.messages: the outbox and inbox (the outbox's two states are one labelled family).
constexpr FromMember kMessages[] = {
    {"outbox_bytes", "e3xd_outbox_bytes", "gauge",
     "Bytes of the messages in the outbox, pending and expired."},
    {"inbox", "e3xd_inbox_messages", "gauge", "Received messages not yet acknowledged."},
    {"inbox_bytes", "e3xd_inbox_bytes", "gauge",
     "Bytes of the received messages not yet acknowledged."},
    {"store_quota", "e3xd_message_store_quota_bytes", "gauge",
     "[messages] store_quota: the most the outbox, and separately the inbox, may hold."},
    {"peer_quota", "e3xd_message_peer_quota_bytes", "gauge",
     "[messages] peer_quota: the most one peer's messages may take in the inbox."},
    {"received", "e3xd_messages_received_total", "counter",
     "Messages received and stored since start."},
    {"duplicates", "e3xd_messages_duplicate_total", "counter",
     "Messages received again since start, acknowledged again and not stored twice."},
    {"refused", "e3xd_messages_refused_total", "counter",
     "Messages received but not stored since start (quota or disk), so not acknowledged."},
    {"delivered", "e3xd_messages_delivered_total", "counter",
     "Messages of ours the recipient acknowledged since start."},
    {"corrupt_files", "e3xd_message_corrupt_files", "gauge",
     "Damaged message files set aside at start."},
};

// Each peer's entry of `peers`.
constexpr FromMember kPeerTraffic[] = {
    {"rx_bytes", "e3xd_peer_received_bytes_total", "counter",
     "Bytes received from the peer since start, over every exchange."},
    {"tx_bytes", "e3xd_peer_sent_bytes_total", "counter",
     "Bytes sent to the peer since start, over every exchange."},
    {"rx_packets", "e3xd_peer_received_packets_total", "counter",
     "Packets received from the peer since start, over every exchange."},
    {"tx_packets", "e3xd_peer_sent_packets_total", "counter",
     "Packets sent to the peer since start, over every exchange."},
    {"channels", "e3xd_peer_channels", "gauge", "Open channels with the peer."},
    {"last_handshake", "e3xd_peer_last_handshake_timestamp_seconds", "gauge",
     "When an exchange with the peer last came in sync (Unix time); absent if never."},
};

constexpr std::string_view kPeerStates[] = {"up", "connecting", "down"};

std::string string_member(const json::object& object, std::string_view key) {
  const json::value* value = member(object, key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

// A peer's labels: its configured name (its hashname when it has none) and its hashname.
MetricsWriter::Labels peer_labels(const json::object& peer) {
  const std::string hashname = string_member(peer, "hashname");
  std::string name = string_member(peer, "name");
  if (name.empty()) name = hashname;
  return {{"peer", std::move(name)}, {"hashname", hashname}};
}

// The metrics of `table` that `object` has, one sample each.
void write_members(MetricsWriter& out, const json::object& object,
                   std::span<const FromMember> table) {
  for (const FromMember& metric : table) {
    const json::value* value = member(object, metric.key);
    if (!is_number(value)) continue;
    out.family(metric.name, metric.type, metric.help);
    out.sample(metric.name, {}, *value);
  }
}

void write_status(MetricsWriter& out, const json::object& status) {
  out.family("e3xd_info", "gauge", "The running e3xd: its version and hashname (always 1).");
  out.sample("e3xd_info",
             {{"version", string_member(status, "version")},
              {"hashname", string_member(status, "hashname")}},
             1.0);
  write_members(out, status, kStatus);
  if (const json::object* counters = object_member(status, "counters")) {
    write_members(out, *counters, kCounters);
  }
  if (const json::object* dropped = object_member(status, "dropped")) {
    out.family("e3xd_dropped_packets_total", "counter",
               "Packets dropped silently since start, by reason (docs/control-protocol.md, "
               "status). rate_limited: handshakes refused before any X25519 by the handshake "
               "rate limit. tcp_unauthenticated_*, tcp_frame_too_large: TCP connections closed.");
    for (const auto& [reason, count] : *dropped) {
      if (!is_number(&count)) continue;
      out.sample("e3xd_dropped_packets_total", {{"reason", std::string(reason)}}, count);
    }
  }
  if (const json::object* messages = object_member(status, "messages")) {
    const json::value* pending = member(*messages, "outbox");
    const json::value* expired = member(*messages, "outbox_expired");
    if (is_number(pending) && is_number(expired)) {
      out.family("e3xd_outbox_messages", "gauge",
                 "Messages in the outbox: pending (to deliver) and expired (no longer sent, "
                 "kept until cancelled).");
      out.sample("e3xd_outbox_messages", {{"state", "pending"}}, *pending);
      out.sample("e3xd_outbox_messages", {{"state", "expired"}}, *expired);
    }
    write_members(out, *messages, kMessages);
  }
}

void write_peers(MetricsWriter& out, const json::array& peers) {
  std::vector<std::pair<const json::object*, MetricsWriter::Labels>> entries;
  for (const json::value& value : peers) {
    if (value.is_object())
      entries.emplace_back(&value.get_object(), peer_labels(value.as_object()));
  }
  if (entries.empty()) return;

  out.family(
      "e3xd_peer_state", "gauge",
      "The peer's state: 1 for the one it is in (up, connecting or down), 0 for the others.");
  for (const auto& [peer, labels] : entries) {
    const std::string state = string_member(*peer, "state");
    for (const std::string_view name : kPeerStates) {
      MetricsWriter::Labels with_state = labels;
      with_state.emplace_back("state", std::string(name));
      out.sample("e3xd_peer_state", with_state, state == name ? 1.0 : 0.0);
    }
  }
  // Families a peer may lack (never in sync, no round trip yet) are written for those that
  // have them.
  const auto family = [&](const FromMember& metric, double scale) {
    bool any = false;
    for (const auto& [peer, labels] : entries) {
      const json::value* value = member(*peer, metric.key);
      if (!is_number(value)) continue;
      if (!any) out.family(metric.name, metric.type, metric.help);
      any = true;
      if (scale == 1.0) {
        out.sample(metric.name, labels, *value);
      } else {
        out.sample(metric.name, labels, value->to_number<double>() * scale);
      }
    }
  };
  family({"rtt_ms", "e3xd_peer_rtt_seconds", "gauge",
          "Round-trip time to the peer (handshake, else path probe); absent if unknown."},
         0.001);
  for (const FromMember& metric : kPeerTraffic) family(metric, 1.0);
}

}  // namespace

void MetricsWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void MetricsWriter::labels(const Labels& labels) {
  if (labels.empty()) return;
  text_ += '{';
  bool comma = false;
  for (const auto& [name, value] : labels) {
    if (comma) text_ += ',';
    comma = true;
    text_ += name;
    text_ += "=\"";
    append_escaped(text_, value, true);
    text_ += '"';
  }
  text_ += '}';
}

void MetricsWriter::sample(std::string_view name, const Labels& labels, const json::value& value) {
  text_ += name;
  this->labels(labels);
  text_ += ' ';
  text_ += metric_number(value);
  text_ += '\n';
}

void MetricsWriter::sample(std::string_view name, const Labels& labels, double value) {
  sample(name, labels, json::value(value));
}

std::string metric_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc()) return "NaN";  // cannot happen: 32 bytes hold any double
  return std::string(buffer, end);
}

std::string metric_number(const json::value& value) {
  if (value.is_int64()) return std::to_string(value.get_int64());
  if (value.is_uint64()) return std::to_string(value.get_uint64());
  if (value.is_double()) return metric_number(value.get_double());
  return {};
}

std::string format_metrics(const json::object& status, const json::array& peers) {
  MetricsWriter out;
  write_status(out, status);
  write_peers(out, peers);
  return out.take();
}

}  // namespace e3x::daemon
