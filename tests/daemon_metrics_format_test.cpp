// The Prometheus text of `e3xctl metrics` and [metrics] listen (daemon/modules/metrics/
// metrics_format.hpp): families grouped under their HELP and TYPE, labels escaped, numbers
// exact, and every counter of `status` and `peers` that the docs promise.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <limits>
#include <set>
#include <sstream>

#include "daemon/modules/metrics/metrics_format.hpp"

namespace e3x::daemon {
namespace {

namespace json = boost::json;

bool contains(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsFormat, NumbersAreExactAndReadableByPrometheus) {
  EXPECT_EQ(metric_number(json::value(std::uint64_t{18446744073709551615u})),
            "18446744073709551615");
  EXPECT_EQ(metric_number(json::value(std::int64_t{-3})), "-3");
  EXPECT_EQ(metric_number(0.0978), "0.0978");  // plain decimal, not 9.78E-2
  EXPECT_EQ(metric_number(1.0), "1");
  EXPECT_EQ(metric_number(1e-05), "1e-05");
  EXPECT_EQ(metric_number(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(metric_number(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(metric_number(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(metric_number(json::value("7")), "");  // a string is not a number
}

TEST(MetricsFormat, LabelValuesAndHelpAreEscaped) {
  MetricsWriter out;
  out.family("x_total", "counter", "a \\ b\nc \"quoted\"");
  out.sample("x_total", {{"peer", "a\"b\\c\nd"}, {"k", ""}}, 2.0);
  EXPECT_EQ(out.take(),
            "# HELP x_total a \\\\ b\\nc \"quoted\"\n"
            "# TYPE x_total counter\n"
            "x_total{peer=\"a\\\"b\\\\c\\nd\",k=\"\"} 2\n");
}

const char* const kStatus = R"({
  "hashname": "hn", "version": "0.1.0", "uptime_s": 42, "peers_up": 1, "peers_total": 2,
  "counters": {"x25519_operations": 9, "handshakes_sent": 4, "handshakes_received": 3,
               "datagrams_received": 10, "channel_packets_received": 5,
               "channel_packets_sent": 6, "message_packets_received": 1,
               "message_packets_sent": 2},
  "dropped": {"malformed": 7, "rate_limited": 11},
  "messages": {"outbox": 2, "outbox_expired": 1, "outbox_bytes": 300, "inbox": 4,
               "inbox_bytes": 500, "store_quota": 1000, "peer_quota": 100, "received": 8,
               "duplicates": 1, "refused": 0, "delivered": 6, "corrupt_files": 0},
  "metrics_url": "http://127.0.0.1:9425/metrics", "listen": ["udp4 127.0.0.1:1"]
})";

const char* const kPeers = R"([
  {"name": "alpha", "hashname": "ha", "state": "up", "rtt_ms": 12.5, "last_handshake": 1700000000,
   "rx_bytes": 100, "tx_bytes": 200, "rx_packets": 3, "tx_packets": 4, "channels": 1},
  {"name": null, "hashname": "hb", "state": "down", "rtt_ms": null, "last_handshake": null,
   "rx_bytes": 0, "tx_bytes": 0, "rx_packets": 0, "tx_packets": 0, "channels": 0}
])";

std::string sample_text() {
  return format_metrics(json::parse(kStatus).as_object(), json::parse(kPeers).as_array());
}

TEST(MetricsFormat, StatusCountersAreMetrics) {
  const std::string text = sample_text();
  EXPECT_TRUE(contains(text, "e3xd_info{version=\"0.1.0\",hashname=\"hn\"} 1")) << text;
  EXPECT_TRUE(contains(text, "e3xd_uptime_seconds 42"));
  EXPECT_TRUE(contains(text, "e3xd_peers 2"));
  EXPECT_TRUE(contains(text, "e3xd_peers_up 1"));
  EXPECT_TRUE(contains(text, "e3xd_x25519_operations_total 9"));
  EXPECT_TRUE(contains(text, "e3xd_handshakes_sent_total 4"));
  EXPECT_TRUE(contains(text, "e3xd_handshakes_received_total 3"));
  EXPECT_TRUE(contains(text, "e3xd_channel_packets_sent_total 6"));
  EXPECT_TRUE(contains(text, "e3xd_dropped_packets_total{reason=\"malformed\"} 7"));
  EXPECT_TRUE(contains(text, "e3xd_dropped_packets_total{reason=\"rate_limited\"} 11"));
  EXPECT_TRUE(contains(text, "e3xd_outbox_messages{state=\"pending\"} 2"));
  EXPECT_TRUE(contains(text, "e3xd_outbox_messages{state=\"expired\"} 1"));
  EXPECT_TRUE(contains(text, "e3xd_outbox_bytes 300"));
  EXPECT_TRUE(contains(text, "e3xd_inbox_messages 4"));
  EXPECT_TRUE(contains(text, "e3xd_inbox_bytes 500"));
  EXPECT_TRUE(contains(text, "e3xd_messages_delivered_total 6"));
  EXPECT_TRUE(contains(text, "# TYPE e3xd_dropped_packets_total counter"));
  EXPECT_TRUE(contains(text, "# TYPE e3xd_inbox_messages gauge"));
  // Strings and lists of status are not metrics.
  EXPECT_EQ(text.find("metrics_url"), std::string::npos);
  EXPECT_EQ(text.find("listen"), std::string::npos);
}

TEST(MetricsFormat, EachPeerHasItsStateTrafficAndRoundTrip) {
  const std::string text = sample_text();
  const std::string alpha = "peer=\"alpha\",hashname=\"ha\"";
  EXPECT_TRUE(contains(text, "e3xd_peer_state{" + alpha + ",state=\"up\"} 1")) << text;
  EXPECT_TRUE(contains(text, "e3xd_peer_state{" + alpha + ",state=\"connecting\"} 0"));
  EXPECT_TRUE(contains(text, "e3xd_peer_state{" + alpha + ",state=\"down\"} 0"));
  EXPECT_TRUE(contains(text, "e3xd_peer_rtt_seconds{" + alpha + "} 0.0125"));
  EXPECT_TRUE(
      contains(text, "e3xd_peer_last_handshake_timestamp_seconds{" + alpha + "} 1700000000"));
  EXPECT_TRUE(contains(text, "e3xd_peer_received_bytes_total{" + alpha + "} 100"));
  EXPECT_TRUE(contains(text, "e3xd_peer_sent_bytes_total{" + alpha + "} 200"));
  EXPECT_TRUE(contains(text, "e3xd_peer_received_packets_total{" + alpha + "} 3"));
  EXPECT_TRUE(contains(text, "e3xd_peer_sent_packets_total{" + alpha + "} 4"));
  EXPECT_TRUE(contains(text, "e3xd_peer_channels{" + alpha + "} 1"));
  // A peer without a name is labelled by its hashname; what it does not have is left out.
  const std::string b = "peer=\"hb\",hashname=\"hb\"";
  EXPECT_TRUE(contains(text, "e3xd_peer_state{" + b + ",state=\"down\"} 1"));
  EXPECT_EQ(text.find("e3xd_peer_rtt_seconds{" + b), std::string::npos);
  EXPECT_EQ(text.find("e3xd_peer_last_handshake_timestamp_seconds{" + b), std::string::npos);
}

// The exposition format wants each family once, its samples together right after its HELP
// and TYPE, and sample names that belong to it.
TEST(MetricsFormat, FamiliesAreGroupedAndDeclaredOnce) {
  std::istringstream lines(sample_text());
  std::set<std::string> declared;
  std::string current;
  std::size_t samples = 0;
  for (std::string line; std::getline(lines, line);) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(declared.insert(name).second) << name << " declared twice";
      current = name;
      std::string type_line;
      ASSERT_TRUE(std::getline(lines, type_line));
      EXPECT_EQ(type_line.rfind("# TYPE " + name + " ", 0), 0u) << type_line;
      const bool counter = type_line.ends_with(" counter");
      EXPECT_EQ(counter, name.ends_with("_total")) << name;
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(name, current) << line;
    ++samples;
  }
  EXPECT_GT(samples, 30u);
}

TEST(MetricsFormat, PartialResultsStillFormat) {
  EXPECT_EQ(format_metrics(json::object{}, json::array{}),
            "# HELP e3xd_info The running e3xd: its version and hashname (always 1).\n"
            "# TYPE e3xd_info gauge\n"
            "e3xd_info{version=\"\",hashname=\"\"} 1\n");
  // Wrong types are skipped, not guessed at.
  const std::string text = format_metrics(
      json::parse(R"({"uptime_s":"long","dropped":{"malformed":"x","replay":2}})").as_object(),
      json::parse(R"([7, {"hashname":"h","state":"up","rx_bytes":"many"}])").as_array());
  EXPECT_EQ(text.find("e3xd_uptime_seconds"), std::string::npos);
  EXPECT_EQ(text.find("reason=\"malformed\""), std::string::npos);
  EXPECT_TRUE(contains(text, "e3xd_dropped_packets_total{reason=\"replay\"} 2"));
  EXPECT_TRUE(contains(text, "e3xd_peer_state{peer=\"h\",hashname=\"h\",state=\"up\"} 1"));
  EXPECT_EQ(text.find("e3xd_peer_received_bytes_total"), std::string::npos);
}

}  // namespace
}  // namespace e3x::daemon
