// One TCP connection carrying chunk-framed packets (PROTOCOL.md 7, chunking.hpp), accepted
// or outgoing. It owns the framing, a write queue bounded in bytes and a receive budget; the
// Network decides what the frames mean. The link keeps itself alive (shared_from_this) while an
// operation is outstanding, and close() detaches it so no callback follows.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/bytes.hpp"
#include "transports/chunking.hpp"
#include "transports/path_address.hpp"

namespace e3x::net {

struct TcpLinkLimits {
  std::size_t receive_budget = 64;            // frames delivered per wake-up (0 counts as 1)
  std::size_t max_frame = kMaxChunkedPacket;  // a larger frame closes the link
  std::size_t write_queue_limit = 1 << 20;    // bytes of chunked frames not yet written
};

class TcpLink : public std::enable_shared_from_this<TcpLink> {
 public:
  enum class Origin { kAccepted, kOutgoing };
  enum class CloseReason { kSocketClosed /*end of stream or any socket error*/, kFrameTooLarge };
  enum class Enqueued { kQueued, kQueueFull, kClosed };

  // What the link reports. Never called after close(), nor after on_connect_failed/on_closed.
  class Events {
   public:
    virtual void on_tcp_connected(TcpLink& link) = 0;
    // `unsent` frames queued while connecting were discarded; `error` says why it failed.
    virtual void on_tcp_connect_failed(TcpLink& link, std::size_t unsent,
                                       const boost::system::error_code& error) = 0;
    // One complete frame, as received (still cloaked, if it was); only valid during the call.
    virtual void on_tcp_frame(TcpLink& link, ByteView frame) = 0;
    // After each wake-up's batch of frames.
    virtual void on_tcp_batch_end() = 0;
    virtual void on_tcp_closed(TcpLink& link, CloseReason reason, std::size_t unsent) = 0;

   protected:
    ~Events() = default;
  };

  // An accepted connection; starts reading at once.
  static std::shared_ptr<TcpLink> accepted(boost::asio::ip::tcp::socket socket,
                                           const PathAddress& remote, const TcpLinkLimits& limits,
                                           Events& events);
  // An outgoing connection to `remote`; frames queue (bounded) until it is connected.
  static std::shared_ptr<TcpLink> connect(boost::asio::io_context& io, const PathAddress& remote,
                                          const TcpLinkLimits& limits, Events& events);

  // Queues one chunk-encoded frame; never blocks.
  Enqueued enqueue(Bytes chunked_frame);
  // Closes the socket without reporting; returns how many queued frames were discarded.
  std::size_t close();

  const PathAddress& remote() const { return remote_; }
  Origin origin() const { return origin_; }
  // An accepted connection is trusted only once it delivered an authenticated packet (the
  // Network closes those that do not in time: PROTOCOL.md 10.9).
  bool authenticated() const { return authenticated_; }
  void set_authenticated() { authenticated_ = true; }
  std::chrono::steady_clock::time_point opened_at() const { return opened_at_; }

  // Use accepted() or connect(); public only for std::make_shared.
  TcpLink(boost::asio::ip::tcp::socket socket, const PathAddress& remote, Origin origin,
          const TcpLinkLimits& limits, Events& events);

 private:
  enum class State { kConnecting, kOpen, kClosed };

  void on_connect(const boost::system::error_code& error);
  void start_read();
  void on_read(const boost::system::error_code& error, std::size_t size);
  void deliver_inbox();
  void start_write();
  void on_written(const boost::system::error_code& error);
  // Closes and reports (once).
  void fail(CloseReason reason);

  boost::asio::ip::tcp::socket socket_;
  PathAddress remote_;
  Origin origin_;
  TcpLinkLimits limits_;
  Events* events_;  // nullptr once closed
  State state_;
  bool authenticated_ = false;
  std::chrono::steady_clock::time_point opened_at_ = std::chrono::steady_clock::now();

  Bytes read_buffer_;
  ChunkDecoder decoder_;
  std::vector<Bytes> inbox_;  // decoded frames; the next read waits until all are delivered
  std::size_t inbox_next_ = 0;

  std::deque<Bytes> write_queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t frames_in_flight_ = 0;  // the front frames an async_write is sending
};

}  // namespace e3x::net
