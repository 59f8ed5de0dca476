// The pure pieces of the speed test: request limits, packet sizing, the receiver's tally and
// report, and the result's arithmetic.
#include "daemon/modules/speedtest/speedtest.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/channel.hpp"

namespace e3x::daemon::speedtest {
namespace {

namespace json = boost::json;

json::object object_of(std::string_view text) {
  return json::parse(text).as_object();
}

TEST(Speedtest, ParamsDefaultsAndLimits) {
  auto defaults = parse_params(json::object{{"peer", "b"}});
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->seconds, 10u);
  EXPECT_EQ(defaults->size, 1400u);

  auto given = parse_params(object_of(R"({"seconds":2,"size":32})"));
  ASSERT_TRUE(given);
  EXPECT_EQ(given->seconds, 2u);
  EXPECT_EQ(given->size, 32u);
  EXPECT_TRUE(parse_params(object_of(R"({"seconds":300,"size":1400})")));

  for (const char* bad :
       {R"({"size":0})", R"({"size":31})", R"({"size":1401})", R"({"size":"1400"})",
        R"({"size":1.5})", R"({"size":-1})", R"({"size":18446744073709551615})", R"({"seconds":0})",
        R"({"seconds":301})", R"({"seconds":true})"}) {
    auto parsed = parse_params(object_of(bad));
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_NE(parsed.error().find("must be an integer"), std::string::npos);
    }
  }
  EXPECT_NE(parse_params(object_of(R"({"size":1401})")).error().find("32 to 1400"),
            std::string::npos);
}

TEST(Speedtest, BodyFillsInnerExactly) {
  for (std::uint32_t channel : {1u, 42u, 4294967295u}) {
    for (std::size_t size : {kMinSize, std::size_t{512}, kMaxChannelInner}) {
      const std::size_t body = body_size(channel, size);
      const std::string head = json::serialize(json::object{{"c", channel}});
      EXPECT_EQ(2 + head.size() + body, size) << channel << " " << size;
      EXPECT_EQ(inner_size(channel, body), size);
      EXPECT_GT(body, 0u);
    }
  }
  EXPECT_EQ(body_size(1, 5), 0u);  // the head alone is larger
}

TEST(Speedtest, TallyAndReportRoundTrip) {
  Tally tally;
  tally.add(std::chrono::microseconds(1500), 1400);
  tally.add(std::chrono::microseconds(2500), 1400);
  tally.add(std::chrono::microseconds(1001500), 1400);
  EXPECT_EQ(tally.packets, 3u);
  EXPECT_EQ(tally.bytes, 4200u);

  const json::object report = report_json(tally, 0.25);
  const json::value value(report);
  auto parsed = parse_report(&value);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->packets, 3u);
  EXPECT_EQ(parsed->bytes, 4200u);
  EXPECT_EQ(parsed->first_us, 1500);
  EXPECT_EQ(parsed->last_us, 1001500);
  EXPECT_EQ(parsed->cpu_us, 250000);

  EXPECT_FALSE(parse_report(nullptr));
  const json::value missing = object_of(R"({"packets":1,"bytes":1,"first_us":0,"last_us":0})");
  EXPECT_FALSE(parse_report(&missing));
  const json::value negative =
      object_of(R"({"packets":-1,"bytes":1,"first_us":0,"last_us":0,"cpu_us":0})");
  EXPECT_FALSE(parse_report(&negative));
  const json::value not_object = json::parse("[1]");
  EXPECT_FALSE(parse_report(&not_object));
}

TEST(Speedtest, ResultArithmetic) {
  SendSummary sent;
  sent.peer = "beta";
  sent.params = Params{2, 1400};
  sent.sent = 1000;
  sent.send_buffer_full = 3;
  sent.duration = std::chrono::milliseconds(2000);
  sent.cpu_seconds = 0.009;
  // 900 packets over 1.8 s of arrivals: 500 packets/s, 5.6 Mbit/s of 1400-byte INNER.
  const Report received{900, 900 * 1400, 100000, 1900000, 4500};
  const json::object result = result_json(sent, received);
  EXPECT_EQ(result.at("peer").as_string(), "beta");
  EXPECT_EQ(result.at("sent").to_number<std::uint64_t>(), 1000u);
  EXPECT_EQ(result.at("send_buffer_full").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(result.at("delivered").to_number<std::uint64_t>(), 900u);
  EXPECT_EQ(result.at("lost").to_number<std::uint64_t>(), 100u);
  EXPECT_DOUBLE_EQ(result.at("loss_percent").as_double(), 10.0);
  EXPECT_DOUBLE_EQ(result.at("duration_s").as_double(), 2.0);
  EXPECT_DOUBLE_EQ(result.at("receive_span_s").as_double(), 1.8);
  EXPECT_NEAR(result.at("packets_per_s").as_double(), 500.0, 1e-9);
  EXPECT_NEAR(result.at("mbit_per_s").as_double(), 5.6, 1e-9);
  EXPECT_NEAR(result.at("cpu_us_per_packet").as_double(), 10.0, 1e-9);
  EXPECT_NEAR(result.at("receiver_cpu_us_per_packet").as_double(), 5.0, 1e-9);

  // Nothing arrived: no loss below zero, no rate, no CPU per packet.
  const json::object none = result_json(sent, Report{});
  EXPECT_EQ(none.at("lost").to_number<std::uint64_t>(), 1000u);
  EXPECT_DOUBLE_EQ(none.at("loss_percent").as_double(), 100.0);
  EXPECT_DOUBLE_EQ(none.at("packets_per_s").as_double(), 0.0);
  EXPECT_TRUE(none.at("cpu_us_per_packet").is_null());

  // More reported than sent (a confused peer) is not negative loss.
  const json::object more = result_json(sent, Report{1200, 1200 * 1400, 0, 2000000, 0});
  EXPECT_EQ(more.at("lost").to_number<std::uint64_t>(), 0u);
  EXPECT_DOUBLE_EQ(more.at("loss_percent").as_double(), 0.0);
}

TEST(Speedtest, ProcessCpuGrows) {
  const double before = process_cpu_seconds();
  volatile double sink = 0;
  for (int i = 0; i < 20'000'000; ++i) sink = sink + i * 0.5;
  EXPECT_GT(process_cpu_seconds(), before);
}

}  // namespace
}  // namespace e3x::daemon::speedtest
