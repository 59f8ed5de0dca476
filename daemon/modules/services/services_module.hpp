// Services and streams (PROTOCOL.md section 11): local applications reach a peer's services.
//
//   [[service]]  a local TCP or Unix service that the peers on its `allow` list may reach: a
//                peer's "stream" channel naming it is joined to a new connection to `target`.
//   [[forward]]  a local listener: each connection it accepts becomes a stream to a peer's
//                service (like ssh -L).
//   e3xctl connect PEER SERVICE
//                the control connection itself becomes the stream (ProxyCommand for ssh).
//
// An unknown service and one the peer may not use get the same {"err":"unavailable"}; the log
// says which. Limits, each counted in status: streams per peer (kMaxStreamsPerPeer), what a
// stream buffers (its channel's window), and a forward whose peer is not up refuses new
// connections at once. Reload adds and removes services and forwards; open streams stay.
// Commands: services, forwards, streams, connect; watch shows stream_open and stream_close.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "config/config.hpp"
#include "daemon/host/host.hpp"
#include "daemon/host/module.hpp"
#include "daemon/modules/services/stream.hpp"

namespace e3x::daemon {

inline constexpr std::size_t kMaxStreamsPerPeer = 256;
// e3xctl connect waits this long for the peer's exchange to come up (one handshake attempt),
// then this long for the peer to accept the stream.
inline constexpr Duration kConnectUpWait = seconds(30);
inline constexpr Duration kStreamAcceptWait = seconds(10);

struct ServiceStats {
  std::uint64_t streams_in = 0;       // streams a peer opened that reached a service
  std::uint64_t streams_out = 0;      // streams we opened (forwards, connect)
  std::uint64_t unavailable = 0;      // refused: unknown service, or the peer not allowed
  std::uint64_t busy = 0;             // refused: the peer already had kMaxStreamsPerPeer
  std::uint64_t refused = 0;          // a service's target refused the connection
  std::uint64_t forward_refused = 0;  // a forward's connection closed: peer down, or over limit
  std::uint64_t reset = 0;            // streams aborted
};

class ServicesModule final : public Module {
 public:
  explicit ServicesModule(Host& host);
  ~ServicesModule() override;

  std::optional<StartError> start() override;
  void stop() override;
  void tick(Instant now) override;
  void reloaded() override;
  void exchange_up(const event::ExchangeUp& up) override;
  void exchange_down(const event::ExchangeDown& down) override;
  void channel_opened(event::ChannelOpened& opened) override;
  void channel_data(event::ChannelData& data) override;
  void channel_closed(const ChannelKey& key, const std::string& reason) override;
  void pump() override;
  void add_status(boost::json::object& status) const override;

 private:
  struct Forward;
  // An outgoing stream waiting for the peer to accept it (or for its exchange to come up).
  struct Opening {
    std::optional<ChannelKey> key;  // set once the channel is opened
    Hashname peer;
    std::string service;
    std::string via;
    Instant deadline{};
    // Who gets the stream: a forward's connection, or e3xctl's (through the control reply).
    std::unique_ptr<Stream::Socket> socket;
    Host::Respond respond;
  };

  // ---- config ----
  void apply_config();
  void open_forward(const config::ForwardConfig& config);
  void accept_next(const std::shared_ptr<Forward>& forward);
  void on_forward_connection(const std::shared_ptr<Forward>& forward, Stream::Socket socket);
  const config::ServiceConfig* find_service(const std::string& name) const;
  bool allowed(const config::ServiceConfig& service, const Hashname& peer) const;

  // ---- streams ----
  std::size_t streams_of(const Hashname& peer) const;
  void start_opening(std::unique_ptr<Opening> opening);
  void open_stream(std::unique_ptr<Opening> opening);
  void accepted(std::unique_ptr<Opening> opening);
  void fail_opening(std::unique_ptr<Opening> opening, const std::string& code,
                    const std::string& message);
  std::shared_ptr<Stream> add_stream(Stream::Info info);
  void connect_target(const std::shared_ptr<Stream>& stream, const config::ServiceConfig& service);
  void on_finished(const ChannelKey& key, const std::string& reason);

  // ---- control ----
  void connect_command(const control::Request& request, Host::Respond respond);
  Host::Reply services_command(const control::Request& request) const;
  Host::Reply forwards_command(const control::Request& request) const;
  Host::Reply streams_command(const control::Request& request) const;

  Host& host_;
  std::vector<config::ServiceConfig> services_;
  std::vector<std::shared_ptr<Forward>> forwards_;
  std::map<ChannelKey, std::shared_ptr<Stream>> streams_;
  // Waiting for an exchange (no key yet) and waiting for the peer's answer (by key).
  std::vector<std::unique_ptr<Opening>> awaiting_exchange_;
  std::map<ChannelKey, std::unique_ptr<Opening>> awaiting_accept_;
  ServiceStats stats_;
  std::unique_ptr<boost::asio::ip::tcp::resolver> resolver_;
};

}  // namespace e3x::daemon
