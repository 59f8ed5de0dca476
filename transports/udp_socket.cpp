#include "transports/udp_socket.hpp"

#include <algorithm>
#include <climits>

#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/v6_only.hpp>

namespace e3x::net {

namespace asio = boost::asio;
using boost::system::error_code;

UdpSocket::UdpSocket(asio::io_context& io, std::size_t buffer_size, std::size_t budget,
                     Events& events)
    : socket_(io),
      buffer_(std::max<std::size_t>(buffer_size, 1)),
      budget_(std::max<std::size_t>(budget, 1)),
      events_(&events) {}

namespace {

// Asks for `bytes` with the privileged option first (SO_RCVBUFFORCE / SO_SNDBUFFORCE ignore
// net.core.rmem_max / wmem_max; they need CAP_NET_ADMIN), then the ordinary one, which the
// kernel silently caps at the sysctl.
void size_buffer(int fd, int forced_option, int option, std::size_t bytes) {
  if (bytes == 0) return;
  const int value = static_cast<int>(std::min<std::size_t>(bytes, INT_MAX / 2));
  if (::setsockopt(fd, SOL_SOCKET, forced_option, &value, sizeof value) == 0) return;
  ::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value);
}

}  // namespace

error_code UdpSocket::open(const asio::ip::udp::endpoint& listen, Buffers buffers) {
  error_code error;
  if (socket_.open(listen.protocol(), error)) return error;
  if (listen.address().is_v6() && socket_.set_option(asio::ip::v6_only(true), error)) {
    return error;
  }
  size_buffer(socket_.native_handle(), SO_RCVBUFFORCE, SO_RCVBUF, buffers.receive);
  size_buffer(socket_.native_handle(), SO_SNDBUFFORCE, SO_SNDBUF, buffers.send);
  if (socket_.bind(listen, error)) return error;
  if (socket_.non_blocking(true, error)) return error;
  local_ = socket_.local_endpoint(error);
  return error;
}

UdpSocket::Buffers UdpSocket::effective_buffers() const {
  error_code ignored;
  asio::socket_base::receive_buffer_size receive;
  asio::socket_base::send_buffer_size send;
  socket_.get_option(receive, ignored);
  socket_.get_option(send, ignored);
  return Buffers{static_cast<std::size_t>(std::max(receive.value(), 0)),
                 static_cast<std::size_t>(std::max(send.value(), 0))};
}

void UdpSocket::start() {
  arm_receive();
}

void UdpSocket::close() {
  events_ = nullptr;
  error_code ignored;
  socket_.close(ignored);
}

bool UdpSocket::send_to(ByteView datagram, const asio::ip::udp::endpoint& to) {
  if (events_ == nullptr) return false;
  error_code error;
  socket_.send_to(asio::buffer(datagram.data(), datagram.size()), to, 0, error);
  return !error;
}

asio::ip::udp::endpoint UdpSocket::local_endpoint() const {
  return local_;
}

void UdpSocket::arm_receive() {
  socket_.async_receive_from(
      asio::buffer(buffer_), sender_,
      [self = shared_from_this()](const error_code& error, std::size_t size) {
        self->on_receive(error, size);
      });
}

void UdpSocket::on_receive(const error_code& error, std::size_t size) {
  if (events_ == nullptr) return;  // closed while the receive was outstanding
  if (error) {
    if (error == asio::error::operation_aborted || error == asio::error::bad_descriptor) return;
    arm_receive();  // a transient error (e.g. an ICMP report); keep listening
    return;
  }
  events_->on_datagram(sender_, ByteView(buffer_.data(), size));
  // Drain what is already queued, up to the budget, without waiting.
  for (std::size_t handled = 1; handled < budget_ && events_ != nullptr; ++handled) {
    error_code drain_error;
    size = socket_.receive_from(asio::buffer(buffer_), sender_, 0, drain_error);
    if (drain_error) break;  // would_block: the queue is empty
    events_->on_datagram(sender_, ByteView(buffer_.data(), size));
  }
  if (events_ == nullptr) return;  // a handler closed us
  arm_receive();
  events_->on_udp_batch_end();
}

}  // namespace e3x::net
