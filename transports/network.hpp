// The daemon's sockets (PROTOCOL.md 7): UDP and TCP listeners, outgoing TCP connections,
// cloaking at the edge and addresses behind opaque path ids. It carries packets and counts
// what it drops; it makes no protocol decisions (ARCHITECTURE.md).
//
// Threading: everything runs on the io_context's one thread; no call is thread-safe. The
// io_context must outlive the Network. Do not destroy the Network from inside its handlers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include "core/bytes.hpp"
#include "core/events.hpp"
#include "core/random.hpp"
#include "transports/path_address.hpp"
#include "transports/udp_socket.hpp"

namespace e3x::net {

struct NetworkOptions {
  std::vector<boost::asio::ip::udp::endpoint> udp_listen;
  bool udp_cloak = true;  // send cloaked on UDP (PROTOCOL.md 7: the default)
  std::vector<boost::asio::ip::tcp::endpoint> tcp_listen;
  bool tcp_cloak = true;
  std::size_t receive_budget = 64;  // packets handled per socket per wake-up, then yield
  UdpSocket::Buffers udp_buffers;   // kernel buffer sizes asked for each UDP socket
  bool udp_gso = true;              // send held runs with one system call (UdpSocket::send_run)
  std::size_t max_packet = 65535;   // larger UDP datagrams / TCP frames are dropped and counted
  std::size_t path_limit = 65536;   // path ids remembered (LRU; evicted ids are never reused;
                                    // path_for() paths are never evicted)
  std::size_t tcp_connection_limit = 1024;  // accepted connections open at once
  // Accepted connections that have not delivered an authenticated packet (mark_authenticated)
  // are closed after this long, and at most this many from one address exist at once
  // (PROTOCOL.md 10.9).
  std::chrono::milliseconds tcp_unauthenticated_timeout{10000};
  std::size_t tcp_unauthenticated_per_address = 16;
  std::size_t tcp_write_queue_limit = 1 << 20;  // bytes queued per connection; beyond: drop
};

// Counters only ever grow. Bytes are counted as datagrams / frames on the wire (cloaked if they
// were), without the TCP chunk framing.
struct NetworkStats {
  std::uint64_t rx_packets = 0;  // delivered to the PacketHandler
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_packets = 0;  // UDP: sent; TCP: queued on a connection
  std::uint64_t tx_bytes = 0;
  // UDP offloads: runs of datagrams sent with one system call (GSO), and received buffers
  // that held several (GRO).
  std::uint64_t udp_gso_runs = 0;
  std::uint64_t udp_gso_datagrams = 0;
  std::uint64_t udp_gro_buffers = 0;
  std::uint64_t dropped_oversize = 0;  // UDP datagrams over max_packet
  // Dropped by the kernel at a full UDP receive buffer, before e3xd read them (SO_RXQ_OVFL;
  // known when the next datagram is read).
  std::uint64_t dropped_receive_buffer = 0;
  std::uint64_t dropped_uncloak = 0;  // 8 layers still cloaked, empty, or short
  // send(): no socket of that family, socket error, not running, not a plain packet, a TCP
  // frame over max_packet, no TCP connection for an accepted path, or queued on a TCP
  // connection that then failed or closed (those were counted in tx_packets when queued).
  std::uint64_t dropped_send_error = 0;
  std::uint64_t dropped_unknown_path = 0;      // send() to an unknown or evicted path id
  std::uint64_t dropped_write_queue_full = 0;  // TCP write queue over tcp_write_queue_limit
  std::uint64_t tcp_accepted = 0;
  std::uint64_t tcp_connected = 0;  // outgoing connections established
  std::uint64_t tcp_connect_failed = 0;
  std::uint64_t tcp_closed = 0;           // open connections that ended (not counting stop())
  std::uint64_t tcp_frame_too_large = 0;  // connections closed for a frame over 64 KiB/max_packet
  std::uint64_t tcp_rejected_over_limit = 0;  // accepted beyond tcp_connection_limit and closed
  // Accepted over tcp_unauthenticated_per_address from one address, and closed.
  std::uint64_t tcp_rejected_unauthenticated = 0;
  // Closed because nothing authenticated arrived within tcp_unauthenticated_timeout.
  std::uint64_t tcp_closed_unauthenticated = 0;
};

class Network {
 public:
  // One received packet, already uncloaked (first byte 0x00), with the id of the path it came
  // from. `packet` is only valid during the call.
  using PacketHandler = std::function<void(PathId, ByteView packet)>;
  // Called after each wake-up's batch of received packets that delivered at least one packet,
  // so the driver drains the core once per batch.
  using BatchHandler = std::function<void()>;

  // `random` draws cloaking nonces and must outlive the Network.
  Network(boost::asio::io_context& io, Random& random, NetworkOptions options,
          PacketHandler on_packet, BatchHandler on_batch);
  ~Network();  // stop()
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Binds every listen address and starts receiving. Returns "" or an error naming the
  // address, e.g. "udp 0.0.0.0:42424: Address already in use"; on error nothing stays open.
  // Call once.
  std::string start();
  // Closes every socket and connection; no handler is called after stop() returns. Safe from
  // inside a handler and with operations outstanding; later send()s drop.
  void stop();

  // The id for an address (registers it, normalised), for the daemon's configured endpoints.
  // Idempotent. A path registered here is pinned: never evicted, and for TCP dialable: send()
  // connects to it when it has no connection.
  PathId path_for(const PathAddress& address);
  // nullptr if unknown or evicted. Valid until the next call that registers a path.
  const PathAddress* address_of(PathId path) const;

  // Sends one plain packet (first byte 0x00), cloaked when the transport's cloak option is on or
  // this path has ever sent us a cloaked packet. UDP: one datagram from the first listening
  // socket of the same family. TCP: chunk-framed onto the path's connection, connecting first
  // for a dialable path (queued, bounded, until connected). Never blocks; false when dropped
  // (and counted in stats()).
  bool send(PathId path, ByteView packet);
  // From hold_udp() to flush_udp(), UDP datagrams that follow each other to one destination
  // with one size (the last may be shorter) are held and leave as one run
  // (UdpSocket::send_run); send() then returns true for a held datagram, and what the run
  // could not send is counted in dropped_send_error when it leaves. The daemon holds around
  // each turn of its driver, whose packets come in runs to one peer.
  void hold_udp();
  void flush_udp();

  // The core authenticated a packet from `path`: keep its address when the path table is
  // full, and keep an accepted TCP connection on it open.
  void mark_authenticated(PathId path);
  // Why the last connection attempt to a dialable TCP path failed ("connection refused"),
  // "" if it did not (or succeeded since).
  std::string path_error(PathId path) const;

  // The actual bound addresses (port 0 resolved), UDP then TCP, in configuration order.
  std::vector<PathAddress> local_addresses() const;
  // The kernel buffers each UDP socket got, in the order of local_addresses().
  std::vector<UdpSocket::Buffers> udp_buffers() const;
  const NetworkStats& stats() const;
  // Paths remembered, and TCP connections open or connecting.
  std::size_t path_count() const;
  std::size_t tcp_connection_count() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace e3x::net
