#include "bench/handshake_fixture.hpp"

#include <stdexcept>

namespace e3x::bench {
namespace {

constexpr std::uint64_t kReceiverSeed = 2;
constexpr std::uint64_t kWarmSenderSeed = 1;
constexpr std::uint64_t kColdSenderSeeds = 1000;

Bytes take_transmit(Endpoint& endpoint) {
  auto transmit = endpoint.poll_transmit();
  if (!transmit) throw std::logic_error("bench: the endpoint sent nothing");
  return std::move(transmit->packet);
}

struct Pair {
  std::unique_ptr<Node> sender, receiver;
  Hashname receiver_name;  // as the sender knows it
};

// Sender and receiver configured with each other and brought in sync by one handshake
// round trip at time zero. Deterministic: two calls build identical pairs.
Pair make_synced_pair() {
  Pair pair{std::make_unique<Node>(kWarmSenderSeed), std::make_unique<Node>(kReceiverSeed), {}};
  Endpoint& a = pair.sender->endpoint;
  Endpoint& b = pair.receiver->endpoint;
  pair.receiver_name = a.add_peer(b.public_key()).value();
  const Hashname a_name = b.add_peer(a.public_key()).value();
  if (!a.connect(Instant{}, pair.receiver_name, kPeerPath)) {
    throw std::logic_error("bench: connect failed");
  }
  b.handle_datagram(Instant{}, kPeerPath, take_transmit(a));
  a.handle_datagram(Instant{}, kPeerPath, take_transmit(b));
  drain(a);
  drain(b);
  if (a.peer_status(pair.receiver_name)->state != ExchangeState::kUp ||
      b.peer_status(a_name)->state != ExchangeState::kUp) {
    throw std::logic_error("bench: the pair did not come up");
  }
  return pair;
}

}  // namespace

Node::Node(std::uint64_t seed)
    : random(seed),
      endpoint(Endpoint::Config{.identity = generate_keypair(random), .random = &random}) {
  endpoint.set_unix_time(Instant{}, kUnixStart);
}

void drain(Endpoint& endpoint) {
  while (endpoint.poll_transmit()) {
  }
  while (endpoint.poll_event()) {
  }
}

ColdBatch make_cold_batch(std::size_t count) {
  ColdBatch batch{std::make_unique<Node>(kReceiverSeed), {}};
  Endpoint& receiver = batch.receiver->endpoint;
  batch.hellos.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Node sender(kColdSenderSeeds + i);
    const Hashname receiver_name = sender.endpoint.add_peer(receiver.public_key()).value();
    if (!sender.endpoint.connect(Instant{}, receiver_name, kPeerPath)) {
      throw std::logic_error("bench: connect failed");
    }
    batch.hellos.push_back(take_transmit(sender.endpoint));
    receiver.add_peer(sender.endpoint.public_key()).value();
  }
  return batch;
}

WarmBatch make_warm_batch(std::size_t count) {
  Pair rehearsal = make_synced_pair();
  Endpoint& a = rehearsal.sender->endpoint;
  Endpoint& b = rehearsal.receiver->endpoint;
  WarmBatch batch;
  batch.times.reserve(count);
  batch.keepalives.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    // 25 s apart, as UDP keepalives are (PROTOCOL.md section 9).
    const Instant now = Instant{} + seconds(25) * static_cast<std::int64_t>(i + 1);
    if (!a.request_keepalive(now, rehearsal.receiver_name, kPeerPath)) {
      throw std::logic_error("bench: keepalive refused");
    }
    Bytes keepalive = take_transmit(a);
    b.handle_datagram(now, kPeerPath, keepalive);
    a.handle_datagram(now, kPeerPath, take_transmit(b));  // confirms it: the next is new
    drain(a);
    drain(b);
    batch.times.push_back(now);
    batch.keepalives.push_back(std::move(keepalive));
  }
  batch.receiver = std::move(make_synced_pair().receiver);
  return batch;
}

}  // namespace e3x::bench
