// Network over real TCP connections on 127.0.0.1 and ::1: outgoing connections from
// path_for(), replies over the accepted connection, framing limits, reconnects, bounds.
// Nothing sleeps: the io_context runs until a condition holds or a deadline.
#include "transports/network.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/write.hpp>

#include "network_harness.hpp"
#include "transports/chunking.hpp"
#include "transports/cloak.hpp"

namespace e3x::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using namespace test_harness;

NetworkOptions listening(bool v6, bool cloak) {
  NetworkOptions options;
  options.tcp_listen.push_back({loopback(v6), 0});
  options.tcp_cloak = cloak;
  return options;
}

NetworkOptions not_listening(bool cloak) {
  NetworkOptions options;
  options.tcp_cloak = cloak;
  return options;
}

// A bare TCP socket standing in for a peer, to see and shape the bytes on the wire. It must
// outlive every run of the io_context while it has operations outstanding.
struct RawPeer {
  explicit RawPeer(tcp::socket connected) : socket(std::move(connected)) { read(); }
  RawPeer(asio::io_context& io, const PathAddress& to) : socket(io) {
    socket.connect(tcp_endpoint(to));
    read();
  }
  void read() {
    socket.async_read_some(asio::buffer(buffer),
                           [this](boost::system::error_code error, std::size_t size) {
                             if (error) {
                               closed = true;
                               return;
                             }
                             decoder.feed(ByteView(buffer.data(), size), packets);
                             read();
                           });
  }
  void write(Bytes bytes) {
    auto data = std::make_shared<Bytes>(std::move(bytes));
    asio::async_write(socket, asio::buffer(*data),
                      [data](boost::system::error_code, std::size_t) {});
  }
  PathAddress address() const { return tcp_path(socket.local_endpoint()); }

  tcp::socket socket;
  std::array<std::uint8_t, 16384> buffer{};
  ChunkDecoder decoder;
  std::vector<Bytes> packets;
  bool closed = false;
};

// A bare listening socket standing in for a peer's listener.
struct RawListener {
  explicit RawListener(asio::io_context& io) : acceptor(io, tcp::endpoint(loopback(false), 0)) {
    accept();
  }
  void accept() {
    acceptor.async_accept([this](boost::system::error_code error, tcp::socket socket) {
      if (error) return;
      peers.push_back(std::make_unique<RawPeer>(std::move(socket)));
      accept();
    });
  }
  PathAddress address() const { return tcp_path(acceptor.local_endpoint()); }

  tcp::acceptor acceptor;
  std::vector<std::unique_ptr<RawPeer>> peers;
};

class NetworkTcpTest : public ::testing::Test {
 protected:
  asio::io_context io;  // declared first: outlives every Node and raw socket of a test
};

// ---- round trips, per family and cloak setting

class NetworkTcpRoundTrip : public NetworkTcpTest,
                            public ::testing::WithParamInterface<std::tuple<bool, bool>> {
 protected:
  void SetUp() override {
    if (v6() && !ipv6_loopback_available()) GTEST_SKIP() << "cannot bind ::1: no IPv6 loopback";
  }
  bool v6() const { return std::get<0>(GetParam()); }
  bool cloak() const { return std::get<1>(GetParam()); }
};

