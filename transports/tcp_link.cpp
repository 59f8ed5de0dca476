#include "transports/tcp_link.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace e3x::net {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadBufferBytes = 16 * 1024;
constexpr std::size_t kMaxFramesPerWrite = 64;  // gathered into one async_write

}  // namespace

TcpLink::TcpLink(tcp::socket socket, const PathAddress& remote, Origin origin,
                 const TcpLinkLimits& limits, Events& events)
    : socket_(std::move(socket)),
      remote_(remote),
      origin_(origin),
      limits_(limits),
      events_(&events),
      state_(origin == Origin::kAccepted ? State::kOpen : State::kConnecting),
      read_buffer_(kReadBufferBytes) {
  limits_.receive_budget = std::max<std::size_t>(limits_.receive_budget, 1);
}

std::shared_ptr<TcpLink> TcpLink::accepted(tcp::socket socket, const PathAddress& remote,
                                           const TcpLinkLimits& limits, Events& events) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // packets are small and latency matters
  auto link =
      std::make_shared<TcpLink>(std::move(socket), remote, Origin::kAccepted, limits, events);
  link->start_read();
  return link;
}

std::shared_ptr<TcpLink> TcpLink::connect(asio::io_context& io, const PathAddress& remote,
                                          const TcpLinkLimits& limits, Events& events) {
  auto link = std::make_shared<TcpLink>(tcp::socket(io), remote, Origin::kOutgoing, limits, events);
  // async_connect opens the socket; an error opening it arrives in the handler.
  link->socket_.async_connect(tcp_endpoint(remote),
                              [self = link](const error_code& error) { self->on_connect(error); });
  return link;
}

TcpLink::Enqueued TcpLink::enqueue(Bytes chunked_frame) {
  if (state_ == State::kClosed) return Enqueued::kClosed;
  if (queued_bytes_ + chunked_frame.size() > limits_.write_queue_limit) {
    return Enqueued::kQueueFull;
  }
  queued_bytes_ += chunked_frame.size();
  write_queue_.push_back(std::move(chunked_frame));
  start_write();
  return Enqueued::kQueued;
}

std::size_t TcpLink::close() {
  events_ = nullptr;
  state_ = State::kClosed;
  error_code ignored;
  socket_.close(ignored);
  const std::size_t unsent = write_queue_.size() - frames_in_flight_;
  // Frames an outstanding async_write still points at stay until it completes (aborted).
  while (write_queue_.size() > frames_in_flight_) {
    queued_bytes_ -= write_queue_.back().size();
    write_queue_.pop_back();
  }
  inbox_.clear();
  return unsent;
}

void TcpLink::on_connect(const error_code& error) {
  if (events_ == nullptr) return;  // closed while connecting
  if (error) {
    Events* events = events_;
    const std::size_t unsent = close();
    events->on_tcp_connect_failed(*this, unsent, error);
    return;
  }
  state_ = State::kOpen;
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  events_->on_tcp_connected(*this);
  if (events_ == nullptr) return;
  start_read();
  start_write();
}

void TcpLink::start_read() {
  socket_.async_read_some(asio::buffer(read_buffer_),
                          [self = shared_from_this()](const error_code& error, std::size_t size) {
                            self->on_read(error, size);
                          });
}

void TcpLink::on_read(const error_code& error, std::size_t size) {
  if (events_ == nullptr) return;
  if (error) {  // end of stream, reset, or aborted by a failed write
    fail(CloseReason::kSocketClosed);
    return;
  }
  const auto status = decoder_.feed(ByteView(read_buffer_.data(), size), inbox_);
  const bool too_large = status == ChunkDecoder::Status::kFrameTooLarge ||
                         std::any_of(inbox_.begin(), inbox_.end(), [this](const Bytes& frame) {
                           return frame.size() > limits_.max_frame;
                         });
  if (too_large) {
    // The peer is broken or hostile: frames decoded before the bad one are dropped with it.
    fail(CloseReason::kFrameTooLarge);
    return;
  }
  deliver_inbox();
}

void TcpLink::deliver_inbox() {
  if (events_ == nullptr) return;
  for (std::size_t handled = 0; handled < limits_.receive_budget && inbox_next_ < inbox_.size();
       ++handled) {
    const Bytes frame = std::move(inbox_[inbox_next_++]);
    events_->on_tcp_frame(*this, frame);
    if (events_ == nullptr) return;  // a handler closed us
  }
  if (inbox_next_ < inbox_.size()) {
    // Over budget: let other work run, then continue before reading more.
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->deliver_inbox(); });
  } else {
    inbox_.clear();
    inbox_next_ = 0;
    start_read();
  }
  events_->on_tcp_batch_end();
}

void TcpLink::start_write() {
  if (state_ != State::kOpen || frames_in_flight_ > 0 || write_queue_.empty()) return;
  std::vector<asio::const_buffer> buffers;
  for (const Bytes& frame : write_queue_) {
    if (buffers.size() == kMaxFramesPerWrite) break;
    buffers.emplace_back(frame.data(), frame.size());
  }
  frames_in_flight_ = buffers.size();
  asio::async_write(socket_, buffers,
                    [self = shared_from_this()](const error_code& error, std::size_t) {
                      self->on_written(error);
                    });
}

void TcpLink::on_written(const error_code& error) {
  for (; frames_in_flight_ > 0; --frames_in_flight_) {
    queued_bytes_ -= write_queue_.front().size();
    write_queue_.pop_front();
  }
  if (events_ == nullptr) return;
  if (error) {
    fail(CloseReason::kSocketClosed);
    return;
  }
  start_write();
}

void TcpLink::fail(CloseReason reason) {
  Events* events = events_;
  if (events == nullptr) return;
  const std::size_t unsent = close();
  events->on_tcp_closed(*this, reason, unsent);
}

}  // namespace e3x::net
