// udp_blast: the raw UDP limit for bench/run-throughput.sh, with e3xd's batching.
//
//   udp_blast recv --bind IP:PORT [--mmsg | --gso]      count until the sender says it is done
//   udp_blast send --to IP:PORT [--seconds N] [--size BYTES] [--batch N] [--mmsg | --gso]
//   udp_blast pingpong-server --bind IP:PORT            echo every datagram (bench/run-latency.sh)
//   udp_blast pingpong --to IP:PORT [--count N] [--size BYTES]
//
// The sender writes `size`-byte datagrams as fast as the socket takes them, in batches of
// `batch` (64: e3xd's receive budget and its speed test's batch) between polls, one sendto()
// per datagram like e3xd, or one sendmmsg() per batch with --mmsg, or with --gso one sendmsg()
// per batch carrying UDP_SEGMENT (at most 65,507 bytes a call, as e3xd's runs), the kernel
// cutting it into `size`-byte datagrams -- what e3xd does with [udp] gso; a full send buffer
// (EAGAIN) waits for POLLOUT instead of spinning. The receiver reads up to `batch` datagrams
// per wake-up (recvfrom, or recvmmsg with --mmsg, or with --gso recvmsg() on a UDP_GRO socket,
// counting each coalesced buffer as the datagrams it holds), counts them, and stops at the sender's
// end marker (a 4-byte "DONE", sent 20 times), or 3 s after the last datagram. Both print one
// JSON line: the receiver's packets/s and Mbit/s are over its first-to-last arrival span, as
// e3xd's speed test reports them, and both give their CPU time (getrusage).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string mode;
  std::string address;
  double seconds = 10;
  std::size_t size = 1400;
  std::size_t batch = 64;
  std::size_t count = 1000;
  bool mmsg = false;
  bool gso = false;  // sender: UDP_SEGMENT runs; receiver: UDP_GRO
};

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

constexpr char kDone[] = "DONE";

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "udp_blast: %s\n", message.c_str());
  std::exit(2);
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

sockaddr_in parse_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) die("address must be IPv4:PORT, got " + text);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1))));
  if (::inet_pton(AF_INET, text.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    die("bad IPv4 address in " + text);
  }
  return address;
}

int udp_socket() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
  return fd;
}

void wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  ::poll(&p, 1, timeout_ms);
}

int run_send(const Options& options) {
  const sockaddr_in to = parse_address(options.address);
  const int fd = udp_socket();
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    die(std::string("connect: ") + std::strerror(errno));
  }
  std::vector<char> payload(options.size, 'x');
  std::vector<mmsghdr> messages(options.batch);
  std::vector<iovec> vectors(options.batch);
  for (std::size_t i = 0; i < options.batch; ++i) {
    vectors[i] = iovec{payload.data(), payload.size()};
    messages[i] = mmsghdr{};
    messages[i].msg_hdr.msg_iov = &vectors[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  std::uint64_t sent = 0, refused = 0, syscalls = 0;
  const double cpu_start = cpu_seconds();
  const auto start = Clock::now();
  // --gso: one buffer of as many datagrams as a batch holds within one UDP send's limit.
  const std::size_t run_segments =
      std::max<std::size_t>(1, std::min(options.batch, std::size_t{65507} / options.size));
  std::vector<char> run(options.gso ? run_segments * options.size : 0, 'x');
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
  iovec run_vector{run.data(), run.size()};
  msghdr run_message{};
  if (options.gso) {
    run_message.msg_iov = &run_vector;
    run_message.msg_iovlen = 1;
    run_message.msg_control = control;
    run_message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&run_message);
    header->cmsg_level = SOL_UDP;
    header->cmsg_type = UDP_SEGMENT;
    header->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto segment = static_cast<std::uint16_t>(options.size);
    std::memcpy(CMSG_DATA(header), &segment, sizeof segment);
  }
  while (since(start) < options.seconds) {
    if (options.gso) {
      const ssize_t n = ::sendmsg(fd, &run_message, 0);
      ++syscalls;
      if (n == static_cast<ssize_t>(run.size())) {
        sent += run_segments;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
        die(std::string("sendmsg with UDP_SEGMENT: ") + std::strerror(errno));
      } else {
        ++refused;
        wait_for(fd, POLLOUT, 1);
      }
      continue;
    }
    if (options.mmsg) {
      const int n = ::sendmmsg(fd, messages.data(), static_cast<unsigned>(options.batch), 0);
      ++syscalls;
      if (n > 0) sent += static_cast<std::uint64_t>(n);
      if (n < static_cast<int>(options.batch)) {
        ++refused;
        wait_for(fd, POLLOUT, 1);
      }
      continue;
    }
    for (std::size_t i = 0; i < options.batch; ++i) {
      ++syscalls;
      if (::send(fd, payload.data(), payload.size(), 0) < 0) {
        ++refused;
        wait_for(fd, POLLOUT, 1);
        break;
      }
      ++sent;
    }
  }
  const double duration = since(start);
  const double cpu = cpu_seconds() - cpu_start;
  for (int i = 0; i < 20; ++i) {
    (void)::send(fd, kDone, 4, 0);
    ::usleep(10000);
  }
  std::printf(
      "{\"role\":\"send\",\"sent\":%llu,\"send_buffer_full\":%llu,\"syscalls\":%llu,"
      "\"duration_s\":%.6f,\"cpu_s\":%.6f,\"cpu_us_per_packet\":%.4f}\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(refused),
      static_cast<unsigned long long>(syscalls), duration, cpu,
      sent > 0 ? cpu * 1e6 / static_cast<double>(sent) : 0.0);
  return 0;
}