TEST_P(NetworkTcpRoundTrip, ConnectsOnSendAndRepliesOverTheSameConnection) {
  Node a(io, listening(v6(), cloak()), 1);
  Node b(io, not_listening(cloak()), 2);
  ASSERT_EQ(a.network.start(), "");
  ASSERT_EQ(b.network.start(), "");
  EXPECT_EQ(path_type(a.address()), v6() ? "tcp6" : "tcp4");

  // Three packets queued while the connection is still being made.
  const PathId b_to_a = b.network.path_for(a.address());
  for (const char* body : {"one", "two", "three"}) {
    ASSERT_TRUE(b.network.send(b_to_a, packet(body)));
  }
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 3; }));
  EXPECT_EQ(a.received[0].packet, packet("one"));
  EXPECT_EQ(a.received[1].packet, packet("two"));
  EXPECT_EQ(a.received[2].packet, packet("three"));
  const PathId a_to_b = a.received[0].path;
  EXPECT_EQ(a.received[2].path, a_to_b);
  ASSERT_NE(a.network.address_of(a_to_b), nullptr);
  EXPECT_EQ(path_type(*a.network.address_of(a_to_b)), v6() ? "tcp6" : "tcp4");
  EXPECT_EQ(a.network.address_of(a_to_b)->ip, loopback(v6()));

  ASSERT_TRUE(a.network.send(a_to_b, packet("reply")));
  ASSERT_TRUE(run_until(io, [&] { return b.received.size() == 1; }));
  EXPECT_EQ(b.received[0].path, b_to_a);
  EXPECT_EQ(b.received[0].packet, packet("reply"));

  EXPECT_EQ(a.network.stats().tcp_accepted, 1u);
  EXPECT_EQ(b.network.stats().tcp_connected, 1u);
  EXPECT_EQ(a.network.tcp_connection_count(), 1u);
  EXPECT_EQ(b.network.tcp_connection_count(), 1u);
  const std::size_t overhead = cloak() ? 8 : 0;
  EXPECT_EQ(b.network.stats().rx_bytes, packet("reply").size() + overhead);
  EXPECT_EQ(a.network.stats().rx_packets, 3u);
}

INSTANTIATE_TEST_SUITE_P(FamiliesAndCloaking, NetworkTcpRoundTrip,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "V6" : "V4") +
                                  (std::get<1>(info.param) ? "Cloaked" : "Plain");
                         });

// ---- the bytes on the wire

TEST_F(NetworkTcpTest, FramesAreChunkedAndCloakingFollowsThePeer) {
  Node a(io, listening(false, /*cloak=*/false));
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, a.address());
  SeededRandom random(5);

  peer.write(chunk_encode(packet("plain")));
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  const PathId path = a.received[0].path;
  EXPECT_EQ(*a.network.address_of(path), peer.address());
  ASSERT_TRUE(a.network.send(path, packet("answer 1")));
  ASSERT_TRUE(run_until(io, [&] { return peer.packets.size() == 1; }));
  EXPECT_EQ(peer.packets[0], packet("answer 1"));  // plain, as configured

  // A cloaked frame, split in two writes; then answers are cloaked.
  const Bytes stream = chunk_encode(cloak(packet(std::string(600, 'c')), random, 2));
  peer.write(Bytes(stream.begin(), stream.begin() + 100));
  peer.write(Bytes(stream.begin() + 100, stream.end()));
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 2; }));
  EXPECT_EQ(a.received[1].packet, packet(std::string(600, 'c')));
  ASSERT_TRUE(a.network.send(path, packet("answer 2")));
  ASSERT_TRUE(run_until(io, [&] { return peer.packets.size() == 2; }));
  auto uncloaked = uncloak(peer.packets[1]);
  ASSERT_TRUE(uncloaked);
  EXPECT_EQ(uncloaked->layers, 1);
  EXPECT_EQ(uncloaked->packet, packet("answer 2"));
}

// ---- framing limits

TEST_F(NetworkTcpTest, FrameOver64KiBClosesTheConnectionAndTheListenerGoesOn) {
  Node a(io, listening(false, false));
  ASSERT_EQ(a.network.start(), "");
  RawPeer hostile(io, a.address());
  Bytes endless;  // 300 full fragments, never terminated: 76,500 bytes
  for (int i = 0; i < 300; ++i) {
    endless.push_back(255);
    endless.insert(endless.end(), 255, 0x00);
  }
  hostile.write(endless);
  ASSERT_TRUE(run_until(io, [&] { return hostile.closed; }));
  EXPECT_EQ(a.network.stats().tcp_frame_too_large, 1u);
  EXPECT_EQ(a.network.stats().tcp_closed, 1u);
  EXPECT_EQ(a.network.tcp_connection_count(), 0u);
  EXPECT_TRUE(a.received.empty());

  RawPeer fine(io, a.address());
  fine.write(chunk_encode(packet("still listening")));
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  EXPECT_EQ(a.received[0].packet, packet("still listening"));
  EXPECT_EQ(a.network.stats().tcp_accepted, 2u);
}

