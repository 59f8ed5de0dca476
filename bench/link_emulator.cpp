// e3x_link_emulator: a userspace UDP relay that impairs what it carries (issue 13), because
// this kernel has no netem. It runs in a middle network namespace; the peers on either side
// are configured with the emulator's addresses as each other's, and talk through it in both
// directions without knowing (bench/run-emulated.sh).
//
//   e3x_link_emulator --pair A_LISTEN,B_LISTEN,B_PEER[,A_PEER] [--pair ...]
//                     [--delay-ms 20] [--loss 0.01] [--rate 100M]
//                     [--queue-bytes N | --queue-packets N] [--overhead 28] [--seed S]
//                     [--stats-file PATH]
//
// A pair binds two sockets. What arrives on A_LISTEN leaves from B_LISTEN to B_PEER; what
// arrives on B_LISTEN leaves from A_LISTEN to A_PEER or, without one, to wherever the last
// datagram on A_LISTEN came from. So B sees A's traffic come from B_LISTEN and A sees B's
// come from A_LISTEN, and each one's replies find the way back. Every pair shares one link
// model per direction (bench/link_model.hpp): one bottleneck queue, as on a real link, with
// the same delay, loss and rate applied to each direction (different loss draws). The rate
// counts each datagram with --overhead bytes of headers (IPv4 + UDP by default), so 100M is
// 100 Mbit/s of IP packets as on a real link; the default queue is one bandwidth-delay product
// over a round trip of twice --delay-ms (500 kB at 100M and 20 ms), at least 96,000 bytes.
//
// Every datagram read is counted, per direction: received == forwarded + dropped_loss +
// dropped_queue + dropped_no_peer + send_errors + queued (held at the moment of the report).
// Datagrams the kernel dropped before we read them (our receive buffer was full) are counted
// apart as dropped_socket (SO_RXQ_OVFL), since we never saw them. The counts are written as
// one JSON object to --stats-file on SIGUSR1 and at exit, and to stdout at exit
// (SIGINT/SIGTERM). Single threaded: recvmmsg()/sendmmsg() in batches, ppoll() until the
// next departure.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench/link_model.hpp"

namespace {

using e3x::bench::LinkConfig;
using e3x::bench::LinkModel;
using e3x::bench::LinkPacket;
using e3x::bench::LinkVerdict;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBatch = 64;
constexpr std::size_t kMaxDatagram = 65536;
// Our own sockets must not be the bottleneck: a burst at line rate arrives faster than one
// wake-up, and a drop there would be an impairment nobody configured.
constexpr int kSocketBuffer = 8 << 20;

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_report = 0;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "e3x_link_emulator: %s\n", message.c_str());
  std::exit(2);
}

sockaddr_in parse_address(const std::string& text) {
  const auto colon = text.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (colon == std::string::npos ||
      ::inet_pton(AF_INET, text.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    throw std::invalid_argument("not an IPv4:PORT address: " + text);
  }
  address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1))));
  return address;
}

// "100M", "1.5G", "800k", "1000000" (bits/s, SI multipliers); 0 means unlimited.
std::uint64_t parse_rate(const std::string& text) {
  std::size_t used = 0;
  const double value = std::stod(text, &used);
  double scale = 1;
  const std::string suffix = text.substr(used);
  if (suffix == "k" || suffix == "K") {
    scale = 1e3;
  } else if (suffix == "m" || suffix == "M") {
    scale = 1e6;
  } else if (suffix == "g" || suffix == "G") {
    scale = 1e9;
  } else if (!suffix.empty()) {
    throw std::invalid_argument("rate: unknown suffix in " + text);
  }
  if (value < 0) throw std::invalid_argument("rate must not be negative");
  return static_cast<std::uint64_t>(value * scale);
}

struct Pair {
  int a_socket = -1;  // bound to A_LISTEN: A's traffic in, B's traffic out
  int b_socket = -1;  // bound to B_LISTEN: B's traffic in, A's traffic out
  sockaddr_in b_peer{};
  std::optional<sockaddr_in> a_peer;  // fixed, or learnt from A's last datagram
  bool a_peer_fixed = false;
};

