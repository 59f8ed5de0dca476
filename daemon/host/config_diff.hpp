// What a reload changes: which peers are added, removed, changed or left alone, and which
// settings only take effect after a restart. Pure, so it is tested without a daemon.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace e3x::daemon {

struct ConfigDiff {
  std::vector<std::string> added;  // peer names
  std::vector<std::string> removed;
  std::vector<std::string> rekeyed;  // same name, another key or hashname: a new peer
  // Same identity, other endpoints, keepalive, routers (`via`) or mailboxes (`mailbox`): the
  // exchange is kept, only its settings are updated.
  std::vector<std::string> changed;
  std::vector<std::string> unchanged;
  std::vector<std::string> restart_required;  // config keys, e.g. "udp.listen"
  // Every setting a reload applies live that differs, as "key: old -> new" (for example
  // "log_level: info -> debug", "udp.keepalive: 25 -> 10", "router.enable: false -> true";
  // "services: changed", "router.allow: changed", "mailbox.allow: changed"), so the
  // reload reports all it did, not only the peers.
  std::vector<std::string> applied;
  bool log_level_changed = false;
  bool accept_changed = false;
};

ConfigDiff diff_config(const config::Config& running, const config::Config& next);

}  // namespace e3x::daemon
