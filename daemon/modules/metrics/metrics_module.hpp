// The daemon's counters for monitoring: the control command `metrics` returns them in the
// Prometheus text format (`e3xctl metrics`), and with [metrics] listen an HTTP server serves
// the same text at /metrics for a scraper. The text is rendered from the host's `status` and
// `peers` results when asked for (metrics_format.hpp), so nothing is counted twice.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "daemon/host/host.hpp"
#include "daemon/host/module.hpp"
#include "daemon/modules/metrics/http_server.hpp"

namespace e3x::daemon {

class MetricsModule final : public Module {
 public:
  explicit MetricsModule(Host& host);

  std::optional<StartError> start() override;
  void stop() override;
  void add_status(boost::json::object& status) const override;

 private:
  std::string render() const;

  Host& host_;
  std::unique_ptr<MetricsHttpServer> server_;  // with [metrics] listen
  std::string url_;                            // "http://127.0.0.1:9425/metrics"
};

}  // namespace e3x::daemon
