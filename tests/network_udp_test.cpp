// Network over real UDP sockets on 127.0.0.1 and ::1: round trips, cloaking, drops and the
// receive budget. Nothing sleeps: the io_context runs until a condition holds or a deadline.
#include "transports/network.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "network_harness.hpp"
#include "transports/cloak.hpp"

namespace e3x::net {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using namespace std::chrono_literals;
using namespace test_harness;

NetworkOptions udp_options(bool v6, bool cloak) {
  NetworkOptions options;
  options.udp_listen.push_back({loopback(v6), 0});
  options.udp_cloak = cloak;
  return options;
}

// A bare UDP socket standing in for a peer, to see and shape the bytes on the wire.
struct RawPeer {
  RawPeer(asio::io_context& io, bool v6) : socket(io, udp::endpoint(loopback(v6), 0)) { receive(); }
  void receive() {
    socket.async_receive_from(asio::buffer(buffer), from,
                              [this](boost::system::error_code error, std::size_t size) {
                                if (error) return;
                                datagrams.emplace_back(buffer.begin(), buffer.begin() + size);
                                receive();
                              });
  }
  void send(ByteView datagram, const PathAddress& to) {
    socket.send_to(asio::buffer(datagram.data(), datagram.size()), udp_endpoint(to));
  }
  PathAddress address() const { return udp_path(socket.local_endpoint()); }

  udp::socket socket;
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(70000);
  udp::endpoint from;
  std::vector<Bytes> datagrams;
};

class NetworkUdpTest : public ::testing::Test {
 protected:
  asio::io_context io;  // declared first: outlives every Node and RawPeer of a test
};

// ---- round trips, per family and cloak setting

class NetworkUdpRoundTrip : public NetworkUdpTest,
                            public ::testing::WithParamInterface<std::tuple<bool, bool>> {
 protected:
  void SetUp() override {
    if (v6() && !ipv6_loopback_available()) GTEST_SKIP() << "cannot bind ::1: no IPv6 loopback";
  }
  bool v6() const { return std::get<0>(GetParam()); }
  bool cloak() const { return std::get<1>(GetParam()); }
};

TEST_P(NetworkUdpRoundTrip, BothDirectionsWithStablePathIds) {
  Node a(io, udp_options(v6(), cloak()), 1);
  Node b(io, udp_options(v6(), cloak()), 2);
  ASSERT_EQ(a.network.start(), "");
  ASSERT_EQ(b.network.start(), "");
  EXPECT_EQ(path_type(a.address()), v6() ? "udp6" : "udp4");
  EXPECT_NE(a.address().port, 0);

  const PathId b_to_a = b.network.path_for(a.address());
  ASSERT_TRUE(b.network.send(b_to_a, packet("hello")));
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  const PathId a_to_b = a.received[0].path;
  EXPECT_EQ(a.received[0].packet, packet("hello"));
  ASSERT_NE(a.network.address_of(a_to_b), nullptr);
  EXPECT_EQ(*a.network.address_of(a_to_b), b.address());

  ASSERT_TRUE(a.network.send(a_to_b, packet("reply")));
  ASSERT_TRUE(run_until(io, [&] { return b.received.size() == 1; }));
  EXPECT_EQ(b.received[0].path, b_to_a);  // the path_for() id, not a new one
  EXPECT_EQ(b.received[0].packet, packet("reply"));

  ASSERT_TRUE(b.network.send(b_to_a, packet("again")));
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 2; }));
  EXPECT_EQ(a.received[1].path, a_to_b);
  EXPECT_EQ(b.network.path_for(a.address()), b_to_a);

  // Cloaking adds one 8-byte nonce per packet on the wire.
  const std::size_t overhead = cloak() ? 8 : 0;
  EXPECT_EQ(a.network.stats().rx_packets, 2u);
  EXPECT_EQ(a.network.stats().rx_bytes, 2 * (packet("hello").size() + overhead));
  EXPECT_EQ(a.network.stats().tx_packets, 1u);
  EXPECT_EQ(a.network.stats().tx_bytes, packet("reply").size() + overhead);
  EXPECT_EQ(b.network.stats().tx_packets, 2u);
  EXPECT_GE(a.batch_sizes.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(FamiliesAndCloaking, NetworkUdpRoundTrip,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "V6" : "V4") +
                                  (std::get<1>(info.param) ? "Cloaked" : "Plain");
                         });

// ---- cloaking follows the peer

