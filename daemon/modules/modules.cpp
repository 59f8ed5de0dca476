#include "daemon/modules/modules.hpp"

#include "daemon/modules/mailbox/mailbox_module.hpp"
#include "daemon/modules/messages/messages_module.hpp"
#include "daemon/modules/metrics/metrics_module.hpp"
#include "daemon/modules/path/path_module.hpp"
#include "daemon/modules/services/services_module.hpp"
#include "daemon/modules/speedtest/speedtest_module.hpp"

namespace e3x::daemon {

std::vector<std::unique_ptr<Module>> make_modules(Host& host) {
  std::vector<std::unique_ptr<Module>> modules;
  modules.push_back(std::make_unique<PathModule>(host));       // "path" channel, ping
  modules.push_back(std::make_unique<MessagesModule>(host));   // outbox, inbox, receipts
  modules.push_back(std::make_unique<MailboxModule>(host));    // [mailbox]: "deposit", "mail"
  modules.push_back(std::make_unique<SpeedtestModule>(host));  // "speedtest" channel
  modules.push_back(std::make_unique<ServicesModule>(host));   // "stream" channel, forwards
  modules.push_back(std::make_unique<MetricsModule>(host));    // metrics, [metrics] listen
  return modules;
}

}  // namespace e3x::daemon
