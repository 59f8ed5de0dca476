#include "transports/udp_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

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
  // Receive coalesced runs where the kernel offers it (Linux 5.0+); without it, one datagram
  // per recvmsg as before.
  const int on = 1;
  gro_ = ::setsockopt(socket_.native_handle(), SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
  // The kernel's count of datagrams dropped at this socket, reported with each read: the only
  // place such a loss shows (best effort: a kernel without it reports nothing).
  (void)::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
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

std::size_t UdpSocket::send_each(ByteView run, std::size_t segment,
                                 const asio::ip::udp::endpoint& to) {
  std::size_t sent = 0;
  for (std::size_t at = 0; at < run.size(); at += segment) {
    if (!send_to(run.subspan(at, std::min(segment, run.size() - at)), to)) break;
    ++sent;
  }
  return sent;
}

UdpSocket::RunSent UdpSocket::send_run(ByteView run, std::size_t segment,
                                       const asio::ip::udp::endpoint& to) {
  if (events_ == nullptr || run.empty() || segment == 0) return {};
  const std::size_t count = (run.size() + segment - 1) / segment;
  if (count == 1 || !gso_ || count > kMaxRunSegments || run.size() > kMaxRunBytes) {
    return {send_each(run, segment, to), false};
  }
  iovec iov{const_cast<std::uint8_t*>(run.data()), run.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
  msghdr message{};
  message.msg_name = const_cast<sockaddr*>(to.data());
  message.msg_namelen = static_cast<socklen_t>(to.size());
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_UDP;
  header->cmsg_type = UDP_SEGMENT;
  header->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
  const auto size = static_cast<std::uint16_t>(segment);
  std::memcpy(CMSG_DATA(header), &size, sizeof size);
  const ssize_t written = ::sendmsg(socket_.native_handle(), &message, 0);
  if (written == static_cast<ssize_t>(run.size())) return {count, true};
  if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) return {};
  // EIO (a device without checksum offload), EINVAL (an old kernel) and the like: this path
  // cannot segment, so stop trying and send this run the plain way.
  gso_ = false;
  return {send_each(run, segment, to), false};
}

asio::ip::udp::endpoint UdpSocket::local_endpoint() const {
  return local_;
}

// Waits for readability rather than receiving through Asio: a GRO buffer must be read with
// recvmsg to learn its segment size, and Asio's receive does not return control messages.
void UdpSocket::arm_receive() {
  socket_.async_wait(
      asio::socket_base::wait_read,
      [self = shared_from_this()](const error_code& error) { self->on_readable(error); });
}

void UdpSocket::on_readable(const error_code& error) {
  if (events_ == nullptr) return;  // closed while the wait was outstanding
  if (error) {
    if (error == asio::error::operation_aborted || error == asio::error::bad_descriptor) return;
    arm_receive();
    return;
  }
  // Drain what is queued, up to the budget (a coalesced buffer counts as its datagrams).
  for (std::size_t handled = 0; handled < budget_ && events_ != nullptr;) {
    const std::size_t delivered = receive_one();
    if (delivered == 0) break;  // would_block: the queue is empty (or a transient error)
    handled += delivered;
  }
  if (events_ == nullptr) return;  // a handler closed us
  arm_receive();
  events_->on_udp_batch_end();
}

std::size_t UdpSocket::receive_one() {
  iovec iov{buffer_.data(), buffer_.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(std::uint32_t))] = {};
  sockaddr_storage from{};
  msghdr message{};
  message.msg_name = &from;
  message.msg_namelen = sizeof from;
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  // An error other than EAGAIN (an ICMP report pending on the socket) is consumed by the
  // call that returns it, and datagrams may still be queued behind it: try again, a few times.
  ssize_t received = -1;
  for (int attempt = 0; attempt < 4 && received < 0; ++attempt) {
    message.msg_namelen = sizeof from;
    message.msg_controllen = sizeof control;
    received = ::recvmsg(socket_.native_handle(), &message, 0);
    if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  }
  if (received < 0) return 0;
  sender_.resize(message.msg_namelen);
  std::memcpy(sender_.data(), &from, std::min<std::size_t>(message.msg_namelen, sizeof from));
  std::size_t size = static_cast<std::size_t>(received);
  // A datagram longer than the buffer is reported as one byte longer than the largest packet
  // allowed, so the caller drops it as oversized.
  if ((message.msg_flags & MSG_TRUNC) != 0) size = buffer_.size();
  std::size_t segment = 0;
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level == SOL_UDP && header->cmsg_type == UDP_GRO) {
      int value = 0;
      std::memcpy(&value, CMSG_DATA(header), sizeof value);
      if (value > 0) segment = static_cast<std::size_t>(value);
    } else if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SO_RXQ_OVFL) {
      std::uint32_t dropped = 0;
      std::memcpy(&dropped, CMSG_DATA(header), sizeof dropped);
      receive_buffer_drops_ = std::max<std::uint64_t>(receive_buffer_drops_, dropped);
    }
  }
  if (segment == 0 || segment >= size) {
    events_->on_datagram(sender_, ByteView(buffer_.data(), size));
    return 1;
  }
  ++coalesced_receives_;
  std::size_t delivered = 0;
  for (std::size_t at = 0; at < size && events_ != nullptr; at += segment) {
    events_->on_datagram(sender_, ByteView(buffer_.data() + at, std::min(segment, size - at)));
    ++delivered;
  }
  return delivered;
}

}  // namespace e3x::net
