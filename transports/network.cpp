#include "transports/network.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include <malloc.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "transports/chunking.hpp"
#include "transports/cloak.hpp"
#include "transports/path_table.hpp"
#include "transports/tcp_link.hpp"
#include "transports/tcp_listener.hpp"
#include "transports/udp_socket.hpp"

namespace e3x::net {

namespace asio = boost::asio;

namespace {
constexpr std::size_t kTrimAfterClosing = 64;
}  // namespace

// Owns the sockets and the path table; receives their events. Sockets and links point back
// here only until they are closed (stop() closes them all), so none outlives its use of us.
class Network::Impl final : public UdpSocket::Events,
                            public TcpListener::Events,
                            public TcpLink::Events {
 public:
  Impl(asio::io_context& io, Random& random, NetworkOptions options, PacketHandler on_packet,
       BatchHandler on_batch)
      : io_(io),
        random_(random),
        options_(std::move(options)),
        on_packet_(std::move(on_packet)),
        on_batch_(std::move(on_batch)),
        paths_(options_.path_limit),
        sweep_timer_(io) {}

  std::string start();
  void stop();
  PathId path_for(const PathAddress& address);
  const PathAddress* address_of(PathId path) const;
  bool send(PathId path, ByteView packet);
  std::vector<PathAddress> local_addresses() const;
  void hold_udp() { holding_ = true; }
  void flush_udp() {
    send_held_run();
    holding_ = false;
  }
  std::vector<UdpSocket::Buffers> udp_buffers() const {
    std::vector<UdpSocket::Buffers> buffers;
    for (const auto& socket : udp_sockets_) buffers.push_back(socket->effective_buffers());
    return buffers;
  }
  const NetworkStats& stats() const {
    stats_.udp_gro_buffers = gro_buffers_of_closed_;
    stats_.dropped_receive_buffer = receive_drops_of_closed_;
    for (const auto& socket : udp_sockets_) {
      stats_.udp_gro_buffers += socket->coalesced_receives();
      stats_.dropped_receive_buffer += socket->receive_buffer_drops();
    }
    return stats_;
  }
  std::size_t path_count() const { return paths_.size(); }
  std::size_t tcp_connection_count() const { return tcp_links_.size(); }
  void mark_authenticated(PathId path);
  std::string path_error(PathId path) const;

 private:
  enum class State { kIdle, kRunning, kStopped };

  // Received packets, from either transport.
  void deliver(const PathAddress& from, ByteView wire);
  void end_batch();

  bool send_udp(const PathEntry& path, ByteView wire);
  bool send_tcp(const PathEntry& path, ByteView wire);
  bool drop(std::uint64_t& counter) {
    ++counter;
    return false;
  }
  TcpLinkLimits tcp_limits() const;
  std::size_t accepted_links() const;
  std::size_t unauthenticated_links_from(const boost::asio::ip::address& ip) const;
  void forget(TcpLink& link);
  // Closes accepted connections that did not authenticate in time; re-arms while any wait.
  void arm_sweep();
  void sweep();

  void on_datagram(const asio::ip::udp::endpoint& from, ByteView datagram) override;
  void on_udp_batch_end() override { end_batch(); }
  void on_tcp_accepted(asio::ip::tcp::socket socket) override;
  void on_tcp_connected(TcpLink& link) override {
    ++stats_.tcp_connected;
    connect_errors_.erase(link.remote());
  }
  void on_tcp_connect_failed(TcpLink& link, std::size_t unsent,
                             const boost::system::error_code& error) override;
  void on_tcp_frame(TcpLink& link, ByteView frame) override { deliver(link.remote(), frame); }
  void on_tcp_batch_end() override { end_batch(); }
  void on_tcp_closed(TcpLink& link, TcpLink::CloseReason reason, std::size_t unsent) override;

  asio::io_context& io_;
  Random& random_;
  NetworkOptions options_;
  PacketHandler on_packet_;
  BatchHandler on_batch_;
  State state_ = State::kIdle;
  PathTable paths_;
  mutable NetworkStats stats_{};  // mutable: stats() gathers the sockets' GRO counts
  std::size_t delivered_since_batch_ = 0;

  std::vector<std::shared_ptr<UdpSocket>> udp_sockets_;
  std::vector<std::shared_ptr<TcpListener>> tcp_listeners_;
  // One connection per path address; links are removed as soon as they fail or close.
  std::unordered_map<PathAddress, std::shared_ptr<TcpLink>, PathAddressHash> tcp_links_;
  // The last connect failure per dialled address (only configured endpoints are dialled, so
  // this stays as small as the configuration).
  std::unordered_map<PathAddress, std::string, PathAddressHash> connect_errors_;
  asio::steady_timer sweep_timer_;
  bool sweep_armed_ = false;

  // The UDP run being held (hold_udp): datagrams laid end to end, for one socket and address.
  struct HeldRun {
    std::shared_ptr<UdpSocket> socket;
    asio::ip::udp::endpoint to;
    Bytes data;
    std::size_t segment = 0;  // the size of each datagram but the last
    std::size_t count = 0;
    bool ended = false;  // a shorter datagram came: it must be the last
  };
  bool hold_udp_datagram(const PathEntry& path, ByteView wire);
  void send_held_run();
  bool holding_ = false;
  HeldRun held_;
  std::uint64_t gro_buffers_of_closed_ = 0;
  std::uint64_t receive_drops_of_closed_ = 0;
};

std::string Network::Impl::start() {
  if (state_ != State::kIdle) return "the network was already started";
  for (const auto& listen : options_.udp_listen) {
    auto socket =
        std::make_shared<UdpSocket>(io_, options_.max_packet + 1, options_.receive_budget, *this);
    udp_sockets_.push_back(socket);  // pushed first so stop() closes it on error too
    if (!options_.udp_gso) socket->disable_gso();
    if (auto error = socket->open(listen, options_.udp_buffers)) {
      stop();
      return "udp " + endpoint_string(listen.address(), listen.port()) + ": " + error.message();
    }
  }
  for (const auto& listen : options_.tcp_listen) {
    auto listener = std::make_shared<TcpListener>(io_, *this);
    tcp_listeners_.push_back(listener);
    if (auto error = listener->open(listen)) {
      stop();
      return "tcp " + endpoint_string(listen.address(), listen.port()) + ": " + error.message();
    }
  }
  state_ = State::kRunning;
  for (auto& socket : udp_sockets_) socket->start();
  for (auto& listener : tcp_listeners_) listener->start();
  return "";
}

void Network::Impl::stop() {
  send_held_run();  // what the driver handed over before the stop still leaves
  holding_ = false;
  for (const auto& socket : udp_sockets_) {
    gro_buffers_of_closed_ += socket->coalesced_receives();
    receive_drops_of_closed_ += socket->receive_buffer_drops();
  }
  state_ = State::kStopped;
  sweep_timer_.cancel();
  delivered_since_batch_ = 0;
  for (auto& socket : udp_sockets_) socket->close();
  for (auto& listener : tcp_listeners_) listener->close();
  for (auto& [address, link] : tcp_links_) link->close();
  // Outstanding operations keep their own references; they complete as aborted and find
  // themselves closed.
  udp_sockets_.clear();
  tcp_listeners_.clear();
  tcp_links_.clear();
}

PathId Network::Impl::path_for(const PathAddress& address) {
  PathEntry& entry = paths_.intern(address);
  paths_.pin(entry);
  return entry.id;
}

const PathAddress* Network::Impl::address_of(PathId path) const {
  const PathEntry* entry = paths_.find(path);
  return entry == nullptr ? nullptr : &entry->address;
}

bool Network::Impl::send(PathId path, ByteView packet) {
  if (state_ != State::kRunning) return drop(stats_.dropped_send_error);
  if (!paths_.touch(path)) return drop(stats_.dropped_unknown_path);
  // A packet that does not start with 0x00 would be read as cloaked by the receiver.
  if (packet.empty() || packet[0] != 0x00) return drop(stats_.dropped_send_error);
  const PathEntry& entry = *paths_.find(path);
  const bool udp = entry.address.kind == PathKind::kUdp;
  const bool cloaked = entry.peer_cloaks || (udp ? options_.udp_cloak : options_.tcp_cloak);
  const Bytes wire = cloaked ? cloak(packet, random_) : Bytes(packet.begin(), packet.end());
  if (udp && holding_) return hold_udp_datagram(entry, wire);  // counted when the run leaves
  const bool sent = udp ? send_udp(entry, wire) : send_tcp(entry, wire);
  if (sent) {
    ++stats_.tx_packets;
    stats_.tx_bytes += wire.size();
  }
  return sent;
}

bool Network::Impl::send_udp(const PathEntry& path, ByteView wire) {
  const bool v6 = path.address.ip.is_v6();
  for (auto& socket : udp_sockets_) {
    if (socket->is_v6() != v6) continue;
    if (!socket->send_to(wire, udp_endpoint(path.address))) break;
    return true;
  }
  return drop(stats_.dropped_send_error);
}

bool Network::Impl::hold_udp_datagram(const PathEntry& path, ByteView wire) {
  const bool v6 = path.address.ip.is_v6();
  std::shared_ptr<UdpSocket> socket;
  for (auto& candidate : udp_sockets_) {
    if (candidate->is_v6() == v6) {
      socket = candidate;
      break;
    }
  }
  if (!socket) return drop(stats_.dropped_send_error);
  const asio::ip::udp::endpoint to = udp_endpoint(path.address);
  const bool joins = held_.count > 0 && held_.socket == socket && held_.to == to && !held_.ended &&
                     wire.size() <= held_.segment && held_.count < UdpSocket::kMaxRunSegments &&
                     held_.data.size() + wire.size() <= UdpSocket::kMaxRunBytes;
  if (!joins) {
    send_held_run();
    held_.socket = socket;
    held_.to = to;
    held_.segment = wire.size();
  }
  held_.data.insert(held_.data.end(), wire.begin(), wire.end());
  ++held_.count;
  if (wire.size() < held_.segment) held_.ended = true;
  return true;
}

void Network::Impl::send_held_run() {
  if (held_.count == 0) return;
  const UdpSocket::RunSent sent = held_.socket->send_run(held_.data, held_.segment, held_.to);
  stats_.tx_packets += sent.datagrams;
  stats_.tx_bytes += std::min(held_.data.size(), sent.datagrams * held_.segment);
  stats_.dropped_send_error += held_.count - sent.datagrams;
  if (sent.segmented) {
    ++stats_.udp_gso_runs;
    stats_.udp_gso_datagrams += sent.datagrams;
  }
  held_.socket.reset();
  held_.data.clear();
  held_.count = 0;
  held_.ended = false;
}

bool Network::Impl::send_tcp(const PathEntry& path, ByteView wire) {
  // The peer would close the connection over a frame it must refuse.
  if (wire.size() > tcp_limits().max_frame) return drop(stats_.dropped_send_error);
  auto found = tcp_links_.find(path.address);
  if (found == tcp_links_.end()) {
    // Only addresses the daemon configured are dialled; an accepted connection that closed is
    // gone until the peer connects again.
    if (!path.pinned) return drop(stats_.dropped_send_error);
    auto link = TcpLink::connect(io_, path.address, tcp_limits(), *this);
    found = tcp_links_.emplace(path.address, std::move(link)).first;
  }
  switch (found->second->enqueue(chunk_encode(wire))) {
    case TcpLink::Enqueued::kQueued:
      return true;
    case TcpLink::Enqueued::kQueueFull:
      return drop(stats_.dropped_write_queue_full);
    case TcpLink::Enqueued::kClosed:
      break;
  }
  return drop(stats_.dropped_send_error);
}

std::vector<PathAddress> Network::Impl::local_addresses() const {
  std::vector<PathAddress> addresses;
  for (const auto& socket : udp_sockets_) addresses.push_back(udp_path(socket->local_endpoint()));
  for (const auto& listener : tcp_listeners_) {
    addresses.push_back(tcp_path(listener->local_endpoint()));
  }
  return addresses;
}

void Network::Impl::deliver(const PathAddress& from, ByteView wire) {
  auto plain = uncloak(wire);
  if (!plain) {
    ++stats_.dropped_uncloak;
    return;
  }
  // Only packets that uncloak get a path, so garbage cannot churn the table.
  PathEntry& entry = paths_.intern(from);
  if (plain->layers > 0) entry.peer_cloaks = true;
  ++stats_.rx_packets;
  stats_.rx_bytes += wire.size();
  ++delivered_since_batch_;
  on_packet_(entry.id, plain->packet);
}

void Network::Impl::end_batch() {
  if (delivered_since_batch_ == 0 || state_ != State::kRunning) return;
  delivered_since_batch_ = 0;
  on_batch_();
}

TcpLinkLimits Network::Impl::tcp_limits() const {
  return {.receive_budget = options_.receive_budget,
          .max_frame = std::min(options_.max_packet, kMaxChunkedPacket),
          .write_queue_limit = options_.tcp_write_queue_limit};
}

std::size_t Network::Impl::accepted_links() const {
  return static_cast<std::size_t>(std::count_if(tcp_links_.begin(), tcp_links_.end(), [](auto& l) {
    return l.second->origin() == TcpLink::Origin::kAccepted;
  }));
}

std::size_t Network::Impl::unauthenticated_links_from(const asio::ip::address& ip) const {
  return static_cast<std::size_t>(
      std::count_if(tcp_links_.begin(), tcp_links_.end(), [&ip](const auto& entry) {
        const TcpLink& link = *entry.second;
        return link.origin() == TcpLink::Origin::kAccepted && !link.authenticated() &&
               link.remote().ip == ip;
      }));
}

void Network::Impl::mark_authenticated(PathId path) {
  PathEntry* entry = paths_.find(path);
  if (entry == nullptr) return;
  paths_.trust(*entry);
  if (entry->address.kind != PathKind::kTcp) return;
  if (auto found = tcp_links_.find(entry->address); found != tcp_links_.end()) {
    found->second->set_authenticated();
  }
}

std::string Network::Impl::path_error(PathId path) const {
  const PathEntry* entry = paths_.find(path);
  if (entry == nullptr) return {};
  auto found = connect_errors_.find(entry->address);
  return found == connect_errors_.end() ? std::string() : found->second;
}

void Network::Impl::arm_sweep() {
  if (sweep_armed_ || state_ != State::kRunning) return;
  sweep_armed_ = true;
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](const boost::system::error_code& error) {
    // Cancelled: stop(), or the Network is being destroyed, so `this` may be gone.
    if (error) return;
    sweep_armed_ = false;
    if (state_ == State::kRunning) sweep();
  });
}

