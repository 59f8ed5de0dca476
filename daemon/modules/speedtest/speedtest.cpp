#include "daemon/modules/speedtest/speedtest.hpp"

#include <sys/resource.h>

#include <cmath>
#include <string>

#include "core/channel.hpp"

namespace e3x::daemon::speedtest {

namespace json = boost::json;

namespace {

// A JSON integer in [low, high], or nullopt (wrong type, fractional, out of range).
std::optional<std::int64_t> integer_in(const json::value& value, std::int64_t low,
                                       std::int64_t high) {
  std::int64_t number = 0;
  if (value.is_int64()) {
    number = value.get_int64();
  } else if (value.is_uint64()) {
    if (value.get_uint64() > static_cast<std::uint64_t>(high)) return std::nullopt;
    number = static_cast<std::int64_t>(value.get_uint64());
  } else {
    return std::nullopt;
  }
  if (number < low || number > high) return std::nullopt;
  return number;
}

std::optional<std::int64_t> non_negative(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return std::nullopt;
  return integer_in(*value, 0, INT64_MAX);
}

double seconds_of(Duration duration) {
  return std::chrono::duration<double>(duration).count();
}

}  // namespace

Result<Params, std::string> parse_params(const json::object& args) {
  Params params;
  if (const json::value* seconds = args.if_contains("seconds")) {
    auto value = integer_in(*seconds, 1, kMaxSeconds);
    if (!value) {
      return unexpected("\"seconds\" must be an integer from 1 to " + std::to_string(kMaxSeconds));
    }
    params.seconds = static_cast<std::uint32_t>(*value);
  }
  if (const json::value* size = args.if_contains("size")) {
    auto value = integer_in(*size, static_cast<std::int64_t>(kMinSize),
                            static_cast<std::int64_t>(kMaxChannelInner));
    if (!value) {
      return unexpected("\"size\" must be an integer from " + std::to_string(kMinSize) + " to " +
                        std::to_string(kMaxChannelInner) +
                        " (the bytes of each channel packet's INNER; 1400 is the protocol's "
                        "maximum)");
    }
    params.size = static_cast<std::size_t>(*value);
  }
  return params;
}

std::size_t inner_size(std::uint32_t channel, std::size_t body) {
  // LENGTH(2) + {"c":<digits>} (6 bytes around the digits) + body.
  return 2 + 6 + std::to_string(channel).size() + body;
}

std::size_t body_size(std::uint32_t channel, std::size_t size) {
  const std::size_t overhead = inner_size(channel, 0);
  return size > overhead ? size - overhead : 0;
}

void Tally::add(Duration since_ready, std::size_t inner_bytes) {
  if (packets == 0) first = since_ready;
  last = since_ready;
  ++packets;
  bytes += inner_bytes;
}

json::object report_json(const Tally& tally, double cpu_seconds) {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  return json::object{
      {"packets", tally.packets},
      {"bytes", tally.bytes},
      {"first_us", duration_cast<microseconds>(tally.first).count()},
      {"last_us", duration_cast<microseconds>(tally.last).count()},
      {"cpu_us", static_cast<std::int64_t>(std::llround(std::max(cpu_seconds, 0.0) * 1e6))},
  };
}

std::optional<Report> parse_report(const json::value* value) {
  const json::object* object = value != nullptr ? value->if_object() : nullptr;
  if (object == nullptr) return std::nullopt;
  auto packets = non_negative(*object, "packets");
  auto bytes = non_negative(*object, "bytes");
  auto first = non_negative(*object, "first_us");
  auto last = non_negative(*object, "last_us");
  auto cpu = non_negative(*object, "cpu_us");
  if (!packets || !bytes || !first || !last || !cpu) return std::nullopt;
  return Report{static_cast<std::uint64_t>(*packets), static_cast<std::uint64_t>(*bytes), *first,
                *last, *cpu};
}

json::object result_json(const SendSummary& sent, const Report& received) {
  const std::uint64_t delivered = received.packets;
  const std::uint64_t lost = sent.sent > delivered ? sent.sent - delivered : 0;
  const double duration_s = seconds_of(sent.duration);
  const double span_s = delivered >= 2 && received.last_us > received.first_us
                            ? static_cast<double>(received.last_us - received.first_us) / 1e6
                            : duration_s;
  auto rate = [span_s](double amount) { return span_s > 0 ? amount / span_s : 0.0; };
  auto per_packet_us = [delivered](double cpu_s) {
    return delivered > 0 ? json::value(cpu_s * 1e6 / static_cast<double>(delivered))
                         : json::value(nullptr);
  };
  const double receiver_cpu_s = static_cast<double>(received.cpu_us) / 1e6;
  return json::object{
      {"peer", sent.peer},
      {"seconds", sent.params.seconds},
      {"size", sent.params.size},
      {"sent", sent.sent},
      {"send_buffer_full", sent.send_buffer_full},
      {"delivered", delivered},
      {"delivered_bytes", received.bytes},
      {"lost", lost},
      {"loss_percent",
       sent.sent > 0 ? 100.0 * static_cast<double>(lost) / static_cast<double>(sent.sent) : 0.0},
      {"duration_s", duration_s},
      {"receive_span_s", span_s},
      {"packets_per_s", rate(static_cast<double>(delivered))},
      {"mbit_per_s", rate(static_cast<double>(received.bytes) * 8 / 1e6)},
      {"cpu_s", sent.cpu_seconds},
      {"cpu_us_per_packet", per_packet_us(sent.cpu_seconds)},
      {"receiver_cpu_s", receiver_cpu_s},
      {"receiver_cpu_us_per_packet", per_packet_us(receiver_cpu_s)},
  };
}

double process_cpu_seconds() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace e3x::daemon::speedtest
