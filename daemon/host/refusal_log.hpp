// Who is knocking: the daemon logs the senders it refuses (source address, and hashname when
// the packet names one) with a hint, so a misconfigured peer is found from the log and not
// only from a drop counter. A sender that keeps trying, or a flood, must not fill the log or
// the memory: each source address is logged at most once per kInterval, and the table that
// remembers when is bounded (kMaxSources); when it is full of recent sources, new ones are
// not logged (the drop counters and their periodic summary still count them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "core/time.hpp"

namespace e3x::daemon {

class RefusalLog {
 public:
  static constexpr Duration kInterval = seconds(60);
  static constexpr std::size_t kMaxSources = 1024;

  // Whether a refusal of a packet from `source` (an IP address) is to be logged at `now`;
  // when it is, `now` is remembered for it.
  bool should_log(const std::string& source, Instant now);

  std::size_t sources() const { return last_logged_.size(); }
  // Refusals not logged because the table was full of recent sources.
  std::uint64_t unlogged_for_space() const { return unlogged_for_space_; }

 private:
  std::unordered_map<std::string, Instant> last_logged_;
  std::uint64_t unlogged_for_space_ = 0;
};

}  // namespace e3x::daemon
