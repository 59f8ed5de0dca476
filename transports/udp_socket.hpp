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
  // Sends the datagrams laid end to end in `run`, each `segment` bytes but the last (which may
  // be shorter), to one destination with one system call: UDP generic segmentation offload
  // (UDP_SEGMENT), so the kernel walks its stack once for the run instead of once per
  // datagram. Where the kernel or the route refuses it, GSO is turned off for this socket and
  // the datagrams go one sendto each. Returns how many were sent.
  struct RunSent {
    std::size_t datagrams = 0;  // sent
    bool segmented = false;     // in one system call (GSO)
  };
  RunSent send_run(ByteView run, std::size_t segment, const boost::asio::ip::udp::endpoint& to);
  // The most datagrams and bytes one send_run may carry (the kernel's UDP_MAX_SEGMENTS and
  // the largest UDP payload).
  static constexpr std::size_t kMaxRunSegments = 64;
  static constexpr std::size_t kMaxRunBytes = 65507;
  bool gso_enabled() const { return gso_; }
  // Off: send_run sends one datagram per system call (the kernel segments nothing).
  void disable_gso() { gso_ = false; }
  bool gro_enabled() const { return gro_; }
  // Received buffers that held a coalesced run of several datagrams (GRO).
  std::uint64_t coalesced_receives() const { return coalesced_receives_; }
  // Datagrams the kernel dropped because this socket's receive buffer was full, as it last
  // reported (SO_RXQ_OVFL: a running count since the socket opened, sent with each datagram
  // read). They were lost before e3xd saw them; [udp] receive_buffer is the remedy.
  std::uint64_t receive_buffer_drops() const { return receive_buffer_drops_; }

  boost::asio::ip::udp::endpoint local_endpoint() const;
  bool is_v6() const { return local_.address().is_v6(); }

 private:
  void arm_receive();
  void on_readable(const boost::system::error_code& error);
  // One recvmsg: delivers the datagram, or each datagram of a coalesced (GRO) buffer. Returns
  // how many were delivered, 0 when nothing was waiting.
  std::size_t receive_one();
  std::size_t send_each(ByteView run, std::size_t segment,
                        const boost::asio::ip::udp::endpoint& to);

  boost::asio::ip::udp::socket socket_;
  Bytes buffer_;
  std::size_t budget_;
  Events* events_;  // nullptr once closed
  boost::asio::ip::udp::endpoint local_;
  boost::asio::ip::udp::endpoint sender_;
  bool gso_ = true;   // until the kernel refuses a segmented send
  bool gro_ = false;  // the kernel agreed to coalesce received runs (UDP_GRO)
  std::uint64_t coalesced_receives_ = 0;
  std::uint64_t receive_buffer_drops_ = 0;
};

}  // namespace e3x::net
