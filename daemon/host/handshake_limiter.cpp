#include "daemon/host/handshake_limiter.hpp"

#include <algorithm>
#include <chrono>

namespace e3x::daemon {

namespace {

Duration cost_of(double rate) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / rate));
}

Duration capacity_of(double rate, double burst) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(burst / rate));
}

}  // namespace

HandshakeLimiter::HandshakeLimiter(HandshakeLimits limits)
    : address_cost_(cost_of(limits.per_address_rate)),
      address_capacity_(capacity_of(limits.per_address_rate, limits.per_address_burst)),
      global_cost_(cost_of(limits.global_rate)),
      global_capacity_(capacity_of(limits.global_rate, limits.global_burst)),
      max_addresses_(std::max<std::size_t>(limits.max_addresses, 1)),
      global_{global_capacity_, Instant{}} {}

HandshakeLimiter::Key HandshakeLimiter::key_of(const boost::asio::ip::address& source) {
  Key key{};
  if (source.is_v4()) {
    key[0] = 4;
    const auto bytes = source.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), key.begin() + 1);
  } else {
    key[0] = 6;
    const auto bytes = source.to_v6().to_bytes();
    // The /64 only: the interface identifier half is free for its holder to vary.
    std::copy(bytes.begin(), bytes.begin() + 8, key.begin() + 1);
  }
  return key;
}

void HandshakeLimiter::refill(Bucket& bucket, Instant now, Duration capacity) {
  if (now > bucket.last) {
    bucket.credit = std::min(capacity, bucket.credit + (now - bucket.last));
    bucket.last = now;
  }
}

// An entry idle for its whole capacity is full again, the same as no entry: dropping it costs
// nothing and gives the memory back. The least recently seen are at the back of recent_.
void HandshakeLimiter::forget_idle(Instant now) {
  while (!recent_.empty()) {
    auto it = buckets_.find(recent_.back());
    if (now - it->second.bucket.last < address_capacity_) break;
    buckets_.erase(it);
    recent_.pop_back();
  }
}

HandshakeLimiter::Entry& HandshakeLimiter::entry_for(Instant now, const Key& key) {
  if (auto it = buckets_.find(key); it != buckets_.end()) {
    recent_.splice(recent_.begin(), recent_, it->second.recent);
    return it->second;
  }
  forget_idle(now);
  if (buckets_.size() >= max_addresses_) {
    buckets_.erase(recent_.back());
    recent_.pop_back();
  }
  recent_.push_front(key);
  return buckets_.emplace(key, Entry{Bucket{address_capacity_, now}, recent_.begin()})
      .first->second;
}

bool HandshakeLimiter::admit(Instant now, const boost::asio::ip::address& source) {
  Entry& entry = entry_for(now, key_of(source));
  refill(entry.bucket, now, address_capacity_);
  refill(global_, now, global_capacity_);
  // Take from neither unless both can pay: a flooding address must not drain the global
  // bucket with packets its own bucket refuses.
  if (entry.bucket.credit < address_cost_ || global_.credit < global_cost_) {
    ++refused_;
    return false;
  }
  entry.bucket.credit -= address_cost_;
  global_.credit -= global_cost_;
  return true;
}

bool HandshakeLimiter::admit_global(Instant now) {
  refill(global_, now, global_capacity_);
  if (global_.credit < global_cost_) {
    ++refused_;
    return false;
  }
  global_.credit -= global_cost_;
  return true;
}

}  // namespace e3x::daemon
