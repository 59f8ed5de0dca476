#include "link_model.hpp"

#include <algorithm>
#include <utility>

namespace e3x::bench {

LinkModel::LinkModel(const LinkConfig& config) : config_(config), random_(config.seed) {}

bool LinkModel::draw_loss() {
  if (config_.loss <= 0) return false;
  // 53 random bits as a double in [0, 1): mt19937_64's output is fixed by the standard, unlike
  // std::bernoulli_distribution's algorithm, so a seed gives the same losses everywhere.
  const double uniform = static_cast<double>(random_() >> 11) * 0x1.0p-53;
  return uniform < config_.loss;
}

LinkVerdict LinkModel::offer(Time now, LinkPacket& packet) {
  advance(now);
  ++counts_.received;
  counts_.bytes_received += packet.data.size();
  if (draw_loss()) {
    ++counts_.dropped_loss;
    return LinkVerdict::dropped_loss;
  }
  if (config_.rate_bps == 0) {
    line_.push_back(Entry{std::move(packet), now + config_.delay});
    return LinkVerdict::queued;
  }
  const std::size_t size = packet.data.size() + config_.overhead;
  const bool over_packets =
      config_.queue_packets != 0 && bottleneck_.size() + 1 > config_.queue_packets;
  const bool over_bytes = config_.queue_bytes != 0 && backlog_bytes_ + size > config_.queue_bytes;
  if (over_packets || over_bytes) {
    ++counts_.dropped_queue;
    return LinkVerdict::dropped_queue;
  }
  // An idle link starts serialising now; the fraction carried over belonged to the busy
  // period that ended, so it is dropped with it.
  if (busy_until_ <= now) {
    busy_until_ = now;
    carry_ = 0;
  }
  const std::uint64_t scaled = static_cast<std::uint64_t>(size) * 8 * 1'000'000'000ULL + carry_;
  busy_until_ += Time(static_cast<Time::rep>(scaled / config_.rate_bps));
  carry_ = scaled % config_.rate_bps;
  backlog_bytes_ += size;
  counts_.max_backlog_bytes = std::max(counts_.max_backlog_bytes, backlog_bytes_);
  bottleneck_.push_back(Entry{std::move(packet), busy_until_});
  return LinkVerdict::queued;
}

void LinkModel::advance(Time now) {
  while (!bottleneck_.empty() && bottleneck_.front().at <= now) {
    Entry entry = std::move(bottleneck_.front());
    bottleneck_.pop_front();
    backlog_bytes_ -= entry.packet.data.size() + config_.overhead;
    entry.at += config_.delay;
    line_.push_back(std::move(entry));
  }
}

bool LinkModel::pop_due(Time now, LinkPacket& out) {
  advance(now);
  if (line_.empty() || line_.front().at > now) return false;
  out = std::move(line_.front().packet);
  line_.pop_front();
  ++counts_.forwarded;
  counts_.bytes_forwarded += out.data.size();
  return true;
}

LinkModel::Time LinkModel::next_due() const {
  // The line is ordered and everything in the bottleneck leaves after it, so the earliest
  // delivery is the line's head, else the bottleneck head's departure plus the delay.
  if (!line_.empty()) return line_.front().at;
  if (!bottleneck_.empty()) return bottleneck_.front().at + config_.delay;
  return Time::max();
}

std::size_t default_queue_bytes(std::uint64_t rate_bps, std::chrono::nanoseconds delay) {
  if (rate_bps == 0) return 0;
  const double round_trip_s = 2 * std::chrono::duration<double>(delay).count();
  const auto bdp = static_cast<std::size_t>(static_cast<double>(rate_bps) * round_trip_s / 8);
  return std::max<std::size_t>(bdp, 64 * 1500);
}

}  // namespace e3x::bench