// A direction's counts beyond the model's own.
struct Direction {
  const char* name;
  LinkModel model;
  std::uint64_t dropped_no_peer = 0;
  std::uint64_t sent = 0;
  std::uint64_t send_errors = 0;
  std::uint64_t dropped_socket = 0;  // kernel drops at our receive sockets (SO_RXQ_OVFL)
};

// Datagrams taken from a model and waiting for their socket to accept them.
struct Outbox {
  int socket = -1;
  Direction* direction = nullptr;
  std::vector<LinkPacket> packets;
  std::vector<sockaddr_in> to;
  bool blocked = false;  // the socket said EAGAIN: wait for POLLOUT
};

int open_socket(const sockaddr_in& bind_to) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  for (const auto& [force, plain] :
       {std::pair{SO_RCVBUFFORCE, SO_RCVBUF}, std::pair{SO_SNDBUFFORCE, SO_SNDBUF}}) {
    // FORCE passes net.core.rmem_max/wmem_max when we are root (the namespaces need root).
    if (::setsockopt(fd, SOL_SOCKET, force, &kSocketBuffer, sizeof kSocketBuffer) != 0) {
      ::setsockopt(fd, SOL_SOCKET, plain, &kSocketBuffer, sizeof kSocketBuffer);
    }
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof bind_to) != 0) {
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &bind_to.sin_addr, text, sizeof text);
    die(std::string("bind ") + text + ":" + std::to_string(ntohs(bind_to.sin_port)) + ": " +
        std::strerror(errno));
  }
  return fd;
}

LinkModel::Time now_ns() {
  return std::chrono::duration_cast<LinkModel::Time>(Clock::now().time_since_epoch());
}

std::string direction_json(const Direction& d) {
  const auto& c = d.model.counts();
  const std::uint64_t received = c.received + d.dropped_no_peer;
  // Popped from the model but not yet handed to the kernel are still "queued" here.
  const std::uint64_t queued = d.model.in_flight() + (c.forwarded - d.sent - d.send_errors);
  const bool conserved = received == d.sent + c.dropped_loss + c.dropped_queue + d.dropped_no_peer +
                                         d.send_errors + queued;
  char text[640];
  std::snprintf(
      text, sizeof text,
      "{\"received\":%llu,\"forwarded\":%llu,\"dropped_loss\":%llu,\"dropped_queue\":%llu,"
      "\"dropped_no_peer\":%llu,\"send_errors\":%llu,\"queued\":%llu,\"conserved\":%s,"
      "\"bytes_received\":%llu,\"bytes_forwarded\":%llu,\"max_queue_bytes\":%zu,"
      "\"dropped_socket\":%llu}",
      static_cast<unsigned long long>(received), static_cast<unsigned long long>(d.sent),
      static_cast<unsigned long long>(c.dropped_loss),
      static_cast<unsigned long long>(c.dropped_queue),
      static_cast<unsigned long long>(d.dropped_no_peer),
      static_cast<unsigned long long>(d.send_errors), static_cast<unsigned long long>(queued),
      conserved ? "true" : "false", static_cast<unsigned long long>(c.bytes_received),
      static_cast<unsigned long long>(c.bytes_forwarded), c.max_backlog_bytes,
      static_cast<unsigned long long>(d.dropped_socket));
  return text;
}

std::string stats_json(const LinkConfig& config, const Direction& a_to_b, const Direction& b_to_a,
                       double seconds) {
  char head[400];
  std::snprintf(head, sizeof head,
                "{\"delay_ms\":%.3f,\"loss\":%g,\"rate_bps\":%llu,\"queue_bytes\":%zu,"
                "\"queue_packets\":%zu,\"overhead\":%zu,\"seconds\":%.3f,",
                std::chrono::duration<double, std::milli>(config.delay).count(), config.loss,
                static_cast<unsigned long long>(config.rate_bps), config.queue_bytes,
                config.queue_packets, config.overhead, seconds);
  return std::string(head) + "\"a_to_b\":" + direction_json(a_to_b) +
         ",\"b_to_a\":" + direction_json(b_to_a) + "}";
}

