// e3x_flood: hostile UDP load for one e3xd (issue 5, "Load and hostile traffic";
// bench/run-flood.sh drives it). It builds a pool of packets once (bench/flood_packets.hpp),
// then sends them round-robin at full rate (or --rate) for --seconds, from one socket or from
// --sources consecutive IPv4 source addresses (127.x.y.z all work on Linux loopback without
// privileges, so per-address and global limits can both be exercised).
//
//   e3x_flood --target 127.0.0.1:42424 --mode unknown-keys --target-key <B's key> --seconds 60
//   modes: random | unknown-keys | bad-auth (needs --peer-key) | replay (needs --identity or
//          --capture) | mix (every mode the given keys allow, interleaved)
//
// It prints the packets sent each second on stderr and one JSON line on stdout at the end:
// {"mode","seconds","packets","pps","send_errors","pool"}. A tool, not core: POSIX sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/flood_packets.hpp"
#include "config/identity_file.hpp"
#include "core/base32.hpp"
#include "transports/cloak.hpp"

namespace {

using namespace e3x;
using Clock = std::chrono::steady_clock;

struct Target {
  sockaddr_storage address{};
  socklen_t length = 0;
  int family = AF_INET;
};

// "192.0.2.7:42424" or "[2001:db8::7]:42424".
Target parse_target(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("target needs IP:PORT");
  std::string host = text.substr(0, colon);
  const int port = std::stoi(text.substr(colon + 1));
  Target target;
  if (host.size() > 2 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&target.address);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) {
      throw std::runtime_error("bad IPv6 address " + host);
    }
    target.length = sizeof(sockaddr_in6);
    target.family = AF_INET6;
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&target.address);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) != 1) {
      throw std::runtime_error("bad IPv4 address " + host);
    }
    target.length = sizeof(sockaddr_in);
  }
  return target;
}

