// One listening UDP socket (PROTOCOL.md 7: one packet per datagram). It receives with a
// budget: after an asynchronous receive completes it drains up to budget-1 more datagrams
// without blocking, then re-arms and reports the end of the batch, so one busy socket cannot
// starve the rest of the io_context. It makes no decisions about the datagrams it reads.
#pragma once

#include <cstddef>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "core/bytes.hpp"

namespace e3x::net {

// Kernel buffer sizes to ask for, in bytes; 0 leaves the system default. A burst of datagrams
// larger than the receive buffer is dropped by the kernel before we see it, and Linux's default
// (212 KiB) holds about 150 full-size packets: less than one window of a fast stream.
struct UdpSocketBuffers {
  std::size_t receive = 0;
  std::size_t send = 0;
};

class UdpSocket : public std::enable_shared_from_this<UdpSocket> {
 public:
  // What the socket reports; never called after close().
  class Events {
   public:
    // `datagram` is only valid during the call. It may be longer than max_datagram when the
    // datagram was truncated: the caller decides what is oversized.
    virtual void on_datagram(const boost::asio::ip::udp::endpoint& from, ByteView datagram) = 0;
    // After each wake-up's batch of datagrams.
    virtual void on_udp_batch_end() = 0;

   protected:
    ~Events() = default;
  };

  // Datagrams longer than buffer_size are truncated to it by the OS; budget 0 counts as 1.
  UdpSocket(boost::asio::io_context& io, std::size_t buffer_size, std::size_t budget,
            Events& events);

  using Buffers = UdpSocketBuffers;
  // Opens and binds (v6_only for IPv6, so v4 and v6 wildcards can both be bound), sizes the
  // kernel buffers and makes the socket non-blocking. Does not receive yet. A buffer the
  // system will not make as large as asked is no error: effective_buffers() says what it got.
  boost::system::error_code open(const boost::asio::ip::udp::endpoint& listen,
                                 Buffers buffers = {});
  // The buffers the socket got, as usable bytes (Linux reports twice that for SO_RCVBUF /
  // SO_SNDBUF, counting its bookkeeping; Asio's option halves it back).
  Buffers effective_buffers() const;
  // Starts the receive loop; the socket keeps itself alive while an operation is outstanding.
  void start();
  // Closes the socket; Events are never called again.
  void close();

  // Sends one datagram without blocking; false on any error (a full send buffer included).
  bool send_to(ByteView datagram, const boost::asio::ip::udp::endpoint& to);

  boost::asio::ip::udp::endpoint local_endpoint() const;
  bool is_v6() const { return local_.address().is_v6(); }

 private:
  void arm_receive();
  void on_receive(const boost::system::error_code& error, std::size_t size);

  boost::asio::ip::udp::socket socket_;
  Bytes buffer_;
  std::size_t budget_;
  Events* events_;  // nullptr once closed
  boost::asio::ip::udp::endpoint local_;
  boost::asio::ip::udp::endpoint sender_;
};

}  // namespace e3x::net