void write_stats_file(const std::string& path, const std::string& json) {
  if (path.empty()) return;
  // Written beside and renamed, so a reader never sees half a report.
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << json << "\n";
  }
  std::rename(temporary.c_str(), path.c_str());
}

class Relay {
 public:
  Relay(std::vector<Pair> pairs, const LinkConfig& config)
      : pairs_(std::move(pairs)),
        a_to_b_{"a_to_b", LinkModel(config)},
        b_to_a_{"b_to_a", LinkModel(reverse_seed(config))} {
    for (auto& buffer : buffers_) buffer.resize(kMaxDatagram);
    outboxes_.reserve(pairs_.size() * 2);
    for (auto& pair : pairs_) {
      outboxes_.push_back(Outbox{pair.b_socket, &a_to_b_, {}, {}, false});
      outboxes_.push_back(Outbox{pair.a_socket, &b_to_a_, {}, {}, false});
    }
  }

  const Direction& a_to_b() const { return a_to_b_; }
  const Direction& b_to_a() const { return b_to_a_; }

  // One turn: hand over what is due, wait for a datagram, the next departure or a signal,
  // then read what arrived.
  void turn(const sigset_t& wait_mask) {
    deliver(now_ns());
    std::vector<pollfd> fds;
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
      const auto& out_b = outboxes_[2 * i];
      const auto& out_a = outboxes_[2 * i + 1];
      fds.push_back(pollfd{pairs_[i].a_socket,
                           static_cast<short>(POLLIN | (out_a.blocked ? POLLOUT : 0)), 0});
      fds.push_back(pollfd{pairs_[i].b_socket,
                           static_cast<short>(POLLIN | (out_b.blocked ? POLLOUT : 0)), 0});
    }
    timespec timeout{};
    const timespec* wait = nullptr;
    const LinkModel::Time next = std::min(a_to_b_.model.next_due(), b_to_a_.model.next_due());
    if (next != LinkModel::Time::max()) {
      const auto left = std::max(next - now_ns(), LinkModel::Time(0));
      timeout.tv_sec = static_cast<time_t>(left.count() / 1'000'000'000);
      timeout.tv_nsec = static_cast<long>(left.count() % 1'000'000'000);
      wait = &timeout;
    }
    if (::ppoll(fds.data(), fds.size(), wait, &wait_mask) < 0) {
      if (errno == EINTR) return;
      die(std::string("ppoll: ") + std::strerror(errno));
    }
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
      if (fds[2 * i].revents & POLLOUT) outboxes_[2 * i + 1].blocked = false;
      if (fds[2 * i + 1].revents & POLLOUT) outboxes_[2 * i].blocked = false;
      if (fds[2 * i].revents & POLLIN) read_side(i, true);
      if (fds[2 * i + 1].revents & POLLIN) read_side(i, false);
    }
  }

  // At exit: whatever the models hold now is reported as queued.
  void flush_due() { deliver(now_ns()); }

 private:
  static LinkConfig reverse_seed(LinkConfig config) {
    // Each direction draws its own losses: the same seed would drop the same packet numbers.
    config.seed ^= 0x9e3779b97f4a7c15ULL;
    return config;
  }

