// A walk through the core on an in-memory wire: two endpoints with fresh identities find each
// other, handshake, exchange an application message and reliable channel data, and print
// their state. No sockets: this shows the sans-I/O core on its own (the daemon drives the same
// calls from real sockets).
#include <cstdio>
#include <string>

#include "core/endpoint.hpp"

namespace {

using namespace e3x;

struct Node {
  const char* name;
  SodiumRandom random;
  std::unique_ptr<Endpoint> endpoint;
};

std::string short_hex(ByteView bytes) {
  return to_hex(bytes).substr(0, 16) + "…";
}

void describe(const char* who, const Event& event) {
  std::visit(
      [who](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, event::ExchangeUp>) {
          std::printf("  %s: exchange UP with %.12s… at SEQ %u (remote token %s)\n", who,
                      e.peer.to_string().c_str(), e.seq, short_hex(e.remote_token).c_str());
        } else if constexpr (std::is_same_v<T, event::MessageReceived>) {
          std::printf("  %s: message type=%s id=%s: \"%.*s\"\n", who, e.type.c_str(), e.id.c_str(),
                      static_cast<int>(e.body.size()),
                      reinterpret_cast<const char*>(e.body.data()));
        } else if constexpr (std::is_same_v<T, event::ChannelOpened>) {
          std::printf("  %s: channel %u opened by peer, type=%s%s: \"%.*s\"\n", who, e.channel,
                      e.type.c_str(), e.reliable ? " (reliable)" : "",
                      static_cast<int>(e.body.size()),
                      reinterpret_cast<const char*>(e.body.data()));
        } else if constexpr (std::is_same_v<T, event::ChannelData>) {
          std::printf("  %s: channel %u data%s: \"%.*s\"\n", who, e.channel, e.end ? " (end)" : "",
                      static_cast<int>(e.body.size()),
                      reinterpret_cast<const char*>(e.body.data()));
        } else if constexpr (std::is_same_v<T, event::ChannelEnded>) {
          std::printf("  %s: channel %u ended cleanly\n", who, e.channel);
        } else if constexpr (std::is_same_v<T, event::ChannelErrored>) {
          std::printf("  %s: channel %u errored: %s\n", who, e.channel, e.reason.c_str());
        } else {
          std::printf("  %s: other event\n", who);
        }
      },
      event);
}

// Delivers everything in flight until both sides are quiet; prints each datagram.
void pump(Instant now, Node& a, Node& b) {
  for (bool moved = true; moved;) {
    moved = false;
    for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
      while (auto transmit = from->endpoint->poll_transmit()) {
        const bool handshake = transmit->packet.size() > 2 && transmit->packet[1] == 1;
        std::printf("  wire %s -> %s: %zu bytes (%s)\n", from->name, to->name,
                    transmit->packet.size(), handshake ? "message/handshake" : "channel");
        to->endpoint->handle_datagram(now, 1, transmit->packet);
        moved = true;
      }
      while (auto event = from->endpoint->poll_event()) describe(from->name, *event);
    }
  }
}

void print_status(const Node& node, const Hashname& peer) {
  const auto status = node.endpoint->peer_status(peer).value();
  std::printf(
      "  %s sees %.12s…: state=%s seq_sent=%u seq_recv=%u tx=%llu pkts/%llu B "
      "rx=%llu pkts/%llu B channels=%zu x25519=%llu\n",
      node.name, peer.to_string().c_str(), to_string(status.state), status.seq_sent,
      status.seq_recv, static_cast<unsigned long long>(status.tx_packets),
      static_cast<unsigned long long>(status.tx_bytes),
      static_cast<unsigned long long>(status.rx_packets),
      static_cast<unsigned long long>(status.rx_bytes), status.channels,
      static_cast<unsigned long long>(node.endpoint->stats().x25519_operations));
}

}  // namespace

int main() {
  Node a{"alice", {}, nullptr}, b{"bob", {}, nullptr};
  for (Node* node : {&a, &b}) {
    node->endpoint = std::make_unique<Endpoint>(
        Endpoint::Config{.identity = generate_keypair(node->random), .random = &node->random});
    node->endpoint->set_unix_time(Instant{}, 1763700000);
    std::printf("%s: hashname %s\n", node->name, node->endpoint->hashname().to_string().c_str());
  }
  const Hashname bob = a.endpoint->add_peer(b.endpoint->public_key()).value();
  const Hashname alice = b.endpoint->add_peer(a.endpoint->public_key()).value();

  Instant now{};
  std::printf("\n1. alice connects to bob (handshake)\n");
  (void)a.endpoint->connect(now, bob, 1);
  pump(now, a, b);

  std::printf("\n2. alice sends an application message\n");
  // Both clocks read Unix time 0 in this demo: the message expires an hour later.
  (void)a.endpoint->send_message(now, bob, "msg", "m1", boost::json::object{{"expires", 3600}},
                                 as_bytes("hello, bob"));
  pump(now, a, b);

  std::printf("\n3. bob opens a reliable channel and streams three packets\n");
  const auto channel = b.endpoint->open_channel(now, alice, "chat", true, {}, Bytes{'h', 'i'});
  (void)b.endpoint->send_channel(now, alice, *channel, {}, Bytes{'t', 'w', 'o'});
  (void)b.endpoint->send_channel(now, alice, *channel, {}, Bytes{'b', 'y', 'e'}, true);
  pump(now, a, b);
  (void)a.endpoint->send_channel(now, bob, *channel, {}, {}, true);
  pump(now, a, b);

  std::printf("\n4. 60 idle seconds later: keepalive handshakes, no new X25519 work\n");
  for (int i = 0; i < 60; ++i) {
    now += seconds(1);
    a.endpoint->handle_timeout(now);
    b.endpoint->handle_timeout(now);
    pump(now, a, b);
  }

  std::printf("\nstate\n");
  print_status(a, bob);
  print_status(b, alice);
  return 0;
}
