#include "transports/tcp_listener.hpp"

#include <chrono>
#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/v6_only.hpp>

namespace e3x::net {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// An accept error that persists (out of file descriptors) would otherwise fail again at once,
// forever: wait this long before the next attempt.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

}  // namespace

TcpListener::TcpListener(asio::io_context& io, Events& events)
    : acceptor_(io), retry_timer_(io), events_(&events) {}

error_code TcpListener::open(const tcp::endpoint& listen) {
  error_code error;
  if (acceptor_.open(listen.protocol(), error)) return error;
  if (acceptor_.set_option(tcp::acceptor::reuse_address(true), error)) return error;
  if (listen.address().is_v6() && acceptor_.set_option(asio::ip::v6_only(true), error)) {
    return error;
  }
  if (acceptor_.bind(listen, error)) return error;
  if (acceptor_.listen(tcp::acceptor::max_listen_connections, error)) return error;
  local_ = acceptor_.local_endpoint(error);
  return error;
}

void TcpListener::start() {
  arm_accept();
}

void TcpListener::close() {
  events_ = nullptr;
  error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
}

void TcpListener::arm_accept() {
  acceptor_.async_accept([self = shared_from_this()](const error_code& error, tcp::socket socket) {
    self->on_accept(error, std::move(socket));
  });
}

void TcpListener::on_accept(const error_code& error, tcp::socket socket) {
  if (events_ == nullptr) return;  // closed while accepting
  if (error) {
    if (error == asio::error::operation_aborted || error == asio::error::bad_descriptor) return;
    if (error == asio::error::connection_aborted) {  // that client gave up; the next may not
      arm_accept();
      return;
    }
    retry_timer_.expires_after(kAcceptRetryDelay);
    retry_timer_.async_wait([self = shared_from_this()](const error_code& wait_error) {
      if (!wait_error && self->events_ != nullptr) self->arm_accept();
    });
    return;
  }
  arm_accept();
  events_->on_tcp_accepted(std::move(socket));
}

}  // namespace e3x::net
