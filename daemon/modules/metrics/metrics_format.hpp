// The daemon's counters in the Prometheus text exposition format (version 0.0.4), for
// `e3xctl metrics` and [metrics] listen. The metrics are a view of the `status` and `peers`
// results (docs/control-protocol.md lists both and every metric), so the two never disagree
// and a counter added to `status` needs one line here. Pure: JSON in, text out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace e3x::daemon {

// What an HTTP answer carrying the text says it is.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Writes one metric family after another. The format wants a family's samples together, after
// its # HELP and # TYPE lines; label values and help text are escaped here, so any text may go
// in.
class MetricsWriter {
 public:
  using Labels = std::vector<std::pair<std::string_view, std::string>>;

  // `type` is "counter" or "gauge"; counters' names end in _total.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // A sample of the current family (or of `name` given again); a number in any JSON form.
  void sample(std::string_view name, const Labels& labels, const boost::json::value& value);
  void sample(std::string_view name, const Labels& labels, double value);

  std::string take() { return std::move(text_); }

 private:
  void labels(const Labels& labels);
  std::string text_;
};

// "0.0978", "1e-05", "NaN", "+Inf": what Go's ParseFloat (Prometheus) reads back exactly.
std::string metric_number(double value);
// A JSON number as an exposition value: integers exactly, in decimal; doubles as above.
// Nothing else is a number (empty).
std::string metric_number(const boost::json::value& value);

// The text for a `status` result and a `peers` result. Members that are absent or not numbers
// are left out, so an older or partial result still formats.
std::string format_metrics(const boost::json::object& status, const boost::json::array& peers);

}  // namespace e3x::daemon