void Network::Impl::sweep() {
  const auto now = std::chrono::steady_clock::now();
  bool waiting = false;
  std::vector<PathAddress> expired;
  for (const auto& [address, link] : tcp_links_) {
    if (link->origin() != TcpLink::Origin::kAccepted || link->authenticated()) continue;
    if (now - link->opened_at() >= options_.tcp_unauthenticated_timeout) {
      expired.push_back(address);
    } else {
      waiting = true;
    }
  }
  for (const auto& address : expired) {
    auto found = tcp_links_.find(address);
    stats_.dropped_send_error += found->second->close();
    ++stats_.tcp_closed_unauthenticated;
    tcp_links_.erase(found);
  }
  // Each connection had a 16 KiB read buffer; after closing many (a flood of idle ones),
  // give the freed heap back to the system instead of keeping it resident. The links are
  // freed as their aborted reads complete, which are queued before this.
  if (expired.size() >= kTrimAfterClosing) {
    asio::post(io_, [] { ::malloc_trim(0); });
  }
  if (waiting) arm_sweep();
}

void Network::Impl::forget(TcpLink& link) {
  auto found = tcp_links_.find(link.remote());
  if (found != tcp_links_.end() && found->second.get() == &link) tcp_links_.erase(found);
}

void Network::Impl::on_datagram(const asio::ip::udp::endpoint& from, ByteView datagram) {
  // The buffer is max_packet + 1 bytes, so a longer datagram shows as one byte too many.
  if (datagram.size() > options_.max_packet) {
    ++stats_.dropped_oversize;
    return;
  }
  deliver(udp_path(from), datagram);
}

