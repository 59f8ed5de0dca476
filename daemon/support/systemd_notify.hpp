// sd_notify(3) messages for Type=notify: READY, RELOADING, STOPPING, WATCHDOG, STATUS. All
// are no-ops when not started by systemd (NOTIFY_SOCKET unset).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace e3x::daemon {

void notify_ready(const std::string& status);
void notify_reloading();
void notify_stopping();
void notify_watchdog();
void notify_status(const std::string& status);
// The watchdog interval systemd expects pings within (WatchdogSec=), if enabled.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace e3x::daemon
