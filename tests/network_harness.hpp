// What the Network tests over real sockets share: running the io_context until a condition
// holds (no sleeps), loopback addresses, plain packets, and a Network that records what it
// delivered.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "core/random.hpp"
#include "transports/network.hpp"

namespace e3x::net::test_harness {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Runs `io` until `done()` holds; false after a generous deadline.
inline bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
  return true;
}

// Runs what is ready now (to show that nothing more happens).
inline void run_ready(asio::io_context& io) {
  io.restart();
  for (int i = 0; i < 100; ++i) io.poll();
}

inline bool ipv6_loopback_available() {
  asio::io_context io;
  asio::ip::udp::socket socket(io);
  boost::system::error_code error;
  socket.open(asio::ip::udp::v6(), error);
  if (!error) socket.bind({asio::ip::address_v6::loopback(), 0}, error);
  return !error;
}

inline asio::ip::address loopback(bool v6) {
  return v6 ? asio::ip::address(asio::ip::address_v6::loopback())
            : asio::ip::address(asio::ip::address_v4::loopback());
}

// A plain packet (first byte 0x00): an empty LOB head and `body`.
inline Bytes packet(const std::string& body) {
  Bytes bytes(2 + body.size(), 0x00);
  std::copy(body.begin(), body.end(), bytes.begin() + 2);
  return bytes;
}

struct Received {
  PathId path;
  Bytes packet;
};

// A Network with what it delivered recorded.
struct Node {
  Node(asio::io_context& io, NetworkOptions options, std::uint64_t seed = 1)
      : random(seed),
        network(
            io, random, std::move(options),
            [this](PathId path, ByteView bytes) {
              received.push_back({path, Bytes(bytes.begin(), bytes.end())});
              if (on_packet) on_packet(path);
            },
            [this] {
              batch_sizes.push_back(received.size() - received_at_last_batch);
              received_at_last_batch = received.size();
            }) {}

  PathAddress address() const { return network.local_addresses().at(0); }

  SeededRandom random;
  std::vector<Received> received;
  std::vector<std::size_t> batch_sizes;
  std::size_t received_at_last_batch = 0;
  std::function<void(PathId)> on_packet;
  Network network;
};

}  // namespace e3x::net::test_harness