void Network::Impl::on_tcp_accepted(asio::ip::tcp::socket socket) {
  boost::system::error_code error;
  const auto remote = socket.remote_endpoint(error);
  if (error) return;  // already gone; the socket closes as it goes out of scope
  if (accepted_links() >= options_.tcp_connection_limit) {
    ++stats_.tcp_rejected_over_limit;
    return;
  }
  if (unauthenticated_links_from(remote.address()) >= options_.tcp_unauthenticated_per_address) {
    ++stats_.tcp_rejected_unauthenticated;
    return;
  }
  ++stats_.tcp_accepted;
  const PathAddress address = tcp_path(remote);
  auto link = TcpLink::accepted(std::move(socket), address, tcp_limits(), *this);
  auto [slot, inserted] = tcp_links_.try_emplace(address, link);
  if (!inserted) {
    // One connection per path: a new connection from the same address replaces a stale one.
    stats_.dropped_send_error += slot->second->close();
    ++stats_.tcp_closed;
    slot->second = std::move(link);
  }
  arm_sweep();
}

void Network::Impl::on_tcp_connect_failed(TcpLink& link, std::size_t unsent,
                                          const boost::system::error_code& error) {
  ++stats_.tcp_connect_failed;
  stats_.dropped_send_error += unsent;
  connect_errors_[link.remote()] = error.message();
  forget(link);
}