TEST_F(NetworkTcpTest, FrameOverMaxPacketClosesTheConnection) {
  NetworkOptions options = listening(false, false);
  options.max_packet = 1000;
  Node a(io, options);
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, a.address());
  peer.write(chunk_encode(packet(std::string(1000, 'x'))));  // 1002 bytes
  ASSERT_TRUE(run_until(io, [&] { return peer.closed; }));
  EXPECT_EQ(a.network.stats().tcp_frame_too_large, 1u);
  EXPECT_TRUE(a.received.empty());
}

TEST_F(NetworkTcpTest, ReceiveBudgetSplitsAStreamOfFrames) {
  NetworkOptions options = listening(false, false);
  options.receive_budget = 8;
  Node a(io, options);
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, a.address());
  Bytes stream;
  for (int i = 0; i < 100; ++i) append(stream, chunk_encode(packet(std::to_string(i))));
  peer.write(stream);  // one write: most frames arrive in one read
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 100; }));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.received[i].packet, packet(std::to_string(i)));
  for (std::size_t size : a.batch_sizes) EXPECT_LE(size, 8u);
  EXPECT_GE(a.batch_sizes.size(), 100u / 8);
}

// ---- closing and reconnecting

TEST_F(NetworkTcpTest, OutgoingPathReconnectsAfterThePeerCloses) {
  RawListener peer_listener(io);
  Node b(io, not_listening(false));
  ASSERT_EQ(b.network.start(), "");
  const PathId path = b.network.path_for(peer_listener.address());

  ASSERT_TRUE(b.network.send(path, packet("first")));
  ASSERT_TRUE(run_until(io, [&] {
    return peer_listener.peers.size() == 1 && peer_listener.peers[0]->packets.size() == 1;
  }));
  EXPECT_EQ(peer_listener.peers[0]->packets[0], packet("first"));
  peer_listener.peers[0]->socket.close();
  ASSERT_TRUE(run_until(io, [&] { return b.network.stats().tcp_closed == 1; }));
  EXPECT_EQ(b.network.tcp_connection_count(), 0u);

  ASSERT_TRUE(b.network.send(path, packet("second")));
  ASSERT_TRUE(run_until(io, [&] {
    return peer_listener.peers.size() == 2 && peer_listener.peers[1]->packets.size() == 1;
  }));
  EXPECT_EQ(peer_listener.peers[1]->packets[0], packet("second"));
  EXPECT_EQ(b.network.stats().tcp_connected, 2u);
}

TEST_F(NetworkTcpTest, AcceptedPathThatClosedDropsSends) {
  Node a(io, listening(false, false));
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, a.address());
  peer.write(chunk_encode(packet("hi")));
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  peer.socket.close();
  ASSERT_TRUE(run_until(io, [&] { return a.network.stats().tcp_closed == 1; }));

  EXPECT_FALSE(a.network.send(a.received[0].path, packet("gone")));
  EXPECT_EQ(a.network.stats().dropped_send_error, 1u);
  EXPECT_EQ(a.network.tcp_connection_count(), 0u);  // no attempt to dial the peer's port
}

TEST_F(NetworkTcpTest, FailedConnectDropsWhatWasQueuedAndRetriesOnTheNextSend) {
  PathAddress nobody;
  {
    tcp::acceptor closed_again(io, tcp::endpoint(loopback(false), 0));
    nobody = tcp_path(closed_again.local_endpoint());
  }  // nothing listens there now
  Node b(io, not_listening(false));
  ASSERT_EQ(b.network.start(), "");
  const PathId path = b.network.path_for(nobody);
  ASSERT_TRUE(b.network.send(path, packet("1")));
  ASSERT_TRUE(b.network.send(path, packet("2")));
  ASSERT_TRUE(run_until(io, [&] { return b.network.stats().tcp_connect_failed == 1; }));
  EXPECT_EQ(b.network.stats().dropped_send_error, 2u);
  EXPECT_EQ(b.network.tcp_connection_count(), 0u);

  ASSERT_TRUE(b.network.send(path, packet("3")));
  ASSERT_TRUE(run_until(io, [&] { return b.network.stats().tcp_connect_failed == 2; }));
}

// ---- bounds

