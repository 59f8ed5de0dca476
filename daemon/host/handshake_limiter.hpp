// Bounds the X25519 work that unsolicited handshakes can cause (issue 5, "Load and hostile
// traffic"), in the spirit of WireGuard's handshake rate limiter: a token bucket per source
// address and one global bucket. The core asks before each X25519 for a KEY it does not know
// (Endpoint::Config::admit_expensive); keepalives of known exchanges never come here.
//
// Pure: no clock, no sockets. Time is an argument, so tests can step it. Not thread-safe (the
// daemon calls it from its one network thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>

#include <boost/asio/ip/address.hpp>

#include "core/time.hpp"

namespace e3x::daemon {

// Defaults, priced against a cold handshake's measured cost (docs/benchmarks.md: 140 us,
// 5 X25519 of about 28 us each):
// - Per address, 20/s with a burst of 40: twenty peers behind one NAT address can each
//   start a new exchange every second, and the 1/3/7/15 s resends of one peer use little of
//   it; one flooding address gets at most 20 x 140 us = 0.3% of a core.
// - Globally, 2,000/s with a burst of 1,000: the worst case (every admitted packet a full
//   cold handshake, possible only with accept = "any") is 2,000 x 140 us = 28% of one core;
//   a flood of unknown or badly authenticated handshakes costs one X25519 each before it is
//   dropped, 2,000 x 28 us = 6%. A server whose 10,000 peers all re-handshake within a 25 s
//   keepalive after its restart needs 400/s.
// - 65,536 addresses tracked at most (about 130 bytes each: under 9 MiB), the least recently
//   seen evicted beyond that, so a flood from spoofed sources cannot grow memory. An evicted
//   address starts again with a full bucket, which the global bucket still bounds.
struct HandshakeLimits {
  double per_address_rate = 20;  // tokens per second
  double per_address_burst = 40;
  double global_rate = 2000;
  double global_burst = 1000;
  std::size_t max_addresses = 65536;
};

class HandshakeLimiter {
 public:
  explicit HandshakeLimiter(HandshakeLimits limits = {});

  // One expensive handshake from `source` at `now`: true (and one token taken from its
  // address's bucket and from the global one) if both have a token, else false and nothing
  // taken. IPv6 addresses share one bucket per /64, since anyone holding one address of a
  // /64 usually holds them all. `now` must not go backwards (an earlier time refills nothing).
  bool admit(Instant now, const boost::asio::ip::address& source);
  // For a packet whose source is not known: only the global bucket applies.
  bool admit_global(Instant now);

  std::size_t tracked_addresses() const { return buckets_.size(); }
  std::uint64_t refused() const { return refused_; }

 private:
  // A bucket's tokens as time credit: one token is `cost` of credit, full is burst x cost.
  // Integer nanoseconds, so refilling is exact however often it is asked.
  struct Bucket {
    Duration credit{};
    Instant last{};
  };
  using Key = std::array<unsigned char, 17>;  // family byte + 16 address bytes
  struct Entry {
    Bucket bucket;
    std::list<Key>::iterator recent;  // position in recent_
  };

  static Key key_of(const boost::asio::ip::address& source);
  static void refill(Bucket& bucket, Instant now, Duration capacity);
  Entry& entry_for(Instant now, const Key& key);
  void forget_idle(Instant now);

  Duration address_cost_, address_capacity_;
  Duration global_cost_, global_capacity_;
  std::size_t max_addresses_;
  Bucket global_;
  // An ordered map, not a hash table: its cost per lookup is bounded whatever addresses an
  // attacker picks (no hash flooding).
  std::map<Key, Entry> buckets_;
  std::list<Key> recent_;  // most recently seen first
  std::uint64_t refused_ = 0;
};

}  // namespace e3x::daemon
