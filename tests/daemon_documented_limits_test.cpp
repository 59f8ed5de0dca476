// The limits the documentation states are the ones in the code (issue 15: the control line
// limit was 64 KiB in one document and 128 KiB in another). Each check builds the sentence
// from the constant and looks for it in the page, so changing either side alone fails here.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon/control/control_protocol.hpp"
#include "daemon/control/control_server.hpp"
#include "daemon/modules/metrics/http_server.hpp"

namespace e3x::daemon {
namespace {

// A page of docs/ (beside tests/, which is E3X_SHARED_DIR) with each run of white space made
// one space, so a reflowed paragraph still reads the same.
std::string page(const std::string& name) {
  std::ifstream file(std::string(E3X_SHARED_DIR) + "/../docs/" + name);
  std::ostringstream raw;
  raw << file.rdbuf();
  EXPECT_FALSE(raw.str().empty()) << name << " could not be read";
  std::string text;
  for (const char c : raw.str()) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space) {
      text += c;
    } else if (!text.empty() && text.back() != ' ') {
      text += ' ';
    }
  }
  return text;
}

std::string kib(std::size_t bytes) {
  return std::to_string(bytes / 1024) + " KiB";
}

std::string mib(std::size_t bytes) {
  return std::to_string(bytes / (1024 * 1024)) + " MiB";
}

std::string seconds(std::chrono::milliseconds duration) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(duration).count());
}

#define EXPECT_STATES(text, sentence) \
  EXPECT_NE((text).find(sentence), std::string::npos) << "the page should say: " << (sentence)

TEST(DocumentedLimits, ControlSocket) {
  const std::string protocol = page("control-protocol.md");
  EXPECT_STATES(protocol, "at most **" + std::to_string(control::kMaxLineBytes) + " bytes**");
  EXPECT_STATES(protocol, "| request line | " + kib(control::kMaxLineBytes) + " |");
  EXPECT_STATES(protocol, "| `line_too_long` | the line is over " + kib(control::kMaxLineBytes));
  EXPECT_STATES(protocol, "| connections | " + std::to_string(control::kMaxSessions) + " |");
  EXPECT_STATES(protocol, "| unsent output per connection | " + mib(control::kMaxQueuedBytes));

  const std::string decisions = page("daemon-decisions.md");
  EXPECT_STATES(decisions, "| control connections | " + std::to_string(control::kMaxSessions));
  EXPECT_STATES(decisions, "| control request line | " + kib(control::kMaxLineBytes));
  EXPECT_STATES(decisions,
                "| output queued per control connection | " + mib(control::kMaxQueuedBytes));
}

TEST(DocumentedLimits, MetricsServer) {
  const MetricsHttpServer::Limits limits;
  const std::string connections = std::to_string(limits.max_connections);
  const std::string request = kib(limits.max_request_bytes);
  const std::string decisions = page("daemon-decisions.md");
  EXPECT_STATES(decisions, "| metrics HTTP connections | " + connections +
                               " (one more is closed at once); requests " + request + ", " +
                               seconds(limits.request_timeout) + " s to send one, " +
                               seconds(limits.response_timeout) + " s to take the answer |");
  const std::string config = page("config.md");
  EXPECT_STATES(config, "at most " + connections + " connections at once");
  EXPECT_STATES(config, "requests of at most " + request + ", " + seconds(limits.request_timeout) +
                            " s to send a");
  EXPECT_STATES(config, "and " + seconds(limits.response_timeout) + " s to read the answer");
  const std::string man = page("man/e3xd.toml.5");
  EXPECT_STATES(man, "at most " + connections + " connections at once");
  EXPECT_STATES(man, "requests of at most " + request + ", " + seconds(limits.request_timeout) +
                         " seconds to send a request");
}

}  // namespace
}  // namespace e3x::daemon
