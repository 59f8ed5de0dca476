// UDP offloads (issue 13): datagrams the daemon sends in a row to one peer leave as one run
// with one system call (GSO), a receiver takes a run in one buffer (GRO) and hands on each
// datagram, and a held run keeps the order, the sizes and the counts of datagrams sent one
// by one.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "network_harness.hpp"
#include "transports/network.hpp"

namespace e3x::net {
namespace {

namespace asio = boost::asio;
using namespace test_harness;

NetworkOptions udp_options(bool cloak) {
  NetworkOptions options;
  options.udp_listen.push_back({loopback(false), 0});
  options.udp_cloak = cloak;
  return options;
}

// A plain packet (0x00 first) of `size` bytes whose content says which one it is.
Bytes numbered(std::size_t index, std::size_t size) {
  Bytes bytes(size, static_cast<std::uint8_t>(index));
  bytes[0] = 0x00;
  bytes[1] = static_cast<std::uint8_t>(index);
  return bytes;
}

class NetworkUdpOffload : public ::testing::TestWithParam<bool> {
 protected:
  asio::io_context io;
};

TEST_P(NetworkUdpOffload, AHeldRunArrivesWholeInOrderAndCounted) {
  Node sender(io, udp_options(GetParam()), 1);
  Node receiver(io, udp_options(GetParam()), 2);
  ASSERT_EQ(sender.network.start(), "");
  ASSERT_EQ(receiver.network.start(), "");
  const PathId to = sender.network.path_for(receiver.address());

  // 40 full-size packets and a short one close the first run; then 30 more: two runs.
  std::vector<Bytes> sent;
  for (std::size_t i = 0; i < 40; ++i) sent.push_back(numbered(i, 1400));
  sent.push_back(numbered(40, 300));
  for (std::size_t i = 41; i < 71; ++i) sent.push_back(numbered(i, 1400));
  sender.network.hold_udp();
  for (const Bytes& packet : sent) ASSERT_TRUE(sender.network.send(to, packet));
  // The first run left when the second began; the second waits for the flush.
  EXPECT_EQ(sender.network.stats().tx_packets, 41u);
  sender.network.flush_udp();

  ASSERT_TRUE(run_until(io, [&] { return receiver.received.size() == sent.size(); }))
      << receiver.received.size() << " of " << sent.size();
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(receiver.received[i].packet, sent[i]) << "datagram " << i;
  }
  const NetworkStats& tx = sender.network.stats();
  EXPECT_EQ(tx.tx_packets, sent.size());
  EXPECT_EQ(tx.dropped_send_error, 0u);
  // Loopback takes segmented sends: 41 datagrams, then 30, each run one system call.
  EXPECT_EQ(tx.udp_gso_runs, 2u);
  EXPECT_EQ(tx.udp_gso_datagrams, sent.size());
  const NetworkStats& rx = receiver.network.stats();
  EXPECT_EQ(rx.rx_packets, sent.size());
  // On loopback a segmented send reaches a GRO socket as one buffer (the kernel does not
  // split what it would only coalesce again).
  EXPECT_GE(rx.udp_gro_buffers, 1u);
}

// Without hold_udp every send leaves at once, as before: nothing waits for a flush.
TEST_P(NetworkUdpOffload, UnheldSendsLeaveAtOnce) {
  Node sender(io, udp_options(GetParam()), 1);
  Node receiver(io, udp_options(GetParam()), 2);
  ASSERT_EQ(sender.network.start(), "");
  ASSERT_EQ(receiver.network.start(), "");
  const PathId to = sender.network.path_for(receiver.address());
  for (std::size_t i = 0; i < 5; ++i) ASSERT_TRUE(sender.network.send(to, numbered(i, 1400)));
  EXPECT_EQ(sender.network.stats().tx_packets, 5u);
  ASSERT_TRUE(run_until(io, [&] { return receiver.received.size() == 5; }));
  EXPECT_EQ(sender.network.stats().udp_gso_runs, 0u);
}

// A run ends where the destination changes: each peer gets exactly its own datagrams.
TEST_P(NetworkUdpOffload, RunsEndWhereTheDestinationChanges) {
  Node sender(io, udp_options(GetParam()), 1);
  Node first(io, udp_options(GetParam()), 2);
  Node second(io, udp_options(GetParam()), 3);
  for (Node* node : {&sender, &first, &second}) ASSERT_EQ(node->network.start(), "");
  const PathId to_first = sender.network.path_for(first.address());
  const PathId to_second = sender.network.path_for(second.address());
  sender.network.hold_udp();
  for (std::size_t i = 0; i < 12; ++i) {
    ASSERT_TRUE(sender.network.send(i % 4 < 2 ? to_first : to_second, numbered(i, 1000)));
  }
  sender.network.flush_udp();
  ASSERT_TRUE(
      run_until(io, [&] { return first.received.size() == 6 && second.received.size() == 6; }));
  for (std::size_t k = 0; k < 6; ++k) {
    const std::size_t to_first_index = (k / 2) * 4 + k % 2;
    EXPECT_EQ(first.received[k].packet, numbered(to_first_index, 1000));
    EXPECT_EQ(second.received[k].packet, numbered(to_first_index + 2, 1000));
  }
  EXPECT_EQ(sender.network.stats().udp_gso_runs, 6u);  // six runs of two
}

// With GSO off ([udp] gso = false) a held run leaves one datagram per system call: all of it
// arrives, and no run was segmented.
TEST_P(NetworkUdpOffload, WithGsoOffARunLeavesOneDatagramAtATime) {
  NetworkOptions options = udp_options(GetParam());
  options.udp_gso = false;
  Node sender(io, options, 1);
  Node receiver(io, udp_options(GetParam()), 2);
  ASSERT_EQ(sender.network.start(), "");
  ASSERT_EQ(receiver.network.start(), "");
  const PathId to = sender.network.path_for(receiver.address());
  sender.network.hold_udp();
  for (std::size_t i = 0; i < 20; ++i) ASSERT_TRUE(sender.network.send(to, numbered(i, 1200)));
  sender.network.flush_udp();
  ASSERT_TRUE(run_until(io, [&] { return receiver.received.size() == 20; }));
  for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(receiver.received[i].packet, numbered(i, 1200));
  EXPECT_EQ(sender.network.stats().tx_packets, 20u);
  EXPECT_EQ(sender.network.stats().udp_gso_runs, 0u);
  EXPECT_EQ(receiver.network.stats().udp_gro_buffers, 0u);
}

// Datagrams the kernel drops at a full receive buffer are lost before e3xd sees them; the
// socket reports their number (SO_RXQ_OVFL) with the next datagram read, and the network
// counts them, so what was sent is all accounted for: received + dropped at the buffer.
TEST_P(NetworkUdpOffload, DropsAtAFullReceiveBufferAreCounted) {
  NetworkOptions small = udp_options(GetParam());
  small.udp_buffers.receive = 4096;  // the kernel doubles it and keeps a floor: a few datagrams
  NetworkOptions plain = udp_options(GetParam());
  plain.udp_gso = false;  // one datagram per send: the buffer fills datagram by datagram
  Node sender(io, plain, 1);
  Node receiver(io, small, 2);
  ASSERT_EQ(sender.network.start(), "");
  ASSERT_EQ(receiver.network.start(), "");
  const PathId to = sender.network.path_for(receiver.address());
  // Nothing is read while the io_context is not run: the burst overflows the buffer.
  constexpr std::size_t kBurst = 200;
  for (std::size_t i = 0; i < kBurst; ++i) ASSERT_TRUE(sender.network.send(to, numbered(i, 1400)));
  const auto settle = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  run_until(io, [&] { return std::chrono::steady_clock::now() > settle; });
  const std::size_t from_burst = receiver.received.size();
  ASSERT_GT(from_burst, 0u);
  ASSERT_LT(from_burst, kBurst) << "the receive buffer took the whole burst";
  // The count arrives with a datagram queued after the drops.
  ASSERT_TRUE(sender.network.send(to, numbered(kBurst, 100)));
  ASSERT_TRUE(run_until(io, [&] { return receiver.received.size() == from_burst + 1; }));
  EXPECT_EQ(receiver.network.stats().dropped_receive_buffer, kBurst - from_burst);
  EXPECT_EQ(receiver.network.stats().rx_packets + receiver.network.stats().dropped_receive_buffer,
            kBurst + 1);
}

INSTANTIATE_TEST_SUITE_P(Cloaked, NetworkUdpOffload, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "cloaked" : "plain"; });

}  // namespace
}  // namespace e3x::net