TEST_F(NetworkUdpTest, PlainReceiverAnswersCloakedOnceThePeerCloaks) {
  Node a(io, udp_options(false, /*cloak=*/false));
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, false);
  SeededRandom random(7);

  peer.send(packet("plain"), a.address());
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  const PathId path = a.received[0].path;
  ASSERT_TRUE(a.network.send(path, packet("answer 1")));
  ASSERT_TRUE(run_until(io, [&] { return peer.datagrams.size() == 1; }));
  EXPECT_EQ(peer.datagrams[0], packet("answer 1"));  // plain, as configured

  peer.send(cloak(packet("cloaked"), random, 3), a.address());  // several layers are fine
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 2; }));
  EXPECT_EQ(a.received[1].path, path);
  EXPECT_EQ(a.received[1].packet, packet("cloaked"));

  ASSERT_TRUE(a.network.send(path, packet("answer 2")));
  ASSERT_TRUE(run_until(io, [&] { return peer.datagrams.size() == 2; }));
  ASSERT_NE(peer.datagrams[1][0], 0x00);
  auto uncloaked = uncloak(peer.datagrams[1]);
  ASSERT_TRUE(uncloaked);
  EXPECT_EQ(uncloaked->layers, 1);
  EXPECT_EQ(uncloaked->packet, packet("answer 2"));
}

TEST_F(NetworkUdpTest, CloakingReceiverSendsCloakedToAPlainPeer) {
  Node a(io, udp_options(false, /*cloak=*/true));
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, false);
  ASSERT_TRUE(a.network.send(a.network.path_for(peer.address()), packet("x")));
  ASSERT_TRUE(run_until(io, [&] { return peer.datagrams.size() == 1; }));
  EXPECT_NE(peer.datagrams[0][0], 0x00);
  EXPECT_EQ(uncloak(peer.datagrams[0])->packet, packet("x"));
}

// ---- drops

TEST_F(NetworkUdpTest, OversizedDatagramIsDroppedAndCounted) {
  NetworkOptions options = udp_options(false, false);
  options.max_packet = 1000;
  Node a(io, options);
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, false);

  Bytes big = packet(std::string(999, 'x'));  // 1001 bytes
  peer.send(big, a.address());
  big.pop_back();  // exactly max_packet
  peer.send(big, a.address());
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  EXPECT_EQ(a.network.stats().dropped_oversize, 1u);
  EXPECT_EQ(a.received[0].packet, big);

  // Still working afterwards, in both directions.
  ASSERT_TRUE(a.network.send(a.received[0].path, packet("ok")));
  ASSERT_TRUE(run_until(io, [&] { return peer.datagrams.size() == 1; }));
  EXPECT_EQ(peer.datagrams[0], packet("ok"));
}

TEST_F(NetworkUdpTest, DatagramsThatDoNotUncloakAreCountedAndGetNoPath) {
  Node a(io, udp_options(false, false));
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, false);
  SeededRandom random(3);

  peer.send(Bytes{}, a.address());                              // empty
  peer.send(Bytes{0x01, 0x02, 0x03}, a.address());              // shorter than a nonce
  peer.send(cloak(Bytes{0x05, 0x06}, random, 8), a.address());  // 8 layers still cloaked
  peer.send(packet("fine"), a.address());
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  EXPECT_EQ(a.network.stats().dropped_uncloak, 3u);
  EXPECT_EQ(a.network.stats().rx_packets, 1u);
  EXPECT_EQ(a.network.path_count(), 1u);
}

TEST_F(NetworkUdpTest, SendDropsAreCounted) {
  NetworkOptions options = udp_options(false, false);
  options.path_limit = 1;
  Node a(io, options);
  ASSERT_EQ(a.network.start(), "");

  EXPECT_FALSE(a.network.send(12345, packet("x")));
  EXPECT_EQ(a.network.stats().dropped_unknown_path, 1u);

  // Learned paths are forgotten beyond path_limit; path_for() paths are pinned.
  const PathId v6 = a.network.path_for({PathKind::kUdp, loopback(true), 9});
  RawPeer first(io, false);
  RawPeer second(io, false);
  first.send(packet("1"), a.address());
  second.send(packet("2"), a.address());
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 2; }));
  const PathId evicted = a.received[0].path;
  EXPECT_EQ(a.network.address_of(evicted), nullptr);
  EXPECT_NE(a.network.address_of(a.received[1].path), nullptr);
  EXPECT_NE(a.network.address_of(v6), nullptr);
  EXPECT_FALSE(a.network.send(evicted, packet("x")));
  EXPECT_EQ(a.network.stats().dropped_unknown_path, 2u);

  EXPECT_FALSE(a.network.send(v6, packet("x")));  // no IPv6 socket
  EXPECT_EQ(a.network.stats().dropped_send_error, 1u);
  EXPECT_FALSE(a.network.send(v6, Bytes{0x01}));  // not a plain packet
  EXPECT_FALSE(a.network.send(v6, Bytes{}));
  EXPECT_EQ(a.network.stats().dropped_send_error, 3u);

  a.network.stop();
  EXPECT_FALSE(a.network.send(v6, packet("x")));
  EXPECT_EQ(a.network.stats().dropped_send_error, 4u);
  EXPECT_EQ(a.network.stats().tx_packets, 0u);
}

