#include "daemon/host/refusal_log.hpp"

#include <iterator>

namespace e3x::daemon {

bool RefusalLog::should_log(const std::string& source, Instant now) {
  if (auto found = last_logged_.find(source); found != last_logged_.end()) {
    if (now - found->second < kInterval) return false;
    found->second = now;
    return true;
  }
  if (last_logged_.size() >= kMaxSources) {
    // Sources last logged a full interval ago would be logged again anyway: forgetting them
    // loses nothing. The sweep runs only when the table is full, at most once per new source.
    std::erase_if(last_logged_,
                  [now](const auto& entry) { return now - entry.second >= kInterval; });
    if (last_logged_.size() >= kMaxSources) {
      unlogged_for_space_ += 1;
      return false;
    }
  }
  last_logged_.emplace(source, now);
  return true;
}

}  // namespace e3x::daemon
