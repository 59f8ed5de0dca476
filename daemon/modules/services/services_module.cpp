#include "daemon/modules/services/services_module.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>

#include "core/stream.hpp"
#include "daemon/support/text_escape.hpp"

namespace e3x::daemon {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::system::error_code;
using Generic = asio::generic::stream_protocol;

struct ServicesModule::Forward {
  explicit Forward(asio::io_context& io) : acceptor(io) {}
  config::ForwardConfig config;
  asio::basic_socket_acceptor<Generic> acceptor;
  std::string error;  // why it is not listening ("" while it is)
  bool closed = false;
  std::uint64_t accepted = 0;  // connections that became streams
  std::uint64_t refused = 0;   // connections closed at once (peer down, over the limit)
  std::uint64_t past_bytes_in = 0, past_bytes_out = 0;  // of its streams that are over
};

namespace {

Generic::endpoint generic_endpoint(const config::LocalAddress& address) {
  if (address.kind == config::LocalAddress::Kind::kUnix) {
    return Generic::endpoint(asio::local::stream_protocol::endpoint(address.path.native()));
  }
  return Generic::endpoint(
      asio::ip::tcp::endpoint(asio::ip::make_address(address.host), address.port));
}

// Small packets of interactive sessions (ssh) must not wait for Nagle.
void set_no_delay(Stream::Socket& socket) {
  const auto family = socket.local_endpoint().protocol().family();
  if (family != AF_INET && family != AF_INET6) return;
  const int one = 1;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

const char* code_for_close(const std::string& reason) {
  if (reason == kStreamUnavailable) return "unavailable";
  if (reason == kStreamBusy) return "busy";
  if (reason == kStreamRefused) return "refused";
  return "no_reply";
}

}  // namespace

ServicesModule::ServicesModule(Host& host)
    : host_(host), resolver_(std::make_unique<asio::ip::tcp::resolver>(host.io())) {
  host_.serve_channel(kStreamChannelType, *this);
  host_.serve_command("connect", [this](const control::Request& request, Host::Respond respond) {
    connect_command(request, std::move(respond));
  });
  host_.serve_command("services", [this](const control::Request& request, Host::Respond respond) {
    respond(services_command(request));
  });
  host_.serve_command("forwards", [this](const control::Request& request, Host::Respond respond) {
    respond(forwards_command(request));
  });
  host_.serve_command("streams", [this](const control::Request& request, Host::Respond respond) {
    respond(streams_command(request));
  });
}

ServicesModule::~ServicesModule() = default;

std::optional<StartError> ServicesModule::start() {
  apply_config();
  return std::nullopt;
}

void ServicesModule::stop() {
  resolver_->cancel();
  for (auto& forward : forwards_) {
    forward->closed = true;
    error_code ignored;
    forward->acceptor.close(ignored);
  }
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [key, stream] : streams) stream->abort(kStreamReset);
  for (auto& opening : awaiting_exchange_) {
    if (opening->respond) opening->respond(control::error_reply("busy", "e3xd is shutting down"));
  }
  awaiting_exchange_.clear();
  for (auto& [key, opening] : awaiting_accept_) {
    if (opening->respond) opening->respond(control::error_reply("busy", "e3xd is shutting down"));
  }
  awaiting_accept_.clear();
}

void ServicesModule::reloaded() {
  apply_config();
}

// ---------------------------------------------------------------------------------------
// Configuration: services are looked up when a stream opens; forwards listen.

void ServicesModule::apply_config() {
  services_ = host_.config().services;
  const auto& wanted = host_.config().forwards;
  // A forward that changed (or went) stops listening; its open streams carry on.
  std::erase_if(forwards_, [&](const std::shared_ptr<Forward>& forward) {
    const bool kept = std::find(wanted.begin(), wanted.end(), forward->config) != wanted.end();
    if (!kept) {
      forward->closed = true;
      error_code ignored;
      forward->acceptor.close(ignored);
      if (forward->config.listen.kind == config::LocalAddress::Kind::kUnix) {
        ::unlink(forward->config.listen.path.c_str());
      }
      spdlog::info("forward {}: closed", forward->config.listen.text);
    }
    return !kept;
  });
  for (const auto& config : wanted) {
    const bool open = std::any_of(forwards_.begin(), forwards_.end(),
                                  [&](const auto& forward) { return forward->config == config; });
    if (!open) open_forward(config);
  }
}

void ServicesModule::open_forward(const config::ForwardConfig& config) {
  auto forward = std::make_shared<Forward>(host_.io());
  forward->config = config;
  forwards_.push_back(forward);
  const bool unix_socket = config.listen.kind == config::LocalAddress::Kind::kUnix;
  const auto fail = [&](const std::string& what, const error_code& error) {
    forward->error = what + ": " + error.message();
    spdlog::error("forward {}: {}", config.listen.text, forward->error);
    error_code ignored;
    forward->acceptor.close(ignored);
  };
  if (unix_socket) {
    // A socket file left by an earlier run is replaced; anything else is left alone.
    struct stat info {};
    if (::lstat(config.listen.path.c_str(), &info) == 0) {
      if (!S_ISSOCK(info.st_mode)) {
        fail("cannot listen", error_code(EEXIST, boost::system::generic_category()));
        return;
      }
      ::unlink(config.listen.path.c_str());
    }
  }
  const Generic::endpoint endpoint = generic_endpoint(config.listen);
  error_code error;
  forward->acceptor.open(endpoint.protocol(), error);
  if (error) return fail("cannot open a socket", error);
  if (!unix_socket) forward->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  // A Unix socket is bound under umask 0117, so it is created 0660 (owner and group e3xd)
  // and is never reachable by others, not even between bind and a chmod; the chmod only
  // corrects a umask that removed group bits.
  const mode_t old_umask = unix_socket ? ::umask(0117) : 0;
  forward->acceptor.bind(endpoint, error);
  if (unix_socket) ::umask(old_umask);
  if (error) return fail("cannot listen", error);
  if (unix_socket) ::chmod(config.listen.path.c_str(), 0660);  // group e3xd may use it
  forward->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) return fail("cannot listen", error);
  spdlog::info("forward {}: to {}'s service '{}'", config.listen.text, config.peer, config.service);
  accept_next(forward);
}