// ---- receive budget

TEST_F(NetworkUdpTest, ReceiveBudgetSplitsBatchesAndLosesNothing) {
  NetworkOptions options = udp_options(false, false);
  options.receive_budget = 16;
  Node a(io, options);
  ASSERT_EQ(a.network.start(), "");
  RawPeer peer(io, false);

  // Bursts small enough for the default socket buffer; each is queued before `a` wakes up.
  constexpr int kTotal = 1000;
  constexpr int kBurst = 50;
  for (int sent = 0; sent < kTotal; sent += kBurst) {
    for (int i = sent; i < sent + kBurst; ++i) peer.send(packet(std::to_string(i)), a.address());
    ASSERT_TRUE(run_until(io, [&] { return a.received.size() == std::size_t(sent + kBurst); }))
        << "received " << a.received.size() << " of " << sent + kBurst;
  }
  run_ready(io);

  std::set<std::string> bodies;
  for (const auto& received : a.received) {
    bodies.emplace(received.packet.begin() + 2, received.packet.end());
  }
  EXPECT_EQ(bodies.size(), std::size_t(kTotal));
  EXPECT_GE(a.batch_sizes.size(), std::size_t(kTotal / 16));
  std::size_t in_batches = 0;
  for (std::size_t size : a.batch_sizes) {
    EXPECT_GE(size, 1u);
    EXPECT_LE(size, 16u);
    in_batches += size;
  }
  EXPECT_EQ(in_batches, std::size_t(kTotal));
}

// ---- lifetime

TEST_F(NetworkUdpTest, NoHandlerRunsAfterStopInsideAHandler) {
  Node a(io, udp_options(false, false));
  ASSERT_EQ(a.network.start(), "");
  a.on_packet = [&](PathId) { a.network.stop(); };
  RawPeer peer(io, false);
  for (int i = 0; i < 5; ++i) peer.send(packet("x"), a.address());
  ASSERT_TRUE(run_until(io, [&] { return a.received.size() == 1; }));
  run_ready(io);
  EXPECT_EQ(a.received.size(), 1u);
  EXPECT_TRUE(a.batch_sizes.empty());
  EXPECT_TRUE(a.network.local_addresses().empty());
}

TEST_F(NetworkUdpTest, DestroyedWithReceivesOutstanding) {
  RawPeer peer(io, false);
  {
    Node a(io, udp_options(false, true));
    ASSERT_EQ(a.network.start(), "");
    peer.send(packet("late"), a.address());
    a.network.send(a.network.path_for(peer.address()), packet("x"));
  }  // destroyed without stop(), with a receive armed and a datagram waiting
  ASSERT_TRUE(run_until(io, [&] { return peer.datagrams.size() == 1; }));
  run_ready(io);
}

// ---- binding

TEST_F(NetworkUdpTest, StartNamesTheAddressInUse) {
  Node a(io, udp_options(false, false));
  ASSERT_EQ(a.network.start(), "");
  NetworkOptions options;
  options.udp_listen.push_back({loopback(false), a.address().port});
  Node b(io, options);
  const std::string error = b.network.start();
  EXPECT_EQ(error.rfind("udp 127.0.0.1:" + std::to_string(a.address().port) + ": ", 0), 0u)
      << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  EXPECT_TRUE(b.network.local_addresses().empty());
}

TEST_F(NetworkUdpTest, V4AndV6WildcardsBindTheSamePort) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "cannot bind ::1: no IPv6 loopback";
  NetworkOptions v4;
  v4.udp_listen.push_back({asio::ip::address_v4::any(), 0});
  Node a(io, v4);
  ASSERT_EQ(a.network.start(), "");
  NetworkOptions v6;
  v6.udp_listen.push_back({asio::ip::address_v6::any(), a.address().port});
  Node b(io, v6);
  EXPECT_EQ(b.network.start(), "");
  EXPECT_EQ(to_string(b.address()), "udp6 [::]:" + std::to_string(a.address().port));
}

}  // namespace
}  // namespace e3x::net
