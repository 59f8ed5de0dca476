#include "daemon/modules/metrics/metrics_module.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <sstream>

#include "daemon/modules/metrics/metrics_format.hpp"

namespace e3x::daemon {

namespace json = boost::json;

namespace {

// "127.0.0.1:9425", "[::1]:9425": Asio's own form, brackets included.
std::string text_of(const boost::asio::ip::tcp::endpoint& endpoint) {
  std::ostringstream text;
  text << endpoint;
  return text.str();
}

}  // namespace

MetricsModule::MetricsModule(Host& host) : host_(host) {
  host_.serve_command("metrics", [this](const control::Request&, Host::Respond respond) {
    respond(json::value(json::object{{"content_type", kMetricsContentType}, {"text", render()}}));
  });
}

std::string MetricsModule::render() const {
  return format_metrics(host_.status_json(), host_.peers_json());
}

std::optional<StartError> MetricsModule::start() {
  const auto& listen = host_.config().metrics.listen;
  if (!listen) return std::nullopt;
  server_ = std::make_unique<MetricsHttpServer>(host_.io(), [this] { return render(); });
  const boost::asio::ip::tcp::endpoint at(boost::asio::ip::make_address(listen->ip), listen->port);
  if (auto error = server_->listen(at); !error.empty()) {
    return StartError{kExitRuntime, "[metrics] cannot listen on " + text_of(at) + ": " + error};
  }
  url_ = "http://" + text_of(server_->local_endpoint()) + "/metrics";
  spdlog::info("metrics served at {}", url_);
  return std::nullopt;
}

void MetricsModule::stop() {
  if (server_) server_->stop();
}

void MetricsModule::add_status(json::object& status) const {
  if (!url_.empty()) status["metrics_url"] = url_;
}

}  // namespace e3x::daemon