void ServicesModule::accept_next(const std::shared_ptr<Forward>& forward) {
  forward->acceptor.async_accept([this, forward](const error_code& error, Stream::Socket socket) {
    if (forward->closed || host_.stopping()) return;
    if (error) {
      if (error == asio::error::operation_aborted) return;
      spdlog::warn("forward {}: accept failed: {}", forward->config.listen.text, error.message());
    } else {
      on_forward_connection(forward, std::move(socket));
      host_.drive();
    }
    accept_next(forward);
  });
}

void ServicesModule::on_forward_connection(const std::shared_ptr<Forward>& forward,
                                           Stream::Socket socket) {
  const config::ForwardConfig& config = forward->config;
  const auto refuse = [&](const std::string& why) {
    forward->refused += 1;
    stats_.forward_refused += 1;
    spdlog::info("forward {}: connection refused: {}", config.listen.text, why);
    ::linger hard{1, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    error_code ignored;
    socket.close(ignored);
  };
  const auto peer = host_.lookup_peer(config.peer);
  if (!peer) return refuse("peer '" + config.peer + "' is not configured");
  // A forward never makes a connection wait for a peer that is down: it refuses at once.
  const auto status = host_.endpoint().peer_status(*peer);
  if (!status || status->state != ExchangeState::kUp) {
    const PeerRuntime* runtime = host_.find_runtime(*peer);
    const std::string reason = runtime && !runtime->down_reason.empty()
                                   ? " (" + runtime->down_reason + ")"
                                   : std::string();
    return refuse("peer '" + config.peer + "' is " + (status ? to_string(status->state) : "down") +
                  reason);
  }
  if (streams_of(*peer) >= kMaxStreamsPerPeer) {
    return refuse("peer '" + config.peer + "' already has " + std::to_string(kMaxStreamsPerPeer) +
                  " streams");
  }
  forward->accepted += 1;
  auto opening = std::make_unique<Opening>();
  opening->peer = *peer;
  opening->service = config.service;
  opening->via = config.listen.text;
  opening->socket = std::make_unique<Stream::Socket>(std::move(socket));
  open_stream(std::move(opening));
}

const config::ServiceConfig* ServicesModule::find_service(const std::string& name) const {
  for (const auto& service : services_) {
    if (service.name == name) return &service;
  }
  return nullptr;
}

bool ServicesModule::allowed(const config::ServiceConfig& service, const Hashname& peer) const {
  const std::string hashname = peer.to_string();
  const PeerRuntime* runtime = host_.find_runtime(peer);
  for (const std::string& entry : service.allow) {
    if (entry == hashname || (runtime && runtime->config.name == entry)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// Streams a peer opens to our services

void ServicesModule::channel_opened(event::ChannelOpened& opened) {
  const ChannelKey key{opened.peer, opened.channel};
  const std::string who = host_.peer_label(opened.peer);
  const auto refuse = [&](const char* answer, const std::string& why) {
    (std::string(answer) == kStreamBusy ? stats_.busy : stats_.unavailable) += 1;
    spdlog::info("peer {}: stream refused ({}): {}", who, answer, why);
    host_.close_channel(key, answer);
  };
  if (!opened.reliable) return refuse(kStreamUnavailable, "not a reliable channel");
  if (streams_of(opened.peer) >= kMaxStreamsPerPeer) {
    return refuse(kStreamBusy, "it already has " + std::to_string(kMaxStreamsPerPeer) + " streams");
  }
  const auto name = parse_stream_open(opened.body);
  if (!name) return refuse(kStreamUnavailable, "the open names no valid service");
  // The same answer for both, so a peer cannot probe which services exist; the log says which.
  const config::ServiceConfig* service = find_service(*name);
  if (!service) return refuse(kStreamUnavailable, "no service '" + *name + "'");
  if (!allowed(*service, opened.peer)) {
    return refuse(kStreamUnavailable, "not on the allow list of service '" + *name + "'");
  }
  // Before any of its data is handed over: the window advances only as bytes reach the
  // service's socket (PROTOCOL.md 11), so a slow service slows the peer's sender.
  if (auto paced = host_.endpoint().set_channel_options(host_.now(), opened.peer, opened.channel,
                                                        ChannelOptions{.consumer_paced = true});
      !paced) {
    return refuse(kStreamUnavailable, std::string("consumer pacing: ") + to_string(paced.error()));
  }
  stats_.streams_in += 1;
  auto stream = add_stream(
      Stream::Info{key, Stream::Direction::kIncoming, *name, service->target.text, host_.now()});
  connect_target(stream, *service);
}

void ServicesModule::connect_target(const std::shared_ptr<Stream>& stream,
                                    const config::ServiceConfig& service) {
  const config::LocalAddress target = service.target;
  const auto connected = [this, stream, target](const error_code& error,
                                                std::unique_ptr<Stream::Socket> socket) {
    if (stream->finished() || host_.stopping()) return;
    if (error) {
      stats_.refused += 1;
      spdlog::warn("stream from {} to service '{}': {}: {}",
                   host_.peer_label(stream->info().key.first), stream->info().service, target.text,
                   error.message());
      stream->abort(kStreamRefused);
      host_.drive();
      return;
    }
    set_no_delay(*socket);
    stream->attach(std::move(*socket));
  };
  const auto connect_to = [this, connected](Generic::endpoint endpoint) {
    auto socket = std::make_unique<Stream::Socket>(host_.io());
    Stream::Socket& ref = *socket;
    ref.async_connect(endpoint,
                      [connected, socket = std::move(socket)](const error_code& error) mutable {
                        connected(error, std::move(socket));
                      });
  };
  if (target.kind == config::LocalAddress::Kind::kUnix) {
    connect_to(generic_endpoint(target));
    return;
  }
  error_code numeric;
  const auto ip = asio::ip::make_address(target.host, numeric);
  if (!numeric) {
    connect_to(Generic::endpoint(asio::ip::tcp::endpoint(ip, target.port)));
    return;
  }
  resolver_->async_resolve(target.host, std::to_string(target.port),
                           [connect_to, connected](const error_code& error,
                                                   asio::ip::tcp::resolver::results_type results) {
                             if (error || results.empty()) {
                               connected(error ? error : asio::error::host_not_found, nullptr);
                               return;
                             }
                             connect_to(Generic::endpoint(results.begin()->endpoint()));
                           });
}

// ---------------------------------------------------------------------------------------
// Streams we open: forwards and e3xctl connect

std::size_t ServicesModule::streams_of(const Hashname& peer) const {
  std::size_t count = 0;
  for (const auto& [key, stream] : streams_) count += key.first == peer ? 1 : 0;
  for (const auto& [key, opening] : awaiting_accept_) count += key.first == peer ? 1 : 0;
  return count;
}

void ServicesModule::open_stream(std::unique_ptr<Opening> opening) {
  // Consumer paced: the peer's bytes count against our window until written locally.
  auto opened = host_.open_channel(*this, opening->peer, kStreamChannelType, true, {},
                                   stream_open_body(opening->service),
                                   ChannelOptions{.consumer_paced = true});
  if (!opened) {
    fail_opening(std::move(opening), "not_up", to_string(opened.error()));
    return;
  }
  stats_.streams_out += 1;
  const ChannelKey key{opening->peer, *opened};
  opening->key = key;
  opening->deadline = host_.now() + kStreamAcceptWait;
  awaiting_accept_[key] = std::move(opening);
}

// The peer accepted (acknowledged the open, or sent data): the stream is up.
void ServicesModule::accepted(std::unique_ptr<Opening> opening) {
  const ChannelKey key = *opening->key;
  auto stream = add_stream(
      Stream::Info{key, Stream::Direction::kOutgoing, opening->service, opening->via, host_.now()});
  if (opening->socket) {
    set_no_delay(*opening->socket);
    stream->attach(std::move(*opening->socket));
  } else if (opening->respond) {
    std::weak_ptr<Stream> weak = stream;
    opening->respond.upgrade(
        json::object{{"peer", host_.peer_label(key.first)},
                     {"service", opening->service},
                     {"channel", key.second}},
        [weak](asio::local::stream_protocol::socket socket, std::string early) {
          auto stream = weak.lock();
          if (!stream || stream->finished()) {
            error_code ignored;
            socket.close(ignored);
            return;
          }
          stream->attach(Stream::Socket(std::move(socket)), std::move(early));
        });
  }
}

void ServicesModule::fail_opening(std::unique_ptr<Opening> opening, const std::string& code,
                                  const std::string& message) {
  spdlog::info("stream to {}'s service '{}' ({}): {}", host_.peer_label(opening->peer),
               opening->service, opening->via, message);
  if (opening->socket) {
    ::linger hard{1, 0};
    ::setsockopt(opening->socket->native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    error_code ignored;
    opening->socket->close(ignored);
  }
  if (opening->respond) opening->respond(control::error_reply(code, message));
}

std::shared_ptr<Stream> ServicesModule::add_stream(Stream::Info info) {
  const ChannelKey key = info.key;
  auto stream = std::make_shared<Stream>(
      host_, std::move(info),
      [this](const ChannelKey& k, const std::string& reason) { on_finished(k, reason); });
  streams_[key] = stream;
  const Stream::Info& i = stream->info();
  const bool in = i.direction == Stream::Direction::kIncoming;
  spdlog::info("peer {}: stream {} service '{}' ({})", host_.peer_label(key.first),
               in ? "to our" : "to its", i.service, i.via);
  host_.broadcast(json::object{{"event", "stream_open"},
                               {"channel", key.second},
                               {"service", i.service},
                               {"direction", in ? "in" : "out"},
                               {"via", i.via}},
                  key.first);
  return stream;
}

void ServicesModule::on_finished(const ChannelKey& key, const std::string& reason) {
  auto found = streams_.find(key);
  if (found == streams_.end()) return;
  std::shared_ptr<Stream> stream = found->second;  // alive until this returns
  streams_.erase(found);
  const Stream::Info& info = stream->info();
  if (reason != "ended") stats_.reset += 1;
  for (auto& forward : forwards_) {
    if (forward->config.listen.text == info.via) {
      forward->past_bytes_in += stream->bytes_in();
      forward->past_bytes_out += stream->bytes_out();
    }
  }
  spdlog::info("peer {}: stream '{}' closed ({}; {} bytes in, {} out)", host_.peer_label(key.first),
               info.service, escape_text(reason), stream->bytes_in(), stream->bytes_out());
  host_.broadcast(json::object{{"event", "stream_close"},
                               {"channel", key.second},
                               {"service", info.service},
                               {"reason", reason},
                               {"bytes_in", stream->bytes_in()},
                               {"bytes_out", stream->bytes_out()}},
                  key.first);
}

// ---------------------------------------------------------------------------------------
// Channel events of streams we own

void ServicesModule::channel_data(event::ChannelData& data) {
  const ChannelKey key{data.peer, data.channel};
  if (auto opening = awaiting_accept_.find(key); opening != awaiting_accept_.end()) {
    // Data before we saw the ack: the peer accepted.
    auto owned = std::move(opening->second);
    awaiting_accept_.erase(opening);
    accepted(std::move(owned));
  }
  if (auto found = streams_.find(key); found != streams_.end()) {
    std::shared_ptr<Stream> stream = found->second;
    stream->data(data);
  }
}

void ServicesModule::channel_closed(const ChannelKey& key, const std::string& reason) {
  if (auto opening = awaiting_accept_.find(key); opening != awaiting_accept_.end()) {
    auto owned = std::move(opening->second);
    awaiting_accept_.erase(opening);
    const std::string message = reason == kStreamUnavailable
                                    ? "peer '" + host_.peer_label(key.first) +
                                          "' has no service '" + owned->service +
                                          "' that we may use (unavailable)"
                                    : "the stream was refused: " + escape_text(reason);
    fail_opening(std::move(owned), code_for_close(reason), message);
    return;
  }
  if (auto found = streams_.find(key); found != streams_.end()) {
    std::shared_ptr<Stream> stream = found->second;
    stream->closed(reason);
  }
}

void ServicesModule::pump() {
  // Openings the peer has accepted (its ack moved the channel out of OPENING).
  std::vector<ChannelKey> ready;
  for (const auto& [key, opening] : awaiting_accept_) {
    if (host_.endpoint().channel_state(key.first, key.second) == ChannelState::kOpen) {
      ready.push_back(key);
    }
  }
  for (const auto& key : ready) {
    auto owned = std::move(awaiting_accept_.at(key));
    awaiting_accept_.erase(key);
    accepted(std::move(owned));
  }
  // Streams with bytes waiting for room in their channel.
  std::vector<std::shared_ptr<Stream>> waiting;
  for (const auto& [key, stream] : streams_) {
    if (stream->waiting_for_room()) waiting.push_back(stream);
  }
  for (const auto& stream : waiting) stream->pump();
}

void ServicesModule::exchange_up(const event::ExchangeUp& up) {
  std::vector<std::unique_ptr<Opening>> ready;
  std::erase_if(awaiting_exchange_, [&](std::unique_ptr<Opening>& opening) {
    if (opening->peer != up.peer) return false;
    ready.push_back(std::move(opening));
    return true;
  });
  for (auto& opening : ready) open_stream(std::move(opening));
}

void ServicesModule::exchange_down(const event::ExchangeDown& /*down*/) {
  // The core errors every channel of the exchange ("timeout"): streams end through
  // channel_closed, which resets their local connections.
}

void ServicesModule::tick(Instant now) {
  std::vector<std::unique_ptr<Opening>> late;
  std::erase_if(awaiting_exchange_, [&](std::unique_ptr<Opening>& opening) {
    if (now < opening->deadline) return false;
    late.push_back(std::move(opening));
    return true;
  });
  for (auto& opening : late) {
    const PeerRuntime* runtime = host_.find_runtime(opening->peer);
    const std::string why =
        runtime && !runtime->down_reason.empty() ? runtime->down_reason : "no answer";
    const std::string message =
        "peer '" + host_.peer_label(opening->peer) + "' is unreachable: " + why;
    fail_opening(std::move(opening), "unreachable", message);
  }
  std::vector<ChannelKey> expired;
  for (const auto& [key, opening] : awaiting_accept_) {
    if (now >= opening->deadline) expired.push_back(key);
  }
  for (const auto& key : expired) {
    auto owned = std::move(awaiting_accept_.at(key));
    awaiting_accept_.erase(key);
    host_.close_channel(key, "timeout");
    const std::string message =
        "peer '" + host_.peer_label(key.first) + "' did not answer the stream";
    fail_opening(std::move(owned), "no_reply", message);
  }
}

// ---------------------------------------------------------------------------------------
// Control commands

void ServicesModule::connect_command(const control::Request& request, Host::Respond respond) {
  const json::value* peer_arg = request.args.if_contains("peer");
  const json::value* service_arg = request.args.if_contains("service");
  if (!peer_arg || !peer_arg->is_string() || !service_arg || !service_arg->is_string()) {
    respond(control::error_reply("bad_argument",
                                 "\"peer\" and \"service\" must be a peer and a service name"));
    return;
  }
  const std::string name(peer_arg->get_string());
  const std::string service(service_arg->get_string());
  if (!is_service_name(service)) {
    respond(control::error_reply(
        "bad_argument",
        "a service name is 1 to 64 of a-z 0-9 . _ -; got '" + escape_text(service) + "'"));
    return;
  }
  const auto peer = host_.lookup_peer(name);
  if (!peer) {
    respond(control::error_reply("unknown_peer", "no peer named '" + escape_text(name) + "'"));
    return;
  }
  if (streams_of(*peer) >= kMaxStreamsPerPeer) {
    respond(control::error_reply("busy", "peer '" + name + "' already has " +
                                             std::to_string(kMaxStreamsPerPeer) + " streams"));
    return;
  }
  auto opening = std::make_unique<Opening>();
  opening->peer = *peer;
  opening->service = service;
  opening->via = "e3xctl connect";
  opening->respond = std::move(respond);
  const auto status = host_.endpoint().peer_status(*peer);
  if (status && status->state == ExchangeState::kUp) {
    open_stream(std::move(opening));
    return;
  }
  // Not up: the usual connect attempt, now, and the stream once it is up.
  opening->deadline = host_.now() + kConnectUpWait;
  awaiting_exchange_.push_back(std::move(opening));
  host_.connect_now(*peer);
}

Host::Reply ServicesModule::services_command(const control::Request&) const {
  json::array out;
  for (const auto& service : services_) {
    json::array allow;
    for (const auto& entry : service.allow) allow.emplace_back(entry);
    out.emplace_back(json::object{
        {"name", service.name}, {"target", service.target.text}, {"allow", std::move(allow)}});
  }
  return json::value(std::move(out));
}

Host::Reply ServicesModule::forwards_command(const control::Request&) const {
  json::array out;
  for (const auto& forward : forwards_) {
    std::uint64_t open = 0, bytes_in = forward->past_bytes_in, bytes_out = forward->past_bytes_out;
    for (const auto& [key, stream] : streams_) {
      if (stream->info().via != forward->config.listen.text) continue;
      ++open;
      bytes_in += stream->bytes_in();
      bytes_out += stream->bytes_out();
    }
    for (const auto& [key, opening] : awaiting_accept_) {
      if (opening->via == forward->config.listen.text) ++open;
    }
    out.emplace_back(json::object{
        {"listen", forward->config.listen.text},
        {"peer", forward->config.peer},
        {"service", forward->config.service},
        {"state", forward->error.empty() ? json::value("listening") : json::value("failed")},
        {"error", forward->error.empty() ? json::value() : json::value(forward->error)},
        {"connections", open},
        {"accepted", forward->accepted},
        {"refused", forward->refused},
        {"bytes_in", bytes_in},
        {"bytes_out", bytes_out}});
  }
  return json::value(std::move(out));
}

Host::Reply ServicesModule::streams_command(const control::Request&) const {
  json::array out;
  const Instant now = host_.now();
  for (const auto& [key, stream] : streams_) out.emplace_back(stream->to_json(now));
  return json::value(std::move(out));
}

void ServicesModule::add_status(json::object& status) const {
  status["services"] = json::object{{"services", services_.size()},
                                    {"forwards", forwards_.size()},
                                    {"streams", streams_.size()},
                                    {"streams_in", stats_.streams_in},
                                    {"streams_out", stats_.streams_out},
                                    {"unavailable", stats_.unavailable},
                                    {"busy", stats_.busy},
                                    {"refused", stats_.refused},
                                    {"forward_refused", stats_.forward_refused},
                                    {"reset", stats_.reset}};
}

}  // namespace e3x::daemon