void Network::Impl::on_tcp_closed(TcpLink& link, TcpLink::CloseReason reason, std::size_t unsent) {
  ++stats_.tcp_closed;
  if (reason == TcpLink::CloseReason::kFrameTooLarge) ++stats_.tcp_frame_too_large;
  stats_.dropped_send_error += unsent;
  forget(link);
}

// The facade: every call goes to the Impl.

Network::Network(asio::io_context& io, Random& random, NetworkOptions options,
                 PacketHandler on_packet, BatchHandler on_batch)
    : impl_(std::make_unique<Impl>(io, random, std::move(options), std::move(on_packet),
                                   std::move(on_batch))) {}

Network::~Network() {
  impl_->stop();
}

std::string Network::start() {
  return impl_->start();
}
void Network::stop() {
  impl_->stop();
}
PathId Network::path_for(const PathAddress& address) {
  return impl_->path_for(address);
}
const PathAddress* Network::address_of(PathId path) const {
  return impl_->address_of(path);
}
bool Network::send(PathId path, ByteView packet) {
  return impl_->send(path, packet);
}
std::vector<PathAddress> Network::local_addresses() const {
  return impl_->local_addresses();
}
void Network::hold_udp() {
  impl_->hold_udp();
}
void Network::flush_udp() {
  impl_->flush_udp();
}
std::vector<UdpSocket::Buffers> Network::udp_buffers() const {
  return impl_->udp_buffers();
}
const NetworkStats& Network::stats() const {
  return impl_->stats();
}
std::size_t Network::path_count() const {
  return impl_->path_count();
}
std::size_t Network::tcp_connection_count() const {
  return impl_->tcp_connection_count();
}
void Network::mark_authenticated(PathId path) {
  impl_->mark_authenticated(path);
}
std::string Network::path_error(PathId path) const {
  return impl_->path_error(path);
}

}  // namespace e3x::net
