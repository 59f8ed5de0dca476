// What the daemon keeps about each configured peer beside the core's own state: where to
// reach it, when to try again, and why it is down.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/events.hpp"
#include "core/time.hpp"
#include "daemon/control/control_server.hpp"

namespace e3x::daemon {

struct PeerRuntime {
  config::PeerConfig config;
  std::vector<PathId> endpoint_paths;  // the configured endpoints, resolved
  bool resolve_needed = true;          // host names are resolved again after a failure
  std::size_t resolves_in_flight = 0;
  // Why a configured endpoint (by its text) did not resolve; kept while a new attempt runs,
  // until it resolves, so `e3xctl peer` always shows it.
  std::map<std::string, std::string> resolve_errors;
  std::optional<Instant> next_attempt;  // when to connect again; unset while an attempt runs
  Duration backoff{};
  std::string down_reason = "never connected";
  std::optional<Duration> probe_rtt;  // from the last "path" channel round trip
  // When the current direct attempt began (a peer with `via` turns to its routers when it
  // goes unanswered), and when we last handshook through a router.
  std::optional<Instant> attempt_started;
  std::optional<Instant> via_attempt;
};

// A "path" channel we opened to learn how a peer sees us (and `e3xctl ping`).
struct PathProbe {
  Instant opened_at{};
  std::vector<control::ControlServer::Respond> waiters;
};

}  // namespace e3x::daemon