TEST_F(NetworkTcpTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  NetworkOptions options = listening(false, false);
  options.tcp_connection_limit = 1;
  Node a(io, options);
  ASSERT_EQ(a.network.start(), "");
  RawPeer first(io, a.address());
  first.write(chunk_encode(packet("first")));
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));

  RawPeer second(io, a.address());
  second.write(chunk_encode(packet("second")));
  ASSERT_TRUE(run_until(io, [&] { return second.closed; }));
  EXPECT_EQ(a.network.stats().tcp_rejected_over_limit, 1u);
  EXPECT_EQ(a.network.stats().tcp_accepted, 1u);

  first.write(chunk_encode(packet("first again")));
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 2; }));
  EXPECT_EQ(a.received[1].packet, packet("first again"));
}

TEST_F(NetworkTcpTest, WriteQueueIsBoundedInBytes) {
  Node a(io, listening(false, false));
  NetworkOptions options = not_listening(false);
  options.tcp_write_queue_limit = 1000;
  Node b(io, options);
  ASSERT_EQ(a.network.start(), "");
  ASSERT_EQ(b.network.start(), "");
  const PathId path = b.network.path_for(a.address());
  // 400-byte packets are 403 bytes chunked; nothing is written while connecting.
  EXPECT_TRUE(b.network.send(path, packet(std::string(398, 'a'))));
  EXPECT_TRUE(b.network.send(path, packet(std::string(398, 'b'))));
  EXPECT_FALSE(b.network.send(path, packet(std::string(398, 'c'))));
  EXPECT_EQ(b.network.stats().dropped_write_queue_full, 1u);
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 2; }));
  EXPECT_EQ(b.network.stats().tx_packets, 2u);
}

// ---- lifetime

TEST_F(NetworkTcpTest, StopAndDestructionWithOperationsOutstanding) {
  auto a = std::make_unique<Node>(io, listening(false, true));
  auto b = std::make_unique<Node>(io, not_listening(true));
  ASSERT_EQ(a->network.start(), "");
  ASSERT_EQ(b->network.start(), "");
  const PathId path = b->network.path_for(a->address());
  ASSERT_TRUE(b->network.send(path, packet("x")));
  ASSERT_TRUE(run_until(io, [&] { return a->received.size() == 1; }));
  // Reads, an accept and writes outstanding on both sides.
  ASSERT_TRUE(a->network.send(a->received[0].path, packet(std::string(100000, 'y'))) == false);
  ASSERT_TRUE(a->network.send(a->received[0].path, packet(std::string(60000, 'y'))));
  ASSERT_TRUE(b->network.send(path, packet("z")));
  b->network.stop();
  a.reset();  // destroyed without stop()
  run_ready(io);
  EXPECT_FALSE(b->network.send(path, packet("after stop")));
  b.reset();
  run_ready(io);
}

TEST_F(NetworkTcpTest, NoHandlerRunsAfterStopInsideAHandler) {
  NetworkOptions options = listening(false, false);
  Node a(io, options);
  ASSERT_EQ(a.network.start(), "");
  a.on_packet = [&](PathId) { a.network.stop(); };
  RawPeer peer(io, a.address());
  Bytes stream;
  for (int i = 0; i < 5; ++i) append(stream, chunk_encode(packet("x")));
  peer.write(stream);
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  ASSERT_TRUE(run_until(io, [&] { return peer.closed; }));
  run_ready(io);
  EXPECT_EQ(a.received.size(), 1u);
  EXPECT_TRUE(a.batch_sizes.empty());
}

// ---- binding

TEST_F(NetworkTcpTest, StartNamesTheAddressInUse) {
  Node a(io, listening(false, false));
  ASSERT_EQ(a.network.start(), "");
  NetworkOptions options;
  options.udp_listen.push_back({loopback(false), 0});  // closed again when tcp fails
  options.tcp_listen.push_back({loopback(false), a.address().port});
  Node b(io, options);
  const std::string error = b.network.start();
  EXPECT_EQ(error.rfind("tcp 127.0.0.1:" + std::to_string(a.address().port) + ": ", 0), 0u)
      << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  EXPECT_TRUE(b.network.local_addresses().empty());
}

}  // namespace
}  // namespace e3x::net