  void read_side(std::size_t index, bool from_a) {
    Pair& pair = pairs_[index];
    const int fd = from_a ? pair.a_socket : pair.b_socket;
    Direction& direction = from_a ? a_to_b_ : b_to_a_;
    for (;;) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        iovecs_[i] = iovec{buffers_[i].data(), buffers_[i].size()};
        headers_[i] = mmsghdr{};
        headers_[i].msg_hdr.msg_name = &sources_[i];
        headers_[i].msg_hdr.msg_namelen = sizeof sources_[i];
        headers_[i].msg_hdr.msg_iov = &iovecs_[i];
        headers_[i].msg_hdr.msg_iovlen = 1;
        headers_[i].msg_hdr.msg_control = controls_[i].data();
        headers_[i].msg_hdr.msg_controllen = controls_[i].size();
      }
      const int n = ::recvmmsg(fd, headers_.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) return;
      const LinkModel::Time now = now_ns();
      for (int i = 0; i < n; ++i) {
        note_socket_drops(headers_[i].msg_hdr, from_a ? drops_a_ : drops_b_, index, direction);
        if (from_a && !pair.a_peer_fixed) pair.a_peer = sources_[i];
        if (!from_a && !pair.a_peer) {
          ++direction.dropped_no_peer;
          continue;
        }
        LinkPacket packet{
            std::vector<std::uint8_t>(buffers_[i].data(), buffers_[i].data() + headers_[i].msg_len),
            static_cast<std::uint32_t>(index)};
        direction.model.offer(now, packet);
      }
      if (static_cast<std::size_t>(n) < kBatch) return;
    }
  }

  // SO_RXQ_OVFL reports the socket's drop count so far with each datagram; the increase since
  // the last one read is what the kernel dropped in between.
  void note_socket_drops(const msghdr& header, std::vector<std::uint32_t>& last, std::size_t index,
                         Direction& direction) {
    if (last.size() < pairs_.size()) last.resize(pairs_.size(), 0);
    for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&header), c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
      std::uint32_t total = 0;
      std::memcpy(&total, CMSG_DATA(c), sizeof total);
      direction.dropped_socket += total - last[index];
      last[index] = total;
    }
  }

  void deliver(LinkModel::Time now) {
    LinkPacket packet;
    for (Direction* direction : {&a_to_b_, &b_to_a_}) {
      const bool forward = direction == &a_to_b_;
      while (direction->model.pop_due(now, packet)) {
        const Pair& pair = pairs_[packet.tag];
        Outbox& out = outboxes_[2 * packet.tag + (forward ? 0 : 1)];
        out.to.push_back(forward ? pair.b_peer : *pair.a_peer);
        out.packets.push_back(std::move(packet));
      }
    }
    for (auto& out : outboxes_) send(out);
  }

  void send(Outbox& out) {
    std::size_t done = 0;
    while (!out.blocked && done < out.packets.size()) {
      const std::size_t count = std::min(kBatch, out.packets.size() - done);
      for (std::size_t i = 0; i < count; ++i) {
        auto& data = out.packets[done + i].data;
        iovecs_[i] = iovec{data.data(), data.size()};
        headers_[i] = mmsghdr{};
        headers_[i].msg_hdr.msg_name = &out.to[done + i];
        headers_[i].msg_hdr.msg_namelen = sizeof out.to[done + i];
        headers_[i].msg_hdr.msg_iov = &iovecs_[i];
        headers_[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = ::sendmmsg(out.socket, headers_.data(), static_cast<unsigned>(count), 0);
      if (n > 0) {
        out.direction->sent += static_cast<std::uint64_t>(n);
        done += static_cast<std::size_t>(n);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        out.blocked = true;
      } else {
        // The first datagram of the batch failed (e.g. ECONNREFUSED from an earlier ICMP
        // error): count it and go on with the rest.
        ++out.direction->send_errors;
        ++done;
      }
    }
    out.packets.erase(out.packets.begin(), out.packets.begin() + static_cast<long>(done));
    out.to.erase(out.to.begin(), out.to.begin() + static_cast<long>(done));
  }

  std::vector<Pair> pairs_;
  Direction a_to_b_;
  Direction b_to_a_;
  std::vector<Outbox> outboxes_;
  std::vector<std::uint32_t> drops_a_, drops_b_;
  std::array<std::vector<char>, kBatch> buffers_;
  std::array<sockaddr_in, kBatch> sources_{};
  std::array<iovec, kBatch> iovecs_{};
  std::array<mmsghdr, kBatch> headers_{};
  std::array<std::array<char, CMSG_SPACE(sizeof(std::uint32_t))>, kBatch> controls_{};
};

void on_signal(int signal) {
  if (signal == SIGUSR1) {
    g_report = 1;
  } else {
    g_stop = 1;
  }
}

Pair open_pair(const std::string& spec) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto comma = spec.find(',', start);
    parts.push_back(spec.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (parts.size() < 3 || parts.size() > 4) {
    throw std::invalid_argument("--pair wants A_LISTEN,B_LISTEN,B_PEER[,A_PEER]: " + spec);
  }
  Pair pair;
  pair.a_socket = open_socket(parse_address(parts[0]));
  pair.b_socket = open_socket(parse_address(parts[1]));
  pair.b_peer = parse_address(parts[2]);
  if (parts.size() == 4) {
    pair.a_peer = parse_address(parts[3]);
    pair.a_peer_fixed = true;
  }
  return pair;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"e3x_link_emulator: a UDP relay adding delay, loss and a rate limit"};
  std::vector<std::string> pair_specs;
  double delay_ms = 0;
  double loss = 0;
  std::string rate = "0";
  std::size_t queue_bytes = 0;
  std::size_t queue_packets = 0;
  std::uint64_t seed = 1;
  std::size_t overhead = 28;
  std::string stats_file;
  app.add_option("--pair", pair_specs, "A_LISTEN,B_LISTEN,B_PEER[,A_PEER] (IPv4:PORT each)")
      ->required();
  app.add_option("--delay-ms", delay_ms, "one-way delay, each direction (ms)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--loss", loss, "random loss, each direction (fraction 0..1)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--rate", rate, "bottleneck rate, each direction, bits/s: 100M, 1G (0: none)");
  auto* bytes_option =
      app.add_option("--queue-bytes", queue_bytes,
                     "bottleneck queue bound in bytes (default: one BDP over 2x delay, >= 96000)");
  app.add_option("--queue-packets", queue_packets, "bottleneck queue bound in packets")
      ->excludes(bytes_option);
  app.add_option("--seed", seed, "loss PRNG seed");
  app.add_option("--overhead", overhead,
                 "bytes the bottleneck counts per datagram besides its payload (default 28: "
                 "the IPv4 and UDP headers, so --rate is a rate of IP packets)");
  app.add_option("--stats-file", stats_file, "where SIGUSR1 and exit write the counts (JSON)");
  CLI11_PARSE(app, argc, argv);

  LinkConfig config;
  config.delay = std::chrono::duration_cast<LinkModel::Time>(
      std::chrono::duration<double, std::milli>(delay_ms));
  config.loss = loss;
  config.seed = seed;
  config.overhead = overhead;
  std::vector<Pair> pairs;
  try {
    config.rate_bps = parse_rate(rate);
    for (const auto& spec : pair_specs) pairs.push_back(open_pair(spec));
  } catch (const std::exception& error) {
    die(error.what());
  }
  config.queue_packets = queue_packets;
  config.queue_bytes = queue_bytes != 0 || queue_packets != 0
                           ? queue_bytes
                           : e3x::bench::default_queue_bytes(config.rate_bps, config.delay);

  // Departures are timed by ppoll(); the default 50 us timer slack would be half a packet time
  // at 100 Mbit/s.
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  // Signals are blocked except inside ppoll(), so one cannot slip in between the check of the
  // flags and the wait.
  sigset_t blocked, wait_mask;
  sigemptyset(&blocked);
  for (int signal : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&blocked, signal);
  ::sigprocmask(SIG_BLOCK, &blocked, &wait_mask);
  struct sigaction action {};
  action.sa_handler = on_signal;
  for (int signal : {SIGINT, SIGTERM, SIGUSR1}) ::sigaction(signal, &action, nullptr);

  Relay relay(std::move(pairs), config);
  const auto start = Clock::now();
  auto report = [&] {
    return stats_json(config, relay.a_to_b(), relay.b_to_a(),
                      std::chrono::duration<double>(Clock::now() - start).count());
  };
  std::printf("{\"listening\":true,\"pairs\":%zu,\"queue_bytes\":%zu}\n", pair_specs.size(),
              config.queue_bytes);
  std::fflush(stdout);
  while (!g_stop) {
    relay.turn(wait_mask);
    if (g_report) {
      g_report = 0;
      write_stats_file(stats_file, report());
    }
  }
  relay.flush_due();
  const std::string json = report();
  write_stats_file(stats_file, json);
  std::printf("%s\n", json.c_str());
  return 0;
}
