// e3x_scale_peers: the other ends of the scale benchmark (issue 5, docs/benchmarks.md
// "Scale"). It runs N endpoints of the real core in one process, each on its own UDP socket
// and its own loopback address (127.1.x.y), so that one e3xd sees N distinct peers. Each
// connects to the target, is kept alive by the core's own keepalive, and the tool reports
// how long it took until all N were in sync and whether any fell out of sync afterwards.
//
//   e3x_scale_peers --target 127.0.0.1:42424 --key <e3xd's base32 key> --peers 10000
//                   [--connect-rate 1500] [--keepalive 25] [--hold 60]
//
// It prints one line per phase ("up N/N after S s", then "steady: N up" every 5 s) and exits
// 0 only if every peer came up and stayed up. The target must accept unknown peers
// (accept = "any").
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "core/base32.hpp"
#include "core/endpoint.hpp"
#include "transports/cloak.hpp"

namespace {

using namespace e3x;
using Clock = std::chrono::steady_clock;

Instant now_instant() {
  return Instant(std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch()));
}

struct SimulatedPeer {
  std::unique_ptr<Endpoint> endpoint;
  int fd = -1;
  bool up = false;
};

// A per-peer loopback address: 127.1.0.1, 127.1.0.2, ... (the whole 127/8 is loopback on
// Linux), so per-address limits in the target see each peer as its own host.
in_addr peer_address(std::size_t index) {
  in_addr address{};
  address.s_addr = htonl((127u << 24) | (1u << 16) | static_cast<std::uint32_t>(index + 1));
  return address;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target_text = "127.0.0.1:42424";
  std::string key_text;
  std::size_t peer_count = 10000;
  // Below e3xd's global handshake limit (2,000/s, docs/daemon-decisions.md), so bring-up
  // measures the daemon rather than its flood protection.
  double connect_rate = 1500;
  int keepalive_s = 25;
  int hold_s = 60;
  CLI::App app{"e3x_scale_peers: N core endpoints that connect to one e3xd and stay in sync"};
  app.add_option("--target", target_text, "e3xd's UDP address IPv4:PORT");
  app.add_option("--key", key_text, "e3xd's base32 3a public key")->required();
  app.add_option("--peers", peer_count, "how many peers");
  app.add_option("--connect-rate", connect_rate, "new handshakes started per second");
  app.add_option("--keepalive", keepalive_s, "the peers' keepalive interval, seconds");
  app.add_option("--hold", hold_s, "seconds to stay connected after all are up");
  CLI11_PARSE(app, argc, argv);

  const auto colon = target_text.rfind(':');
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<std::uint16_t>(std::stoi(target_text.substr(colon + 1))));
  if (colon == std::string::npos ||
      ::inet_pton(AF_INET, target_text.substr(0, colon).c_str(), &target.sin_addr) != 1) {
    std::fprintf(stderr, "--target: expected IPv4:PORT\n");
    return 2;
  }
  const auto key_bytes = base32_decode(key_text);
  if (!key_bytes || key_bytes->size() != 32) {
    std::fprintf(stderr, "--key: not a base32 3a key\n");
    return 2;
  }
  PublicKey target_key{};
  std::copy(key_bytes->begin(), key_bytes->end(), target_key.begin());

  SodiumRandom random;
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<SimulatedPeer> peers(peer_count);
  const auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  Hashname target_name{};
  for (std::size_t i = 0; i < peer_count; ++i) {
    SimulatedPeer& peer = peers[i];
    peer.endpoint = std::make_unique<Endpoint>(
        Endpoint::Config{.identity = generate_keypair(random), .random = &random});
    peer.endpoint->set_unix_time(now_instant(), unix_now);
    target_name =
        *peer.endpoint->add_peer(target_key, PeerOptions{.keepalive = seconds(keepalive_s)});
    peer.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr = peer_address(i);
    if (peer.fd < 0 || ::bind(peer.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      std::perror("socket/bind (raise the open-file limit: ulimit -n)");
      return 1;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = i;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, peer.fd, &event);
  }

  // Timers: (when, peer index), checked lazily against the endpoint's current next_timeout.
  using Timer = std::pair<Instant, std::size_t>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  std::size_t up = 0;
  std::size_t went_down = 0;
  // Events first (answering a path probe queues a transmit), then the transmits.
  const auto flush = [&](std::size_t i) {
    SimulatedPeer& peer = peers[i];
    while (auto event = peer.endpoint->poll_event()) {
      if (std::holds_alternative<event::ExchangeUp>(*event) && !peer.up) {
        peer.up = true;
        ++up;
      } else if (auto* opened = std::get_if<event::ChannelOpened>(&*event)) {
        // Answer e3xd's path probe as a real peer would, so its channel ends at once.
        if (opened->type == "path") {
          (void)peer.endpoint->send_channel(
              now_instant(), opened->peer, opened->channel,
              boost::json::object{
                  {"path",
                   boost::json::object{{"type", "udp4"}, {"ip", "127.0.0.1"}, {"port", 1}}}},
              {}, true);
        }
      } else if (std::holds_alternative<event::ExchangeDown>(*event) && peer.up) {
        peer.up = false;
        --up;
        ++went_down;
      }
    }
    while (auto transmit = peer.endpoint->poll_transmit()) {
      ::sendto(peer.fd, transmit->packet.data(), transmit->packet.size(), 0,
               reinterpret_cast<const sockaddr*>(&target), sizeof target);
    }
    if (auto next = peer.endpoint->next_timeout()) timers.emplace(*next, i);
  };

  const auto started = Clock::now();
  std::size_t connected = 0;
  std::optional<double> all_up_after;
  auto last_report = Clock::now();
  std::vector<std::uint8_t> buffer(65536);
  std::vector<epoll_event> ready(256);
  for (;;) {
    const auto at = Clock::now();
    const double elapsed = std::chrono::duration<double>(at - started).count();
    // Start handshakes at the configured rate.
    while (connected < peer_count && connected < elapsed * connect_rate + 1) {
      (void)peers[connected].endpoint->connect(now_instant(), target_name, 1);
      flush(connected++);
    }
    if (!all_up_after && up == peer_count) {
      all_up_after = elapsed;
      std::printf("up %zu/%zu after %.2f s\n", up, peer_count, elapsed);
      std::fflush(stdout);
    }
    if (all_up_after && elapsed - *all_up_after >= hold_s) break;
    if (!all_up_after && elapsed > 300) {
      std::printf("only %zu/%zu up after 300 s\n", up, peer_count);
      return 1;
    }
    if (at - last_report >= std::chrono::seconds(5)) {
      last_report = at;
      std::printf("%s: %zu up, %zu fell out of sync so far\n",
                  all_up_after ? "steady" : "connecting", up, went_down);
      std::fflush(stdout);
    }
    // Due timers.
    const Instant instant = now_instant();
    while (!timers.empty() && timers.top().first <= instant) {
      const std::size_t i = timers.top().second;
      timers.pop();
      auto next = peers[i].endpoint->next_timeout();
      if (!next || *next > instant) continue;  // stale entry
      peers[i].endpoint->handle_timeout(instant);
      flush(i);
    }
    int wait_ms = 10;
    if (!timers.empty()) {
      const auto until =
          std::chrono::duration_cast<std::chrono::milliseconds>(timers.top().first - now_instant());
      wait_ms = static_cast<int>(std::clamp<std::int64_t>(until.count(), 0, 10));
    }
    const int count = ::epoll_wait(epoll_fd, ready.data(), static_cast<int>(ready.size()), wait_ms);
    for (int r = 0; r < count; ++r) {
      const std::size_t i = ready[r].data.u64;
      for (;;) {
        const ssize_t got = ::recv(peers[i].fd, buffer.data(), buffer.size(), 0);
        if (got <= 0) break;
        auto packet = uncloak(ByteView(buffer.data(), static_cast<std::size_t>(got)));
        if (!packet) continue;
        peers[i].endpoint->handle_datagram(now_instant(), 1, packet->packet);
        flush(i);
      }
    }
  }
  std::printf("done: %zu/%zu up at the end, %zu fell out of sync during the run\n", up, peer_count,
              went_down);
  return up == peer_count && went_down == 0 ? 0 : 1;
}
