// The TOML configuration loader (config::parse_config, config/config.hpp): toml++ and then
// the exact schema on text an operator (or an attacker with write access to a drop-in) wrote.
//
// Invariants on success: the documented rules hold for what came out (docs/config.md), paths
// resolved against an absolute base are absolute, and parsing is deterministic. On failure:
// the error names this file, is not "unreadable", and formats to a message.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

bool valid_peer_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

void check_config(const e3x::config::Config& config) {
  using namespace e3x;
  E3X_FUZZ_CHECK(config.source == "fuzz.toml");
  E3X_FUZZ_CHECK(config.identity.is_absolute() && config.state_dir.is_absolute());
  E3X_FUZZ_CHECK(config.control_socket.is_absolute());
  E3X_FUZZ_CHECK(config.control_socket.native().size() <= 107);
  for (const auto* transport : {&config.udp, &config.tcp}) {
    E3X_FUZZ_CHECK(transport->keepalive_s <= 86400);
  }
  E3X_FUZZ_CHECK(config.messages.max_payload >= 1 &&
                 config.messages.max_payload <= config::kMaxMessagePayloadLimit);
  E3X_FUZZ_CHECK(config.messages.expiry_s >= 60 && config.messages.expiry_s <= 31622400);
  E3X_FUZZ_CHECK(config.messages.store_quota >= 65536);

  std::set<std::string> names;
  std::set<Hashname> hashnames;
  for (const auto& peer : config.peers) {
    E3X_FUZZ_CHECK(valid_peer_name(peer.name));
    E3X_FUZZ_CHECK(names.insert(peer.name).second);
    E3X_FUZZ_CHECK(hashnames.insert(peer.hashname).second);
    if (peer.key) E3X_FUZZ_CHECK(hashname_of(*peer.key) == peer.hashname);
    E3X_FUZZ_CHECK(peer.line >= 1);
    if (peer.keepalive_s) E3X_FUZZ_CHECK(*peer.keepalive_s <= 86400);
    for (const auto& endpoint : peer.endpoints) {
      E3X_FUZZ_CHECK(endpoint.port >= 1 && !endpoint.host.empty() && !endpoint.text.empty());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace e3x;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = config::parse_config(text, "fuzz.toml", "/etc/e3xd");
  if (!parsed) {
    const config::ConfigError& error = parsed.error();
    E3X_FUZZ_CHECK(error.kind != config::ConfigError::Kind::kUnreadable);
    E3X_FUZZ_CHECK(error.file == "fuzz.toml" && error.line >= 0);
    E3X_FUZZ_CHECK(!error.message.empty() && !error.to_string().empty());
    return 0;
  }
  check_config(*parsed);

  const auto again = config::parse_config(text, "fuzz.toml", "/etc/e3xd");
  E3X_FUZZ_CHECK(again.has_value());
  E3X_FUZZ_CHECK(again->identity == parsed->identity && again->state_dir == parsed->state_dir);
  E3X_FUZZ_CHECK(again->udp == parsed->udp && again->tcp == parsed->tcp);
  E3X_FUZZ_CHECK(again->messages == parsed->messages && again->peers == parsed->peers);
  return 0;
}