int run_recv(const Options& options) {
  const sockaddr_in bind_to = parse_address(options.address);
  const int fd = udp_socket();
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof bind_to) != 0) {
    die(std::string("bind: ") + std::strerror(errno));
  }
  if (options.gso) {
    const int on = 1;
    if (::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0) {
      die(std::string("UDP_GRO: ") + std::strerror(errno));
    }
  }
  std::printf("{\"role\":\"recv\",\"listening\":true}\n");
  std::fflush(stdout);
  const std::size_t buffer_size = 65536;
  std::vector<std::vector<char>> buffers(options.batch, std::vector<char>(buffer_size));
  std::vector<mmsghdr> messages(options.batch);
  std::vector<iovec> vectors(options.batch);
  std::uint64_t packets = 0, bytes = 0, syscalls = 0;
  Clock::time_point first{}, last{};
  double cpu_first = 0;
  bool done = false;
  auto count = [&](std::size_t size, const char* data) {
    if (size == 4 && std::memcmp(data, kDone, 4) == 0) {
      done = true;
      return;
    }
    const auto at = Clock::now();
    if (packets == 0) {
      first = at;
      cpu_first = cpu_seconds();
    }
    last = at;
    ++packets;
    bytes += size;
  };
  while (!done) {
    // Waits for the first datagram indefinitely (up to 60 s), afterwards 3 s at most.
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, packets == 0 ? 60000 : 3000) <= 0) break;
    if (options.gso) {
      // A coalesced buffer says its segment size in a UDP_GRO control message; without one
      // it is a single datagram.
      for (std::size_t i = 0; i < options.batch; ++i) {
        iovec vector{buffers[0].data(), buffer_size};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr message{};
        message.msg_iov = &vector;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(fd, &message, 0);
        ++syscalls;
        if (n < 0) break;
        std::size_t segment = static_cast<std::size_t>(n);
        for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
             header = CMSG_NXTHDR(&message, header)) {
          if (header->cmsg_level == SOL_UDP && header->cmsg_type == UDP_GRO) {
            int size = 0;
            std::memcpy(&size, CMSG_DATA(header), sizeof size);
            if (size > 0) segment = static_cast<std::size_t>(size);
          }
        }
        for (std::size_t at = 0; at < static_cast<std::size_t>(n); at += segment) {
          count(std::min(segment, static_cast<std::size_t>(n) - at), buffers[0].data() + at);
        }
      }
      continue;
    }
    if (options.mmsg) {
      for (std::size_t i = 0; i < options.batch; ++i) {
        vectors[i] = iovec{buffers[i].data(), buffer_size};
        messages[i] = mmsghdr{};
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
      }
      const int n =
          ::recvmmsg(fd, messages.data(), static_cast<unsigned>(options.batch), 0, nullptr);
      ++syscalls;
      for (int i = 0; i < n; ++i) count(messages[i].msg_len, buffers[i].data());
      continue;
    }
    // e3xd's UdpSocket: one read after the wake-up, then up to batch-1 more without waiting.
    for (std::size_t i = 0; i < options.batch; ++i) {
      const ssize_t n = ::recv(fd, buffers[0].data(), buffer_size, 0);
      ++syscalls;
      if (n < 0) break;
      count(static_cast<std::size_t>(n), buffers[0].data());
    }
  }
  const double cpu = packets > 0 ? cpu_seconds() - cpu_first : 0;
  const double span = std::chrono::duration<double>(last - first).count();
  std::printf(
      "{\"role\":\"recv\",\"packets\":%llu,\"bytes\":%llu,\"syscalls\":%llu,\"span_s\":%.6f,"
      "\"packets_per_s\":%.1f,\"mbit_per_s\":%.2f,\"cpu_s\":%.6f,\"cpu_us_per_packet\":%.4f}\n",
      static_cast<unsigned long long>(packets), static_cast<unsigned long long>(bytes),
      static_cast<unsigned long long>(syscalls), span,
      span > 0 ? static_cast<double>(packets) / span : 0.0,
      span > 0 ? static_cast<double>(bytes) * 8 / 1e6 / span : 0.0, cpu,
      packets > 0 ? cpu * 1e6 / static_cast<double>(packets) : 0.0);
  return 0;
}