PublicKey parse_key(const std::string& text, const char* what) {
  const auto bytes = base32_decode(text);
  if (!bytes || bytes->size() != 32) throw std::runtime_error(std::string("bad ") + what);
  PublicKey key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

// One socket per source address (consecutive from `first`), or one unbound socket.
std::vector<int> open_sockets(const Target& target, const std::string& first, int count) {
  std::vector<int> sockets;
  in_addr base{};
  if (!first.empty() && inet_pton(AF_INET, first.c_str(), &base) != 1) {
    throw std::runtime_error("--source must be an IPv4 address");
  }
  for (int i = 0; i < (first.empty() ? 1 : count); ++i) {
    const int fd = ::socket(target.family, SOCK_DGRAM, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    const int buffer = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    if (!first.empty()) {
      sockaddr_in source{};
      source.sin_family = AF_INET;
      source.sin_addr.s_addr = htonl(ntohl(base.s_addr) + static_cast<std::uint32_t>(i));
      if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
        throw std::runtime_error(std::string("bind source: ") + std::strerror(errno));
      }
    }
    sockets.push_back(fd);
  }
  return sockets;
}

struct Options {
  std::string target, mode = "random", target_key, peer_key, identity, capture, record, source;
  double seconds = 10;
  std::size_t pool = 2048;
  int sources = 1;
  double rate = 0;  // packets per second; 0: as fast as the socket takes them
  bool cloak = false;
};

std::vector<Bytes> build_pool(const Options& options, Random& random) {
  std::vector<std::vector<Bytes>> kinds;
  const bool mix = options.mode == "mix";
  if (mix || options.mode == "random")
    kinds.push_back(flood::random_datagrams(random, options.pool));
  if ((mix && !options.target_key.empty()) || options.mode == "unknown-keys") {
    kinds.push_back(flood::unknown_key_handshakes(
        random, parse_key(options.target_key, "--target-key"), options.pool));
  }
  if ((mix && !options.peer_key.empty()) || options.mode == "bad-auth") {
    kinds.push_back(
        flood::bad_auth_handshakes(random, parse_key(options.target_key, "--target-key"),
                                   parse_key(options.peer_key, "--peer-key"), options.pool));
  }
  if ((mix && (!options.identity.empty() || !options.capture.empty())) ||
      options.mode == "replay") {
    if (!options.capture.empty()) {
      kinds.push_back(flood::read_capture(options.capture));
    } else {
      auto identity = config::load_identity(options.identity);
      if (!identity) throw std::runtime_error(identity.error().message);
      // Captured a day ago: SEQs follow Unix time (PROTOCOL.md 5).
      const auto day_ago = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count() -
                           86400;
      kinds.push_back(
          flood::replayed_handshakes(random, parse_key(options.target_key, "--target-key"),
                                     *identity, static_cast<std::uint32_t>(day_ago), options.pool));
    }
  }
  if (kinds.empty()) throw std::runtime_error("unknown mode " + options.mode);
  // Interleaved, so a mix hits every code path all the time.
  std::vector<Bytes> pool;
  for (std::size_t i = 0; pool.size() < options.pool * kinds.size(); ++i) {
    for (auto& kind : kinds) {
      if (i < kind.size()) pool.push_back(kind[i]);
    }
    if (std::all_of(kinds.begin(), kinds.end(), [i](auto& kind) { return i >= kind.size(); })) {
      break;
    }
  }
  if (options.cloak) {
    for (Bytes& packet : pool) packet = cloak(packet, random);
  }
  return pool;
}

// Sends the pool round-robin until the deadline: sendmmsg batches of 64, each batch from the
// next source socket.
int send_flood(const Options& options, const std::vector<Bytes>& pool) {
  Target target = parse_target(options.target);
  const std::vector<int> sockets = open_sockets(target, options.source, options.sources);
  constexpr std::size_t kBatch = 64;
  std::vector<mmsghdr> messages(kBatch);
  std::vector<iovec> vectors(kBatch);
  std::uint64_t sent = 0, errors = 0, last_second_sent = 0;
  std::size_t next = 0, batch_number = 0;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(options.seconds);
  auto next_report = start + std::chrono::seconds(1);
  for (auto now = start; now < deadline; now = Clock::now()) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      const Bytes& packet = pool[next++ % pool.size()];
      vectors[i] = iovec{const_cast<std::uint8_t*>(packet.data()), packet.size()};
      messages[i] = mmsghdr{};
      messages[i].msg_hdr.msg_name = &target.address;
      messages[i].msg_hdr.msg_namelen = target.length;
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int fd = sockets[batch_number++ % sockets.size()];
    const int result = ::sendmmsg(fd, messages.data(), kBatch, 0);
    if (result < 0) {
      ++errors;  // ENOBUFS and the like: the kernel is full, go on
    } else {
      sent += static_cast<std::uint64_t>(result);
      errors += kBatch - static_cast<std::size_t>(result);
    }
    if (options.rate > 0) {
      std::this_thread::sleep_until(start +
                                    std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(sent / options.rate)));
    }
    if (now >= next_report) {
      std::fprintf(stderr, "flood %s: %llu packets in the last second\n", options.mode.c_str(),
                   static_cast<unsigned long long>(sent - last_second_sent));
      last_second_sent = sent;
      next_report += std::chrono::seconds(1);
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  for (int fd : sockets) ::close(fd);
  std::printf(
      "{\"mode\":\"%s\",\"seconds\":%.2f,\"packets\":%llu,\"pps\":%.0f,\"send_errors\":%llu,"
      "\"pool\":%zu,\"sources\":%zu}\n",
      options.mode.c_str(), elapsed, static_cast<unsigned long long>(sent), sent / elapsed,
      static_cast<unsigned long long>(errors), pool.size(), sockets.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"e3x_flood: hostile UDP load for e3xd"};
  Options options;
  app.add_option("--target", options.target, "IP:PORT of the e3xd to flood")->required();
  app.add_option("--mode", options.mode, "random | unknown-keys | bad-auth | replay | mix");
  app.add_option("--target-key", options.target_key, "the target's base32 3a key");
  app.add_option("--peer-key", options.peer_key, "bad-auth: a key the target knows");
  app.add_option("--identity", options.identity, "replay: the known peer's identity file");
  app.add_option("--capture", options.capture, "replay: packets to resend (hex, one a line)");
  app.add_option("--record", options.record, "write the pool to this capture file too");
  app.add_option("--seconds", options.seconds, "how long to send (0: build and record only)");
  app.add_option("--pool", options.pool, "distinct packets per mode");
  app.add_option("--source", options.source, "first IPv4 source address to bind");
  app.add_option("--sources", options.sources, "consecutive source addresses from --source");
  app.add_option("--rate", options.rate, "packets per second (0: full rate)");
  app.add_flag("--cloak", options.cloak, "cloak every packet (the target peels it first)");
  CLI11_PARSE(app, argc, argv);
  try {
    SodiumRandom random;
    const auto pool = build_pool(options, random);
    if (!options.record.empty()) flood::write_capture(options.record, pool);
    if (options.seconds <= 0) return 0;
    return send_flood(options, pool);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "e3x_flood: %s\n", error.what());
    return 1;
  }
}
