#include "daemon/support/systemd_notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>

namespace e3x::daemon {

namespace {

void notify(const std::string& message) {
  sd_notify(0, message.c_str());
}

std::uint64_t monotonic_usec() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

}  // namespace

void notify_ready(const std::string& status) {
  notify("READY=1\nSTATUS=" + status);
}

// Type=notify-reload (systemd 253+) wants MONOTONIC_USEC with RELOADING; older ones ignore it.
void notify_reloading() {
  notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
}

void notify_stopping() {
  notify("STOPPING=1");
}
void notify_watchdog() {
  notify("WATCHDOG=1");
}
void notify_status(const std::string& status) {
  notify("STATUS=" + status);
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace e3x::daemon
