#include "daemon/modules/metrics/http_server.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>
#include <set>
#include <vector>

#include "daemon/modules/metrics/metrics_format.hpp"

namespace e3x::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// What the server and its connections share. Connections hold it, so whatever a late handler
// touches is still there after the server object is gone.
struct MetricsHttpServer::State {
  State(asio::io_context& io, Render render_text, Limits server_limits)
      : acceptor(io), retry_timer(io), render(std::move(render_text)), limits(server_limits) {}

  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;  // after an accept error such as EMFILE
  Render render;
  Limits limits;
  bool stopped = false;
  std::set<Connection*> connections;  // open ones; each takes itself out when it ends
  Stats stats;
};

// One client connection: read a request, answer it, and again while the client keeps it
// alive. Every step has a deadline (beast::tcp_stream closes the socket when it passes).
class MetricsHttpServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<State> state, tcp::socket socket)
      : state_(std::move(state)),
        stream_(std::move(socket)),
        buffer_(state_->limits.max_request_bytes) {
    state_->connections.insert(this);
  }
  ~Connection() { state_->connections.erase(this); }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->limits.max_request_bytes));
    stream_.expires_after(state_->limits.request_timeout);
    // The header only: a body is never read, so its size does not matter.
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code error, std::size_t) {
                              self->on_read(error);
                            });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void on_read(beast::error_code error) {
    if (state_->stopped || error == asio::error::operation_aborted) return;
    if (error == beast::error::timeout) {
      state_->stats.timed_out += 1;
      return;  // the stream closed the socket
    }
    if (error == http::error::end_of_stream) {
      close();  // the client closed between requests
      return;
    }
    if (error) {
      // Garbage, a request over the limits, a body: say so and hang up. Socket errors (a
      // reset) only end the connection.
      if (error.category() == http::make_error_code(http::error::bad_method).category()) {
        answer(http::status::bad_request, "bad request: " + error.message() + "\n", false);
      } else {
        close();
      }
      return;
    }
    const auto& request = parser_->get();
    // A body that follows stays unread, so the connection cannot carry another request.
    const bool has_body = !parser_->is_done();
    const bool keep_alive = request.keep_alive() && !has_body;
    const std::string_view target(request.target().data(), request.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      answer(http::status::method_not_allowed, "only GET and HEAD are served\n", keep_alive);
    } else if (has_body) {
      answer(http::status::bad_request, "a request body is not accepted\n", false);
    } else if (path != "/metrics") {
      answer(http::status::not_found, "not found; the metrics are at /metrics\n", keep_alive);
    } else {
      state_->stats.answered += 1;
      std::string text = state_->render();
      const std::size_t length = text.size();
      respond(http::status::ok, std::move(text), kMetricsContentType, keep_alive);
      if (request.method() == http::verb::head) {
        response_.body().clear();
        response_.content_length(length);  // what GET would send
      }
      write();
    }
  }

  // An error answer (counted as rejected).
  void answer(http::status status, std::string body, bool keep_alive) {
    state_->stats.rejected += 1;
    respond(status, std::move(body), "text/plain; charset=utf-8", keep_alive);
    if (status == http::status::method_not_allowed) response_.set(http::field::allow, "GET, HEAD");
    write();
  }

  void respond(http::status status, std::string body, std::string_view type, bool keep_alive) {
    response_ = {};
    response_.result(status);
    response_.version(11);
    response_.set(http::field::content_type, type);
    response_.keep_alive(keep_alive);
    response_.body() = std::move(body);
    response_.prepare_payload();
  }

  void write() {
    stream_.expires_after(state_->limits.response_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code error, std::size_t) {
                        self->on_write(error);
                      });
  }

  void on_write(beast::error_code error) {
    if (state_->stopped || error == asio::error::operation_aborted) return;
    if (error == beast::error::timeout) {
      state_->stats.timed_out += 1;
      return;
    }
    if (error || !response_.keep_alive()) {
      close();
      return;
    }
    read();
  }

  std::shared_ptr<State> state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;  // its maximum size bounds the request too
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> response_;
};

MetricsHttpServer::MetricsHttpServer(asio::io_context& io, Render render, Limits limits)
    : state_(std::make_shared<State>(io, std::move(render), limits)) {}

MetricsHttpServer::~MetricsHttpServer() {
  stop();
}

std::string MetricsHttpServer::listen(const tcp::endpoint& at) {
  boost::system::error_code error;
  tcp::acceptor& acceptor = state_->acceptor;
  if (acceptor.open(at.protocol(), error) ||
      acceptor.set_option(tcp::acceptor::reuse_address(true), error) || acceptor.bind(at, error) ||
      acceptor.listen(asio::socket_base::max_listen_connections, error)) {
    acceptor.close();
    return error.message();
  }
  accept(state_);
  return {};
}

void MetricsHttpServer::accept(const std::shared_ptr<State>& state) {
  state->acceptor.async_accept([state](boost::system::error_code error, tcp::socket socket) {
    if (state->stopped || error == asio::error::operation_aborted) return;
    if (error) {
      // Out of file descriptors, say: try again shortly rather than spin.
      state->retry_timer.expires_after(std::chrono::milliseconds(100));
      state->retry_timer.async_wait([state](boost::system::error_code wait_error) {
        if (!wait_error && !state->stopped) accept(state);
      });
      return;
    }
    if (state->connections.size() >= state->limits.max_connections) {
      state->stats.over_limit += 1;
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Connection>(state, std::move(socket))->read();
    }
    accept(state);
  });
}

tcp::endpoint MetricsHttpServer::local_endpoint() const {
  boost::system::error_code ignored;
  return state_->acceptor.local_endpoint(ignored);
}

void MetricsHttpServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  state_->retry_timer.cancel();
  // Closing cancels their pending reads and writes; each ends when its handler has run.
  const std::vector<Connection*> open(state_->connections.begin(), state_->connections.end());
  for (Connection* connection : open) connection->close();
}

std::size_t MetricsHttpServer::connections() const {
  return state_->connections.size();
}

const MetricsHttpServer::Stats& MetricsHttpServer::stats() const {
  return state_->stats;
}

}  // namespace e3x::daemon