int run_pingpong_server(const Options& options) {
  const sockaddr_in bind_to = parse_address(options.address);
  const int fd = udp_socket();
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), sizeof bind_to) != 0) {
    die(std::string("bind: ") + std::strerror(errno));
  }
  std::printf("{\"role\":\"pingpong-server\",\"listening\":true}\n");
  std::fflush(stdout);
  std::vector<char> buffer(65536);
  for (;;) {
    wait_for(fd, POLLIN, -1);
    sockaddr_in from{};
    socklen_t length = sizeof from;
    const ssize_t n = ::recvfrom(fd, buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &length);
    if (n < 0) continue;
    if (n == 4 && std::memcmp(buffer.data(), kDone, 4) == 0) return 0;
    (void)::sendto(fd, buffer.data(), static_cast<std::size_t>(n), 0,
                   reinterpret_cast<sockaddr*>(&from), length);
  }
}

// Round trips through poll() like e3xd's event loop; prints p50/p99 in ms.
int run_pingpong(const Options& options) {
  const sockaddr_in to = parse_address(options.address);
  const int fd = udp_socket();
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    die(std::string("connect: ") + std::strerror(errno));
  }
  std::vector<char> payload(options.size, 'p');
  std::vector<char> buffer(65536);
  std::vector<double> rtts;
  std::size_t lost = 0;
  for (std::size_t i = 0; i < options.count; ++i) {
    const auto start = Clock::now();
    (void)::send(fd, payload.data(), payload.size(), 0);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) {
      ++lost;
      continue;
    }
    if (::recv(fd, buffer.data(), buffer.size(), 0) < 0) {
      ++lost;
      continue;
    }
    rtts.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  (void)::send(fd, kDone, 4, 0);
  std::sort(rtts.begin(), rtts.end());
  auto percentile = [&rtts](double p) {
    if (rtts.empty()) return 0.0;
    const auto index = static_cast<std::size_t>(p * static_cast<double>(rtts.size() - 1) + 0.5);
    return rtts[std::min(index, rtts.size() - 1)];
  };
  std::printf(
      "{\"role\":\"pingpong\",\"count\":%zu,\"lost\":%zu,\"p50_ms\":%.4f,\"p99_ms\":%.4f}\n",
      rtts.size(), lost, percentile(0.5), percentile(0.99));
  return 0;
}

Options parse(int argc, char** argv) {
  if (argc < 2) die("usage: udp_blast send|recv|pingpong|pingpong-server [options]");
  Options options;
  options.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--to" || arg == "--bind") {
      options.address = value();
    } else if (arg == "--seconds") {
      options.seconds = std::stod(value());
    } else if (arg == "--size") {
      options.size = std::stoul(value());
    } else if (arg == "--batch") {
      options.batch = std::max<std::size_t>(1, std::stoul(value()));
    } else if (arg == "--count") {
      options.count = std::stoul(value());
    } else if (arg == "--mmsg") {
      options.mmsg = true;
    } else if (arg == "--gso") {
      options.gso = true;
    } else {
      die("unknown option " + arg);
    }
  }
  if (options.address.empty()) die("--to or --bind is required");
  if (options.mmsg && options.gso) die("--mmsg and --gso are alternatives");
  if (options.size == 0 || options.size > 65507) die("--size must be 1..65507");
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  if (options.mode == "send") return run_send(options);
  if (options.mode == "recv") return run_recv(options);
  if (options.mode == "pingpong-server") return run_pingpong_server(options);
  if (options.mode == "pingpong") return run_pingpong(options);
  die("unknown mode " + options.mode);
}
