// Helpers for the channel tests: JSON through the wire format, draining queues, and a pair of
// channels (opener A, accepter B) joined by a deterministic lossy, reordering, duplicating
// network whose clock only jumps to the next next_timeout().
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/channel.hpp"

namespace e3x::test {

inline Instant at_ms(std::int64_t ms) {
  return Instant{} + milliseconds(ms);
}

inline boost::json::object json_of(std::string_view text) {
  return boost::json::parse(text).as_object();
}

// What the peer would parse: serialize and parse again (integers come back as int64).
inline boost::json::object over_wire(const boost::json::object& json) {
  return json_of(boost::json::serialize(json));
}

inline std::vector<ChannelOutgoing> drain_out(Channel& channel) {
  std::vector<ChannelOutgoing> out;
  while (auto packet = channel.poll_outgoing()) out.push_back(std::move(*packet));
  return out;
}

inline std::vector<ChannelEvent> drain_events(Channel& channel) {
  std::vector<ChannelEvent> out;
  while (auto event = channel.poll_event()) out.push_back(std::move(*event));
  return out;
}

inline std::optional<std::int64_t> int_key(const boost::json::object& json, std::string_view key) {
  const auto* value = json.if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->get_uint64());
  return std::nullopt;
}

inline std::vector<std::int64_t> miss_of(const boost::json::object& json) {
  std::vector<std::int64_t> out;
  if (const auto* miss = json.if_contains("miss")) {
    for (const auto& delta : miss->as_array()) out.push_back(delta.to_number<std::int64_t>());
  }
  return out;
}

inline Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

// Delivers packets between two channels. Lost packets vanish, survivors may be duplicated, and
// the next packet delivered is picked at random among those in flight (reordering). Nothing
// takes time in flight: the clock moves only when nothing is in flight, to the earliest
// next_timeout() of the two channels.
class ChannelPair {
 public:
  struct Options {
    std::uint64_t seed = 1;
    double loss = 0.0;
    double duplicate = 0.0;
    bool reliable = true;
  };
  // Called after every delivery and timer so the test's applications can react (send more,
  // read events). `side` is 0 for the opener A, 1 for the accepter B.
  std::function<void(int side, Channel& channel, Instant now)> on_activity;
  // Called for every packet a channel emits; `after_receive` tells whether it came out of
  // receive() (true) or handle_timeout()/send() (false).
  std::function<void(int side, const ChannelOutgoing& packet, bool after_receive)> on_emit;

  explicit ChannelPair(Options options) : options_(options), rng_(options.seed) {}

  void open(std::uint32_t id, std::string type, boost::json::object extra, Bytes body) {
    a_.emplace(Channel::open(id, std::move(type), options_.reliable, std::move(extra),
                             std::move(body), now_));
    collect(0, false);
  }

  Channel& a() { return *a_; }
  Channel* b() { return b_ ? &*b_ : nullptr; }
  Instant now() const { return now_; }
  std::size_t delivered() const { return delivered_; }
  std::size_t dropped() const { return dropped_; }

  // Collects what `side` has to send (after app activity or timers).
  void collect(int side, bool after_receive) {
    Channel* channel = side == 0 ? &*a_ : b();
    if (channel == nullptr) return;
    while (auto packet = channel->poll_outgoing()) {
      if (on_emit) on_emit(side, *packet, after_receive);
      if (chance(options_.loss)) {
        ++dropped_;
        continue;
      }
      const int copies = chance(options_.duplicate) ? 2 : 1;
      for (int i = 0; i < copies; ++i) {
        flight_.push_back(InFlight{1 - side, boost::json::serialize(packet->json), packet->body});
      }
    }
  }

  // Delivers everything in flight (including what deliveries provoke).
  void pump() {
    poke_apps();
    while (!flight_.empty()) {
      std::uniform_int_distribution<std::size_t> pick(0, flight_.size() - 1);
      const std::size_t index = pick(rng_);
      InFlight packet = std::move(flight_[index]);
      flight_[index] = std::move(flight_.back());
      flight_.pop_back();
      deliver(packet);
      poke_apps();
    }
  }

  // Moves the clock to the earliest timer and fires it. False when no timer is armed.
  bool advance() {
    std::optional<Instant> next;
    for (Channel* channel : {a_ ? &*a_ : nullptr, b()}) {
      if (channel == nullptr) continue;
      if (auto when = channel->next_timeout(); when && (!next || *when < *next)) next = when;
    }
    if (!next) return false;
    if (*next > now_) now_ = *next;
    a_->handle_timeout(now_);
    collect(0, false);
    if (b_) {
      b_->handle_timeout(now_);
      collect(1, false);
    }
    return true;
  }

 private:
  struct InFlight {
    int to;
    std::string head;
    Bytes body;
  };

  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  void poke_apps() {
    if (on_activity) on_activity(0, *a_, now_);
    collect(0, false);
    if (b_) {
      if (on_activity) on_activity(1, *b_, now_);
      collect(1, false);
    }
  }

  void deliver(const InFlight& packet) {
    ++delivered_;
    const auto json = json_of(packet.head);
    if (packet.to == 1 && !b_) {
      // Like the exchange: an unknown channel id is only created by an open packet.
      if (!json.contains("type")) return;
      auto accepted = Channel::accept(a_->id(), json, packet.body, now_);
      ASSERT_TRUE(accepted.has_value());
      b_.emplace(std::move(*accepted));
      collect(1, true);
      return;
    }
    Channel& target = packet.to == 0 ? *a_ : *b_;
    target.receive(json, packet.body, now_);
    collect(packet.to, true);
  }

  Options options_;
  std::mt19937_64 rng_;
  Instant now_{};
  std::optional<Channel> a_;
  std::optional<Channel> b_;
  std::vector<InFlight> flight_;
  std::size_t delivered_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace e3x::test
