// spdlog setup for e3xd: one logger on stderr. Under systemd (JOURNAL_STREAM set) lines carry
// no timestamp of their own, because journald adds one, and start with an sd-daemon
// priority prefix ("<6>") so journald files them under the right level.
#pragma once

#include "config/config.hpp"

namespace e3x::daemon {

void setup_logging(config::LogLevel level);
void set_log_level(config::LogLevel level);

}  // namespace e3x::daemon
