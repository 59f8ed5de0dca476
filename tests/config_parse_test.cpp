// The TOML configuration: every key lands in its struct field, defaults apply, relative paths
// resolve, and every documented error names the right file, line and key.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/base32.hpp"
#include "gtest/gtest.h"

namespace e3x::config {
namespace {

namespace fs = std::filesystem;

// A valid cs3a public key, derived from a seed, in its base32 form.
PublicKey test_key(std::uint64_t seed) {
  SeededRandom random(seed);
  return generate_keypair(random).public_key;
}
std::string key_text(std::uint64_t seed) {
  return base32_encode(test_key(seed));
}

testing::AssertionResult contains(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

Config parse_ok(const std::string& text, const fs::path& base_dir = "/etc/e3xd") {
  Result<Config, ConfigError> result = parse_config(text, "e3xd.toml", base_dir);
  if (!result) {
    ADD_FAILURE() << result.error().to_string();
    return {};
  }
  return std::move(result).value();
}

ConfigError parse_bad(const std::string& text) {
  Result<Config, ConfigError> result = parse_config(text, "e3xd.toml", "/etc/e3xd");
  if (result) {
    ADD_FAILURE() << "parsed, but should have failed:\n" << text;
    return {};
  }
  return result.error();
}

// A temporary directory removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "e3x-config-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
}

TEST(ConfigParse, FullConfigRoundTrips) {
  const std::string text = R"(identity = "/var/lib/e3xd/keys/identity.json"
state_dir = "/var/lib/e3xd"
control_socket = "/run/e3xd/ctl.sock"
log_level = "debug"
accept = "any"

[udp]
listen = ["0.0.0.0:42424", "[::]:42425"]
cloak = false
keepalive = 30

[tcp]
listen = ["127.0.0.1:4000"]
cloak = true
keepalive = 0

[[peer]]
name = "alpha"
key = ")" + key_text(1) + R"("
endpoints = ["udp://192.0.2.7:42424", "tcp://[2001:db8::7]:42424", "udp://host.example:9"]
keepalive = 10

[[peer]]
name = "beta_2-x"
hashname = ")" + hashname_of(test_key(2)).to_string() +
                           R"("
)";
  const Config config = parse_ok(text);
  EXPECT_EQ(config.source, "e3xd.toml");
  EXPECT_EQ(config.identity, "/var/lib/e3xd/keys/identity.json");
  EXPECT_EQ(config.state_dir, "/var/lib/e3xd");
  EXPECT_EQ(config.control_socket, "/run/e3xd/ctl.sock");
  EXPECT_EQ(config.log_level, LogLevel::kDebug);
  EXPECT_EQ(config.accept, Accept::kAny);

  EXPECT_EQ(config.udp, (TransportConfig{{{"0.0.0.0", 42424}, {"::", 42425}}, false, 30}));
  EXPECT_EQ(config.tcp, (TransportConfig{{{"127.0.0.1", 4000}}, true, 0}));

  ASSERT_EQ(config.peers.size(), 2u);
  const PeerConfig& alpha = config.peers[0];
  EXPECT_EQ(alpha.name, "alpha");
  ASSERT_TRUE(alpha.key.has_value());
  EXPECT_EQ(*alpha.key, test_key(1));
  EXPECT_EQ(alpha.hashname, hashname_of(test_key(1)));
  EXPECT_EQ(alpha.line, 17);
  EXPECT_EQ(alpha.keepalive_s, 10u);
  const std::vector<PeerEndpoint> endpoints = {
      {TransportKind::kUdp, "192.0.2.7", 42424, "udp://192.0.2.7:42424"},
      {TransportKind::kTcp, "2001:db8::7", 42424, "tcp://[2001:db8::7]:42424"},
      {TransportKind::kUdp, "host.example", 9, "udp://host.example:9"},
  };
  EXPECT_EQ(alpha.endpoints, endpoints);

  const PeerConfig& beta = config.peers[1];
  EXPECT_EQ(beta.name, "beta_2-x");
  EXPECT_FALSE(beta.key.has_value());
  EXPECT_EQ(beta.hashname, hashname_of(test_key(2)));
  EXPECT_TRUE(beta.endpoints.empty());
  EXPECT_FALSE(beta.keepalive_s.has_value());
  EXPECT_EQ(beta.line, 23);
}

TEST(ConfigParse, DefaultsApplied) {
  const Config config = parse_ok("");
  EXPECT_EQ(config.state_dir, "/var/lib/e3xd");
  EXPECT_EQ(config.identity, "/var/lib/e3xd/identity.json");
  EXPECT_EQ(config.control_socket, "/run/e3xd/control.sock");
  EXPECT_EQ(config.log_level, LogLevel::kInfo);
  EXPECT_EQ(config.accept, Accept::kPeers);
  EXPECT_EQ(config.udp, (TransportConfig{{{"0.0.0.0", 42424}}, true, 25}));
  EXPECT_EQ(config.tcp, (TransportConfig{{}, true, 300}));
  EXPECT_TRUE(config.peers.empty());
}

TEST(ConfigParse, MessagesDefaultsAndValues) {
  const Config defaults = parse_ok("");
  EXPECT_EQ(defaults.messages.max_payload, 61440u);
  EXPECT_EQ(defaults.messages.expiry_s, 604800u);
  EXPECT_EQ(defaults.messages.store_quota, 268435456u);
  EXPECT_EQ(defaults.messages.max_expiry_s, 2592000u);
  EXPECT_EQ(defaults.messages.peer_quota, 67108864u);
  const Config limits = parse_ok(
      "[messages]\nmax_expiry = 7200\npeer_quota = 100000\n[tcp]\nunauthenticated_limit = 4\n");
  EXPECT_EQ(limits.messages.max_expiry_s, 7200u);
  EXPECT_EQ(limits.messages.peer_quota, 100000u);
  EXPECT_EQ(limits.tcp.unauthenticated_limit, 4u);
  const Config set =
      parse_ok("[messages]\nmax_payload = 65000\nexpiry = 60\nstore_quota = 65536\n");
  EXPECT_EQ(set.messages, (MessagesConfig{65000, 60, 65536}));
  const Config partial = parse_ok("[messages]\nexpiry = 3600\n");
  EXPECT_EQ(partial.messages, (MessagesConfig{61440, 3600, 268435456}));
  // deposit_after (PROTOCOL.md 14): 30 s unless given; 0 deposits at once.
  EXPECT_EQ(defaults.messages.deposit_after_s, 30u);
  EXPECT_EQ(parse_ok("[messages]\ndeposit_after = 0\n").messages.deposit_after_s, 0u);
  EXPECT_EQ(parse_ok("[messages]\ndeposit_after = 86400\n").messages.deposit_after_s, 86400u);
}

TEST(ConfigParse, StreamsCongestionControl) {
  EXPECT_EQ(parse_ok("").streams.congestion, CongestionAlgorithm::kBbr);
  EXPECT_EQ(parse_ok("[streams]\n").streams.congestion, CongestionAlgorithm::kBbr);
  EXPECT_EQ(parse_ok("[streams]\ncongestion = \"newreno\"\n").streams.congestion,
            CongestionAlgorithm::kNewReno);
  EXPECT_EQ(parse_ok("[streams]\ncongestion = \"cubic\"\n").streams.congestion,
            CongestionAlgorithm::kCubic);
  EXPECT_EQ(parse_ok("[streams]\ncongestion = \"bbr\"\n").streams.congestion,
            CongestionAlgorithm::kBbr);
}

// [udp] socket buffers: 4 MiB unless set, as bytes or with a unit; 0 keeps the OS default.
TEST(ConfigParse, UdpSocketBuffers) {
  const Config defaults = parse_ok("");
  EXPECT_EQ(defaults.udp.receive_buffer, 4u * 1024 * 1024);
  EXPECT_EQ(defaults.udp.send_buffer, 4u * 1024 * 1024);
  const Config set = parse_ok("[udp]\nreceive_buffer = \"16 MiB\"\nsend_buffer = 65536\n");
  EXPECT_EQ(set.udp.receive_buffer, 16u * 1024 * 1024);
  EXPECT_EQ(set.udp.send_buffer, 65536u);
  const Config system = parse_ok("[udp]\nreceive_buffer = 0\nsend_buffer = \"0 B\"\n");
  EXPECT_EQ(system.udp.receive_buffer, 0u);
  EXPECT_EQ(system.udp.send_buffer, 0u);
  EXPECT_TRUE(defaults.udp.gso);
  EXPECT_FALSE(parse_ok("[udp]\ngso = false\n").udp.gso);
}

// [[service]] and [[forward]] land in their structs (PROTOCOL.md 11).
TEST(ConfigParse, ServicesAndForwards) {
  const Config config = parse_ok(
      "[[service]]\nname = \"ssh\"\ntarget = \"tcp://127.0.0.1:22\"\n"
      "allow = [\"beta\", \"" +
      std::string(52, 'a') +
      "\"]\n"
      "[[service]]\nname = \"app.v2\"\ntarget = \"unix:/run/app.sock\"\nallow = [\"beta\"]\n"
      "[[forward]]\nlisten = \"127.0.0.1:2222\"\npeer = \"beta\"\nservice = \"ssh\"\n"
      "[[forward]]\nlisten = \"unix:/run/e3xd/beta-ssh.sock\"\npeer = \"beta\"\n"
      "service = \"ssh\"\n[[peer]]\nname = \"beta\"\nkey = \"" +
      key_text(1) + "\"\n");
  ASSERT_EQ(config.services.size(), 2u);
  EXPECT_EQ(config.services[0].name, "ssh");
  EXPECT_EQ(config.services[0].target.kind, LocalAddress::Kind::kTcp);
  EXPECT_EQ(config.services[0].target.host, "127.0.0.1");
  EXPECT_EQ(config.services[0].target.port, 22);
  EXPECT_EQ(config.services[0].allow, (std::vector<std::string>{"beta", std::string(52, 'a')}));
  EXPECT_EQ(config.services[1].target.kind, LocalAddress::Kind::kUnix);
  EXPECT_EQ(config.services[1].target.path, "/run/app.sock");
  ASSERT_EQ(config.forwards.size(), 2u);
  EXPECT_EQ(config.forwards[0].listen.port, 2222);
  EXPECT_EQ(config.forwards[0].peer, "beta");
  EXPECT_EQ(config.forwards[1].listen.kind, LocalAddress::Kind::kUnix);
  EXPECT_EQ(config.forwards[1].listen.text, "unix:/run/e3xd/beta-ssh.sock");
}

TEST(ConfigParse, MetricsAreOffUnlessAListenAddressIsGiven) {
  EXPECT_FALSE(parse_ok("").metrics.listen);
  EXPECT_FALSE(parse_ok("[metrics]\n").metrics.listen);
  EXPECT_EQ(parse_ok("[metrics]\nlisten = \"127.0.0.1:9425\"\n").metrics.listen,
            (ListenAddress{"127.0.0.1", 9425}));
  EXPECT_EQ(parse_ok("[metrics]\nlisten = \"[::1]:0\"\n").metrics.listen,
            (ListenAddress{"::1", 0}));
}

// [router] (PROTOCOL.md 12): off unless configured, with the documented defaults.
TEST(ConfigParse, RouterIsOffUnlessConfigured) {
  const RouterConfig defaults = parse_ok("").router;
  EXPECT_EQ(defaults, RouterConfig{});
  EXPECT_FALSE(defaults.enable);
  EXPECT_FALSE(defaults.allow_all_peers);
  EXPECT_TRUE(defaults.allow.empty());
  EXPECT_TRUE(defaults.relay);
  EXPECT_EQ(defaults.relay_rate, 2'000'000u);
  EXPECT_EQ(defaults.relay_idle_s, 120u);
  EXPECT_EQ(parse_ok("[router]\n").router, RouterConfig{});
  // Off, an allow list is not required.
  EXPECT_EQ(parse_ok("[router]\nenable = false\n").router, RouterConfig{});
}

TEST(ConfigParse, RouterSettings) {
  const std::string peers = "[[peer]]\nname = \"alice\"\nkey = \"" + key_text(1) +
                            "\"\n[[peer]]\nname = \"bob\"\nkey = \"" + key_text(2) + "\"\n";
  // A hashname that is not configured is allowed, as in a service's allow (accept = "any").
  const std::string stranger(52, 'a');
  const Config config =
      parse_ok("[router]\nenable = true\nallow = [\"alice\", \"bob\", \"" + stranger +
               "\"]\nrelay = false\nrelay_rate = \"512 KiB/s\"\n"
               "relay_idle = 30\n" +
               peers);
  EXPECT_TRUE(config.router.enable);
  EXPECT_FALSE(config.router.allow_all_peers);
  EXPECT_EQ(config.router.allow, (std::vector<std::string>{"alice", "bob", stranger}));
  EXPECT_FALSE(config.router.relay);
  EXPECT_EQ(config.router.relay_rate, 512u * 1024);
  EXPECT_EQ(config.router.relay_idle_s, 30u);

  // "peers": every configured peer, as the whole value or as an entry of the list.
  const RouterConfig all = parse_ok("[router]\nenable = true\nallow = \"peers\"\n").router;
  EXPECT_TRUE(all.allow_all_peers);
  EXPECT_TRUE(all.allow.empty());
  const RouterConfig mixed =
      parse_ok("[router]\nenable = true\nallow = [\"peers\", \"" + stranger + "\"]\n").router;
  EXPECT_TRUE(mixed.allow_all_peers);
  EXPECT_EQ(mixed.allow, std::vector<std::string>{stranger});

  // Rates as a byte size per second; idle at its bounds.
  EXPECT_EQ(parse_ok("[router]\nrelay_rate = \"1000 B/s\"\n").router.relay_rate, 1000u);
  EXPECT_EQ(parse_ok("[router]\nrelay_rate = \"2 MB/s\"\n").router.relay_rate, 2'000'000u);
  EXPECT_EQ(parse_ok("[router]\nrelay_rate = \"1 GiB/s\"\n").router.relay_rate,
            1024u * 1024 * 1024);
  EXPECT_EQ(parse_ok("[router]\nrelay_idle = 1\n").router.relay_idle_s, 1u);
  EXPECT_EQ(parse_ok("[router]\nrelay_idle = 86400\n").router.relay_idle_s, 86400u);
}

// A peer's `via`: configured peers that route for it, in the order given; any order of the
// [[peer]] tables.
TEST(ConfigParse, PeerVia) {
  const Config config = parse_ok("[[peer]]\nname = \"alice\"\nkey = \"" + key_text(1) +
                                 "\"\nvia = [\"hub2\", \"hub\"]\n[[peer]]\nname = \"hub\"\n"
                                 "key = \"" +
                                 key_text(2) + "\"\n[[peer]]\nname = \"hub2\"\nkey = \"" +
                                 key_text(3) + "\"\nvia = []\n");
  ASSERT_EQ(config.peers.size(), 3u);
  EXPECT_EQ(config.peers[0].via, (std::vector<std::string>{"hub2", "hub"}));
  EXPECT_TRUE(config.peers[1].via.empty());
  EXPECT_TRUE(config.peers[2].via.empty());
}

// [mailbox] (PROTOCOL.md 14): off unless configured, with the documented defaults.
TEST(ConfigParse, MailboxIsOffUnlessConfigured) {
  const MailboxConfig defaults = parse_ok("").mailbox;
  EXPECT_EQ(defaults, MailboxConfig{});
  EXPECT_FALSE(defaults.enable);
  EXPECT_FALSE(defaults.allow_all_peers);
  EXPECT_TRUE(defaults.allow.empty());
  EXPECT_EQ(defaults.quota_per_recipient, 64u * 1024 * 1024);
  EXPECT_EQ(defaults.quota_per_sender, 16u * 1024 * 1024);
  EXPECT_EQ(defaults.max_age_s, 604800u);
  EXPECT_EQ(parse_ok("[mailbox]\n").mailbox, MailboxConfig{});
  // Off, an allow list is not required.
  EXPECT_EQ(parse_ok("[mailbox]\nenable = false\n").mailbox, MailboxConfig{});
}

TEST(ConfigParse, MailboxSettings) {
  const std::string peers = "[[peer]]\nname = \"alice\"\nkey = \"" + key_text(1) +
                            "\"\n[[peer]]\nname = \"bob\"\nkey = \"" + key_text(2) + "\"\n";
  const std::string stranger(52, 'a');
  const Config config = parse_ok(
      "[mailbox]\nenable = true\nallow = [\"alice\", \"bob\", \"" + stranger +
      "\"]\nquota_per_recipient = \"32 MiB\"\nquota_per_sender = 100000\nmax_age = 86400\n" +
      peers);
  EXPECT_TRUE(config.mailbox.enable);
  EXPECT_FALSE(config.mailbox.allow_all_peers);
  EXPECT_EQ(config.mailbox.allow, (std::vector<std::string>{"alice", "bob", stranger}));
  EXPECT_EQ(config.mailbox.quota_per_recipient, 32u * 1024 * 1024);
  EXPECT_EQ(config.mailbox.quota_per_sender, 100000u);
  EXPECT_EQ(config.mailbox.max_age_s, 86400u);
  // The router is untouched by it.
  EXPECT_EQ(config.router, RouterConfig{});

  const MailboxConfig all = parse_ok("[mailbox]\nenable = true\nallow = \"peers\"\n").mailbox;
  EXPECT_TRUE(all.allow_all_peers);
  EXPECT_TRUE(all.allow.empty());
  const MailboxConfig mixed =
      parse_ok("[mailbox]\nenable = true\nallow = [\"peers\", \"" + stranger + "\"]\n").mailbox;
  EXPECT_TRUE(mixed.allow_all_peers);
  EXPECT_EQ(mixed.allow, std::vector<std::string>{stranger});

  // Quotas and the age at their bounds.
  EXPECT_EQ(parse_ok("[mailbox]\nquota_per_recipient = \"64 KiB\"\n").mailbox.quota_per_recipient,
            65536u);
  EXPECT_EQ(parse_ok("[mailbox]\nquota_per_sender = 65536\n").mailbox.quota_per_sender, 65536u);
  EXPECT_EQ(parse_ok("[mailbox]\nquota_per_sender = \"1024 GiB\"\n").mailbox.quota_per_sender,
            std::uint64_t{1} << 40);
  EXPECT_EQ(parse_ok("[mailbox]\nmax_age = 60\n").mailbox.max_age_s, 60u);
  EXPECT_EQ(parse_ok("[mailbox]\nmax_age = 2592000\n").mailbox.max_age_s, 2592000u);
}

// A peer's `mailbox`: configured peers that may hold our messages for it, in the order given.
TEST(ConfigParse, PeerMailbox) {
  const Config config = parse_ok("[[peer]]\nname = \"bob\"\nkey = \"" + key_text(1) +
                                 "\"\nmailbox = [\"hub2\", \"hub\"]\nvia = [\"hub\"]\n"
                                 "[[peer]]\nname = \"hub\"\nkey = \"" +
                                 key_text(2) + "\"\n[[peer]]\nname = \"hub2\"\nkey = \"" +
                                 key_text(3) + "\"\nmailbox = []\n");
  ASSERT_EQ(config.peers.size(), 3u);
  EXPECT_EQ(config.peers[0].mailbox, (std::vector<std::string>{"hub2", "hub"}));
  EXPECT_EQ(config.peers[0].via, std::vector<std::string>{"hub"});
  EXPECT_TRUE(config.peers[1].mailbox.empty());
  EXPECT_TRUE(config.peers[2].mailbox.empty());
}

TEST(ConfigParse, PartialTablesKeepOtherDefaults) {
  const Config config = parse_ok("[udp]\ncloak = false\n[tcp]\nkeepalive = 60\n");
  EXPECT_EQ(config.udp, (TransportConfig{{{"0.0.0.0", 42424}}, false, 25}));
  EXPECT_EQ(config.tcp, (TransportConfig{{}, true, 60}));
}

TEST(ConfigParse, IdentityDefaultsToStateDir) {
  EXPECT_EQ(parse_ok("state_dir = \"/srv/e3x\"\n").identity, "/srv/e3x/identity.json");
  EXPECT_EQ(parse_ok("state_dir = \"state\"\n").identity, "/etc/e3xd/state/identity.json");
}

TEST(ConfigParse, RelativePathsResolveAgainstBaseDir) {
  const std::string text =
      "state_dir = \"state\"\nidentity = \"../keys/id.json\"\ncontrol_socket = \"./run/c.sock\"\n";
  const Config config = parse_ok(text, "/etc/e3xd");
  EXPECT_EQ(config.state_dir, "/etc/e3xd/state");
  EXPECT_EQ(config.identity, "/etc/keys/id.json");
  EXPECT_EQ(config.control_socket, "/etc/e3xd/run/c.sock");

  // With no base directory they stay relative (to the working directory).
  const Config relative = parse_ok(text, "");
  EXPECT_EQ(relative.state_dir, "state");
  EXPECT_EQ(relative.identity, "../keys/id.json");
  EXPECT_EQ(relative.control_socket, "./run/c.sock");
}

TEST(ConfigParse, EmptyListenDisablesAndPortZeroMayRepeat) {
  const Config config = parse_ok(
      "[udp]\nlisten = []\n[tcp]\nlisten = [\"127.0.0.1:0\", "
      "\"127.0.0.1:0\"]\n");
  EXPECT_TRUE(config.udp.listen.empty());
  EXPECT_EQ(config.tcp.listen.size(), 2u);
}

TEST(ConfigParse, KeepaliveBoundsAccepted) {
  const Config config = parse_ok("[udp]\nkeepalive = 0\n[tcp]\nkeepalive = 86400\n");
  EXPECT_EQ(config.udp.keepalive_s, 0u);
  EXPECT_EQ(config.tcp.keepalive_s, 86400u);
}

TEST(ConfigParse, DefaultConfigHasDocumentedValues) {
  const Config config = default_config();
  EXPECT_EQ(config.source, "<default>");
  EXPECT_EQ(config.state_dir, "e3xd-state");
  EXPECT_EQ(config.identity, "e3xd-state/identity.json");
  EXPECT_EQ(config.control_socket, "e3xd-state/control.sock");
  EXPECT_EQ(config.log_level, LogLevel::kInfo);
  EXPECT_EQ(config.accept, Accept::kPeers);
  EXPECT_EQ(config.udp, (TransportConfig{{{"127.0.0.1", 42424}}, true, 25}));
  EXPECT_EQ(config.tcp, (TransportConfig{{}, true, 300}));
  EXPECT_TRUE(config.peers.empty());
  EXPECT_TRUE(contains(std::string(default_config_text()), "127.0.0.1:42424"));
}

TEST(ConfigLoad, ResolvesAgainstTheFilesDirectory) {
  TempDir dir;
  const fs::path file = dir.path() / "e3xd.toml";
  write_text(file, "state_dir = \"state\"\n");
  Result<Config, ConfigError> config = load_config(file);
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->source, file.string());
  EXPECT_EQ(config->state_dir, dir.path() / "state");
  EXPECT_EQ(config->identity, dir.path() / "state" / "identity.json");
}

TEST(ConfigLoad, ErrorsNameTheFile) {
  TempDir dir;
  const fs::path file = dir.path() / "e3xd.toml";
  write_text(file, "log_level = \"info\"\n\nlog_level = \"warn\"\n");
  Result<Config, ConfigError> config = load_config(file);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().kind, ConfigError::Kind::kSyntax);
  EXPECT_EQ(config.error().file, file.string());
  EXPECT_EQ(config.error().line, 3);
}

TEST(ConfigLoad, MissingFileIsUnreadable) {
  TempDir dir;
  const fs::path file = dir.path() / "absent.toml";
  Result<Config, ConfigError> config = load_config(file);
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().kind, ConfigError::Kind::kUnreadable);
  EXPECT_EQ(config.error().line, 0);
  EXPECT_EQ(config.error().to_string(),
            file.string() + ": cannot read the configuration file: No such file or directory");
}

TEST(ConfigLoad, DirectoryIsUnreadable) {
  TempDir dir;
  Result<Config, ConfigError> config = load_config(dir.path());
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().kind, ConfigError::Kind::kUnreadable);
  EXPECT_TRUE(contains(config.error().message, "is a directory"));
}

TEST(ConfigError, ToStringLeavesOutAbsentParts) {
  ConfigError error{ConfigError::Kind::kSchema, "f.toml", 3, "udp.cloak", "bad"};
  EXPECT_EQ(error.to_string(), "f.toml:3: udp.cloak: bad");
  error.key.clear();
  EXPECT_EQ(error.to_string(), "f.toml:3: bad");
  error.line = 0;
  EXPECT_EQ(error.to_string(), "f.toml: bad");
}

TEST(ConfigParse, SyntaxErrorHasItsLine) {
  const ConfigError error =
      parse_bad("log_level = \"info\"\n[udp]\nlisten = [\"0.0.0.0:1\"\ncloak = true\n");
  EXPECT_EQ(error.kind, ConfigError::Kind::kSyntax);
  EXPECT_EQ(error.file, "e3xd.toml");
  EXPECT_EQ(error.line, 4);
  EXPECT_EQ(error.key, "");
  EXPECT_TRUE(contains(error.message, "not valid TOML"));
  EXPECT_TRUE(contains(error.message, "expected comma or closing ']'"));
}

TEST(ConfigParse, SyntaxErrorMessageStaysOnOneLine) {
  const ConfigError error = parse_bad("[udp]\ncloak = tru\n");
  EXPECT_EQ(error.kind, ConfigError::Kind::kSyntax);
  EXPECT_EQ(error.line, 2);
  EXPECT_EQ(error.to_string().find('\n'), std::string::npos);
}

// One schema error: the TOML, where it should be reported, and words the message must hold.
struct ErrorCase {
  const char* name;
  std::string toml;
  int line;
  std::string key;
  std::vector<std::string> words;
};

void PrintTo(const ErrorCase& c, std::ostream* out) {
  *out << c.name;
}

class ConfigSchemaError : public testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigSchemaError, NamesFileLineAndKey) {
  const ErrorCase& c = GetParam();
  const ConfigError error = parse_bad(c.toml);
  EXPECT_EQ(error.kind, ConfigError::Kind::kSchema);
  EXPECT_EQ(error.file, "e3xd.toml");
  EXPECT_EQ(error.line, c.line);
  EXPECT_EQ(error.key, c.key);
  for (const std::string& word : c.words) EXPECT_TRUE(contains(error.message, word));
}

std::string peer(const std::string& body) {
  return "[[peer]]\n" + body;
}

const std::string kKey1 = key_text(1);
const std::string kKey2 = key_text(2);

INSTANTIATE_TEST_SUITE_P(
    All, ConfigSchemaError,
    testing::Values(
        ErrorCase{"UnknownTopLevel",
                  "log_level = \"info\"\nlog_levle = \"debug\"\n",
                  2,
                  "log_levle",
                  {"unknown key 'log_levle'", "did you mean 'log_level'?",
                   "allowed top-level keys: identity, state_dir, control_socket, log_level, "
                   "accept, [udp], [tcp], [messages], [streams], [metrics], [router], [mailbox], "
                   "[[peer]], "
                   "[[service]], [[forward]]"}},
        // [[service]] and [[forward]] (PROTOCOL.md 11, issue 11).
        ErrorCase{"ServiceWithoutAllow",
                  "[[service]]\nname = \"ssh\"\ntarget = \"tcp://127.0.0.1:22\"\n",
                  1,
                  "service[0]",
                  {"missing required key 'allow'"}},
        ErrorCase{"ServiceEmptyAllow",
                  "[[service]]\nname = \"ssh\"\ntarget = \"tcp://127.0.0.1:22\"\nallow = []\n",
                  4,
                  "service[0].allow",
                  {"there is no default allow"}},
        ErrorCase{"ServiceBadName",
                  "[[service]]\nname = \"SSH!\"\ntarget = \"tcp://127.0.0.1:22\"\n"
                  "allow = [\"x\"]\n",
                  2,
                  "service[0].name",
                  {"may contain only a-z, 0-9"}},
        ErrorCase{"ServiceBadTarget",
                  "[[service]]\nname = \"ssh\"\ntarget = \"127.0.0.1:22\"\nallow = [\"x\"]\n",
                  3,
                  "service[0].target",
                  {"write \"tcp://HOST:PORT\""}},
        ErrorCase{"ServiceRelativeUnixTarget",
                  "[[service]]\nname = \"app\"\ntarget = \"unix:run/app.sock\"\n"
                  "allow = [\"x\"]\n",
                  3,
                  "service[0].target",
                  {"must be absolute"}},
        ErrorCase{"ServiceAllowsUnknownPeer",
                  "[[service]]\nname = \"ssh\"\ntarget = \"tcp://127.0.0.1:22\"\n"
                  "allow = [\"betta\"]\n" +
                      peer("name = \"beta\"\nkey = \"" + kKey1 + "\"\n"),
                  4,
                  "service[0].allow[0]",
                  {"'betta' is neither a configured peer name nor a hashname", "configured: beta"}},
        ErrorCase{"ServiceDuplicateName",
                  "[[service]]\nname = \"ssh\"\ntarget = \"tcp://127.0.0.1:22\"\n"
                  "allow = [\"" +
                      std::string(52, 'a') +
                      "\"]\n"
                      "[[service]]\nname = \"ssh\"\ntarget = \"tcp://127.0.0.1:23\"\n"
                      "allow = [\"" +
                      std::string(52, 'a') + "\"]\n",
                  6,
                  "service[1].name",
                  {"already used (line 1)"}},
        ErrorCase{"ForwardUnknownPeer",
                  "[[forward]]\nlisten = \"127.0.0.1:2222\"\npeer = \"beta\"\n"
                  "service = \"ssh\"\n",
                  3,
                  "forward[0].peer",
                  {"'beta' is not a configured peer name"}},
        ErrorCase{"ForwardPortZero",
                  "[[forward]]\nlisten = \"127.0.0.1:0\"\npeer = \"b\"\nservice = \"ssh\"\n",
                  2,
                  "forward[0].listen",
                  {"a forward needs a fixed port"}},
        ErrorCase{"ForwardUnknownKey",
                  "[[forward]]\nlisten = \"127.0.0.1:2222\"\npeer = \"b\"\n"
                  "service = \"ssh\"\ntarget = \"x\"\n",
                  5,
                  "forward[0].target",
                  {"unknown key 'target'", "allowed keys in [[forward]]: listen, peer, service"}},
        ErrorCase{
            "UnknownInUdp",
            "[udp]\nkeepalve = 25\n",
            2,
            "udp.keepalve",
            {"unknown key 'keepalve'",
             "allowed keys in [udp]: listen, cloak, keepalive, receive_buffer, send_buffer, gso"}},
        ErrorCase{
            "UnknownInPeer",
            peer("name = \"a\"\nkey = \"" + kKey1 + "\"\naddress = \"x\"\n"),
            4,
            "peer[0].address",
            {"unknown key 'address'",
             "allowed keys in [[peer]]: name, key, hashname, endpoints, keepalive, via, mailbox"}},
        ErrorCase{"WrongTypeKeepalive",
                  "[udp]\nkeepalive = \"25\"\n",
                  2,
                  "udp.keepalive",
                  {"expected an integer", "found a string"}},
        ErrorCase{"WrongTypeCloak",
                  "[tcp]\ncloak = 1\n",
                  2,
                  "tcp.cloak",
                  {"expected a boolean", "found an integer"}},
        ErrorCase{"WrongTypeTable", "udp = 5\n", 1, "udp", {"expected a table", "[udp]"}},
        ErrorCase{"PeerAsSingleTable", "[peer]\nname = \"a\"\n", 1, "peer", {"[[peer]]"}},
        ErrorCase{"BadLogLevel",
                  "\nlog_level = \"verbose\"\n",
                  2,
                  "log_level",
                  {"unknown log level 'verbose'", "trace, debug, info, warn, error"}},
        ErrorCase{"BadAccept",
                  "accept = \"all\"\n",
                  1,
                  "accept",
                  {"unknown accept policy 'all'", "\"peers\"", "\"any\""}},
        ErrorCase{"ListenNoPort",
                  "[udp]\nlisten = [\"0.0.0.0\"]\n",
                  2,
                  "udp.listen[0]",
                  {"'0.0.0.0' has no port"}},
        ErrorCase{"ListenBadIp",
                  "[udp]\nlisten = [\n  \"0.0.0.0:1\",\n  \"1.2.3.999:42424\",\n]\n",
                  4,
                  "udp.listen[1]",
                  {"'1.2.3.999' is not a numeric IPv4 address"}},
        ErrorCase{"ListenHostName",
                  "[tcp]\nlisten = [\"localhost:1\"]\n",
                  2,
                  "tcp.listen[0]",
                  {"is not a numeric IPv4 address"}},
        ErrorCase{"ListenPortTooLarge",
                  "[udp]\nlisten = [\"0.0.0.0:70000\"]\n",
                  2,
                  "udp.listen[0]",
                  {"port '70000' is out of range", "1 to 65535"}},
        ErrorCase{"ListenIpv6WithoutBrackets",
                  "[udp]\nlisten = [\"::1:42424\"]\n",
                  2,
                  "udp.listen[0]",
                  {"IPv6 address without brackets"}},
        ErrorCase{"ListenDuplicate",
                  "[udp]\nlisten = [\"[::]:42424\", \"[0::0]:42424\"]\n",
                  2,
                  "udp.listen[1]",
                  {"same address as udp.listen[0]"}},
        ErrorCase{"ListenNotString",
                  "[udp]\nlisten = [42424]\n",
                  2,
                  "udp.listen[0]",
                  {"expected an address string", "found an integer"}},
        ErrorCase{"UnknownInMetrics",
                  "[metrics]\nlisen = \"127.0.0.1:9425\"\n",
                  2,
                  "metrics.lisen",
                  {"did you mean 'listen'?", "allowed keys in [metrics]: listen"}},
        ErrorCase{"MetricsListenNotAString",
                  "[metrics]\nlisten = [\"127.0.0.1:9425\"]\n",
                  2,
                  "metrics.listen",
                  {"expected an address string such as \"127.0.0.1:9425\"", "found an array"}},
        ErrorCase{"MetricsListenHostName",
                  "[metrics]\nlisten = \"localhost:9425\"\n",
                  2,
                  "metrics.listen",
                  {"'localhost' is not a numeric IPv4 address"}},
        ErrorCase{"MetricsNotATable",
                  "metrics = \"127.0.0.1:9425\"\n",
                  1,
                  "metrics",
                  {"expected a table ([metrics]), found a string"}},
        ErrorCase{
            "EndpointBadScheme",
            peer("name = \"a\"\nkey = \"" + kKey1 + "\"\nendpoints = [\"http://192.0.2.7:80\"]\n"),
            4,
            "peer[0].endpoints[0]",
            {"unknown scheme 'http'", "udp:// or tcp://"}},
        ErrorCase{"EndpointNoScheme",
                  peer("name = \"a\"\nkey = \"" + kKey1 + "\"\nendpoints = [\"192.0.2.7:80\"]\n"),
                  4,
                  "peer[0].endpoints[0]",
                  {"has no scheme"}},
        ErrorCase{
            "EndpointMissingPort",
            peer("name = \"a\"\nkey = \"" + kKey1 + "\"\nendpoints = [\"udp://host.example\"]\n"),
            4,
            "peer[0].endpoints[0]",
            {"has no port"}},
        ErrorCase{
            "EndpointPortZero",
            peer("name = \"a\"\nkey = \"" + kKey1 + "\"\nendpoints = [\"tcp://host.example:0\"]\n"),
            4,
            "peer[0].endpoints[0]",
            {"port '0' is out of range"}},
        ErrorCase{
            "EndpointBadHost",
            peer("name = \"a\"\nkey = \"" + kKey1 + "\"\nendpoints = [\"udp://bad_host:1\"]\n"),
            4,
            "peer[0].endpoints[0]",
            {"'bad_host' is not a host name"}},
        ErrorCase{"PeerBothKeyAndHashname",
                  peer("name = \"a\"\nkey = \"" + kKey1 + "\"\nhashname = \"" +
                       hashname_of(test_key(1)).to_string() + "\"\n"),
                  4,
                  "peer[0].hashname",
                  {"has both 'key' and 'hashname'"}},
        ErrorCase{"PeerNeither",
                  "\n" + peer("name = \"a\"\n"),
                  2,
                  "peer[0]",
                  {"has neither 'key' nor 'hashname'"}},
        ErrorCase{"PeerMissingName",
                  peer("key = \"" + kKey1 + "\"\n"),
                  1,
                  "peer[0]",
                  {"missing required key 'name'"}},
        ErrorCase{"PeerDuplicateName",
                  peer("name = \"a\"\nkey = \"" + kKey1 + "\"\n") +
                      peer("name = \"a\"\nkey = \"" + kKey2 + "\"\n"),
                  5,
                  "peer[1].name",
                  {"peer name 'a' is already used by peer[0] (line 1)"}},
        ErrorCase{
            "PeerDuplicateHashname",
            peer("name = \"a\"\nkey = \"" + kKey1 + "\"\n") +
                peer("name = \"b\"\nhashname = \"" + hashname_of(test_key(1)).to_string() + "\"\n"),
            6,
            "peer[1].hashname",
            {"peer 'b' has the same hashname as peer 'a'"}},
        ErrorCase{"PeerBadKeyBase32",
                  peer("name = \"a\"\nkey = \"not-base32!\"\n"),
                  3,
                  "peer[0].key",
                  {"expected a cs3a public key", "52 base32 characters", "found 11 characters"}},
        ErrorCase{"PeerKeyWrongLength",
                  peer("name = \"a\"\nkey = \"" + kKey1.substr(0, 48) + "\"\n"),
                  3,
                  "peer[0].key",
                  {"expected a cs3a public key", "found 48 characters"}},
        ErrorCase{"PeerBadHashname",
                  peer("name = \"a\"\nhashname = \"abc\"\n"),
                  3,
                  "peer[0].hashname",
                  {"expected a hashname", "found 3 characters"}},
        ErrorCase{"PeerBadNameCharacters",
                  peer("name = \"al pha\"\nkey = \"" + kKey1 + "\"\n"),
                  2,
                  "peer[0].name",
                  {"peer name 'al pha' may contain only letters, digits, '_' and '-'"}},
        ErrorCase{"PeerNameTooLong",
                  peer("name = \"" + std::string(65, 'n') + "\"\nkey = \"" + kKey1 + "\"\n"),
                  2,
                  "peer[0].name",
                  {"1 to 64 characters"}},
        ErrorCase{"KeepaliveTooLarge",
                  "[udp]\nkeepalive = 86401\n",
                  2,
                  "udp.keepalive",
                  {"keepalive 86401 is out of range", "0 (off) to 86400"}},
        ErrorCase{"KeepaliveNegative",
                  peer("name = \"a\"\nkey = \"" + kKey1 + "\"\nkeepalive = -1\n"),
                  4,
                  "peer[0].keepalive",
                  {"keepalive -1 is out of range"}},
        ErrorCase{"MessagesPayloadTooLarge",
                  "[messages]\nmax_payload = 65001\n",
                  2,
                  "messages.max_payload",
                  {"65001 is out of range; use 1 to 65000 bytes"}},
        ErrorCase{"MessagesPayloadZero",
                  "[messages]\nmax_payload = 0\n",
                  2,
                  "messages.max_payload",
                  {"0 is out of range"}},
        ErrorCase{"MessagesExpiryTooShort",
                  "[messages]\nexpiry = 59\n",
                  2,
                  "messages.expiry",
                  {"59 is out of range; use 60 to 2592000 seconds"}},
        // Recipients refuse messages expiring over 30 days ahead (PROTOCOL.md 10.7).
        ErrorCase{"MessagesExpiryBeyondWhatRecipientsAccept",
                  "[messages]\nexpiry = 2592001\n",
                  2,
                  "messages.expiry",
                  {"2592001 is out of range; use 60 to 2592000 seconds"}},
        ErrorCase{"TcpHasNoSocketBuffers",
                  "[tcp]\nreceive_buffer = \"4 MiB\"\n",
                  2,
                  "tcp.receive_buffer",
                  {"unknown key 'receive_buffer'"}},
        ErrorCase{"SocketBufferWithoutAUnitWeKnow",
                  "[udp]\nreceive_buffer = \"4 megabytes\"\n",
                  2,
                  "udp.receive_buffer",
                  {"'4 megabytes' is not a size", "B, kB, KiB, MB, MiB, GB, GiB"}},
        ErrorCase{"SocketBufferOverAGibibyte",
                  "[udp]\nsend_buffer = \"2 GiB\"\n",
                  2,
                  "udp.send_buffer",
                  {"2147483648 bytes is out of range", "0 to 1073741824"}},
        ErrorCase{"SocketBufferNegative",
                  "[udp]\nsend_buffer = -1\n",
                  2,
                  "udp.send_buffer",
                  {"-1 is negative"}},
        ErrorCase{"SocketBufferWrongType",
                  "[udp]\nsend_buffer = true\n",
                  2,
                  "udp.send_buffer",
                  {"expected a size such as \"4 MiB\""}},
        ErrorCase{"UdpHasNoUnauthenticatedLimit",
                  "[udp]\nunauthenticated_limit = 4\n",
                  2,
                  "udp.unauthenticated_limit",
                  {"unknown key 'unauthenticated_limit'"}},
        ErrorCase{"MessagesExpiryNotInteger",
                  "[messages]\nexpiry = \"7d\"\n",
                  2,
                  "messages.expiry",
                  {"expected an integer (60 to 2592000 seconds), found a string"}},
        ErrorCase{"MessagesQuotaTooSmall",
                  "[messages]\nstore_quota = 100\n",
                  2,
                  "messages.store_quota",
                  {"100 is out of range; use 65536 to"}},
        ErrorCase{"MessagesUnknownKey",
                  "[messages]\nmax_paylod = 1\n",
                  2,
                  "messages.max_paylod",
                  {"did you mean 'max_payload'?",
                   "allowed keys in [messages]: max_payload, "
                   "expiry, max_expiry, store_quota, peer_quota"}},
        ErrorCase{"StreamsUnknownCongestion",
                  "[streams]\ncongestion = \"reno\"\n",
                  2,
                  "streams.congestion",
                  {"unknown congestion control 'reno'", "\"newreno\", \"cubic\" or \"bbr\""}},
        ErrorCase{"StreamsCongestionNotAString",
                  "[streams]\ncongestion = 1\n",
                  2,
                  "streams.congestion",
                  {"expected a string", "found an integer"}},
        ErrorCase{"StreamsUnknownKey",
                  "[streams]\ncongestoin = \"bbr\"\n",
                  2,
                  "streams.congestoin",
                  {"did you mean 'congestion'?", "allowed keys in [streams]: congestion"}},
        // [router] and a peer's via (PROTOCOL.md 12, issue 12).
        ErrorCase{"RouterUnknownKey",
                  "[router]\nenable = true\nallow = \"peers\"\nrelay_rte = \"1 MB/s\"\n",
                  4,
                  "router.relay_rte",
                  {"did you mean 'relay_rate'?",
                   "allowed keys in [router]: enable, allow, relay, relay_rate, relay_idle"}},
        ErrorCase{
            "RouterNotATable", "router = true\n", 1, "router", {"expected a table ([router])"}},
        ErrorCase{"RouterEnableNotABoolean",
                  "[router]\nenable = \"yes\"\n",
                  2,
                  "router.enable",
                  {"expected a boolean (true or false), found a string"}},
        ErrorCase{"RouterEnabledWithoutAllow",
                  "\n[router]\nenable = true\n",
                  2,
                  "router",
                  {"missing key 'allow'", "allow = \"peers\""}},
        ErrorCase{"RouterEmptyAllow",
                  "[router]\nenable = true\nallow = []\n",
                  3,
                  "router.allow",
                  {"a router must name the peers it routes for"}},
        ErrorCase{
            "RouterAllowOtherString",
            "[router]\nenable = true\nallow = \"all\"\n",
            3,
            "router.allow",
            {"unknown value 'all'", "such as [\"all\"]", "\"peers\" (every configured peer)"}},
        ErrorCase{
            "RouterAllowWrongType",
            "[router]\nallow = 1\n",
            2,
            "router.allow",
            {"expected \"peers\" or an array of peer names or hashnames", "found an integer"}},
        ErrorCase{"RouterAllowEntryNotAString",
                  "[router]\nallow = [\"peers\", 2]\n",
                  2,
                  "router.allow[1]",
                  {"expected a peer name or hashname, found an integer"}},
        ErrorCase{"RouterAllowsUnknownPeer",
                  peer("name = \"alice\"\nkey = \"" + kKey1 + "\"\n") +
                      "[router]\nenable = true\nallow = [\"alice\",\n  \"bobb\"]\n",
                  7,
                  "router.allow[1]",
                  {"'bobb' is neither a configured peer name nor a hashname", "configured: alice"}},
        ErrorCase{"RouterRateWithoutPerSecond",
                  "[router]\nrelay_rate = \"2 MB\"\n",
                  2,
                  "router.relay_rate",
                  {"'2 MB' is not a rate", "B, kB, KiB, MB, MiB, GB, GiB", "\"2 MB/s\""}},
        ErrorCase{"RouterRateUnknownUnit",
                  "[router]\nrelay_rate = \"2 Mbit/s\"\n",
                  2,
                  "router.relay_rate",
                  {"'2 Mbit/s' is not a rate"}},
        ErrorCase{"RouterRateZero",
                  "[router]\nrelay_rate = \"0 MB/s\"\n",
                  2,
                  "router.relay_rate",
                  {"'0 MB/s' relays nothing", "relay = false"}},
        ErrorCase{"RouterRateAsANumber",
                  "[router]\nrelay_rate = 2000000\n",
                  2,
                  "router.relay_rate",
                  {"expected a rate string such as \"2 MB/s\", found an integer"}},
        ErrorCase{"RouterIdleZero",
                  "[router]\nrelay_idle = 0\n",
                  2,
                  "router.relay_idle",
                  {"0 is out of range; use 1 to 86400 seconds"}},
        ErrorCase{"RouterIdleTooLong",
                  "[router]\nrelay_idle = 86401\n",
                  2,
                  "router.relay_idle",
                  {"86401 is out of range; use 1 to 86400 seconds"}},
        ErrorCase{"RouterRelayNotABoolean",
                  "[router]\nrelay = 1\n",
                  2,
                  "router.relay",
                  {"expected a boolean"}},
        ErrorCase{"PeerViaUnknownPeer",
                  peer("name = \"alice\"\nkey = \"" + kKey1 + "\"\nvia = [\"hbu\"]\n") +
                      peer("name = \"hub\"\nkey = \"" + kKey2 + "\"\n"),
                  4,
                  "peer[0].via[0]",
                  {"'hbu' is not a configured peer name", "configured: alice, hub"}},
        ErrorCase{"PeerViaAHashnameIsNotAName",
                  peer("name = \"alice\"\nkey = \"" + kKey1 + "\"\nvia = [\"" +
                       std::string(52, 'a') + "\"]\n"),
                  4,
                  "peer[0].via[0]",
                  {"is not a configured peer name"}},
        ErrorCase{"PeerViaItself",
                  peer("name = \"alice\"\nkey = \"" + kKey1 + "\"\nvia = [\"alice\"]\n"),
                  4,
                  "peer[0].via[0]",
                  {"peer 'alice' cannot be its own router"}},
        ErrorCase{
            "PeerViaDuplicate",
            peer("name = \"hub\"\nkey = \"" + kKey2 + "\"\n") +
                peer("name = \"alice\"\nkey = \"" + kKey1 + "\"\nvia = [\"hub\",\n  \"hub\"]\n"),
            8,
            "peer[1].via[1]",
            {"'hub' is listed twice (also peer[1].via[0])"}},
        ErrorCase{"PeerViaNotAnArray",
                  peer("name = \"alice\"\nkey = \"" + kKey1 + "\"\nvia = \"hub\"\n"),
                  4,
                  "peer[0].via",
                  {"expected an array of peer names", "found a string"}},
        // [mailbox], deposit_after and a peer's mailbox (PROTOCOL.md 14).
        ErrorCase{"MailboxUnknownKey",
                  "[mailbox]\nenable = true\nallow = \"peers\"\nquota_per_recipent = 1\n",
                  4,
                  "mailbox.quota_per_recipent",
                  {"did you mean 'quota_per_recipient'?",
                   "allowed keys in [mailbox]: enable, allow, quota_per_recipient, "
                   "quota_per_sender, max_age"}},
        ErrorCase{
            "MailboxNotATable", "mailbox = true\n", 1, "mailbox", {"expected a table ([mailbox])"}},
        ErrorCase{"MailboxEnableNotABoolean",
                  "[mailbox]\nenable = 1\n",
                  2,
                  "mailbox.enable",
                  {"expected a boolean (true or false), found an integer"}},
        ErrorCase{
            "MailboxEnabledWithoutAllow",
            "\n\n[mailbox]\nenable = true\n",
            3,
            "mailbox",
            {"missing key 'allow'", "an enabled mailbox must name the peers it holds mail for",
             "allow = \"peers\""}},
        ErrorCase{"MailboxEmptyAllow",
                  "[mailbox]\nenable = true\nallow = []\n",
                  3,
                  "mailbox.allow",
                  {"a mailbox must name the peers it holds mail for"}},
        ErrorCase{"MailboxAllowOtherString",
                  "[mailbox]\nenable = true\nallow = \"everyone\"\n",
                  3,
                  "mailbox.allow",
                  {"unknown value 'everyone'", "\"peers\" (every configured peer)"}},
        ErrorCase{"MailboxAllowEntryNotAString",
                  "[mailbox]\nallow = [\"peers\", 2]\n",
                  2,
                  "mailbox.allow[1]",
                  {"expected a peer name or hashname, found an integer"}},
        ErrorCase{"MailboxAllowsUnknownPeer",
                  peer("name = \"alice\"\nkey = \"" + kKey1 + "\"\n") +
                      "[mailbox]\nenable = true\nallow = [\"alice\",\n  \"bbo\"]\n",
                  7,
                  "mailbox.allow[1]",
                  {"'bbo' is neither a configured peer name nor a hashname", "configured: alice",
                   "\"peers\" stands for all of them"}},
        ErrorCase{"MailboxQuotaTooSmall",
                  "[mailbox]\nquota_per_recipient = \"32 KiB\"\n",
                  2,
                  "mailbox.quota_per_recipient",
                  {"32768 bytes is out of range", "65536 to 1099511627776"}},
        ErrorCase{"MailboxQuotaTooLarge",
                  "[mailbox]\nquota_per_sender = \"1025 GiB\"\n",
                  2,
                  "mailbox.quota_per_sender",
                  {"1100585369600 bytes is out of range", "65536 to 1099511627776"}},
        ErrorCase{"MailboxQuotaNotASize",
                  "[mailbox]\nquota_per_sender = \"16 MiBs\"\n",
                  2,
                  "mailbox.quota_per_sender",
                  {"'16 MiBs' is not a size", "B, kB, KiB, MB, MiB, GB, GiB"}},
        ErrorCase{"MailboxQuotaWrongType",
                  "[mailbox]\nquota_per_sender = true\n",
                  2,
                  "mailbox.quota_per_sender",
                  {"expected a size such as \"4 MiB\"", "found a boolean"}},
        ErrorCase{"MailboxMaxAgeTooShort",
                  "[mailbox]\nmax_age = 59\n",
                  2,
                  "mailbox.max_age",
                  {"59 is out of range; use 60 to 2592000 seconds"}},
        ErrorCase{"MailboxMaxAgeTooLong",
                  "[mailbox]\nmax_age = 2592001\n",
                  2,
                  "mailbox.max_age",
                  {"2592001 is out of range; use 60 to 2592000 seconds"}},
        ErrorCase{"MailboxMaxAgeAsAString",
                  "[mailbox]\nmax_age = \"7 d\"\n",
                  2,
                  "mailbox.max_age",
                  {"expected an integer (60 to 2592000 seconds), found a string"}},
        ErrorCase{"MessagesDepositAfterNegative",
                  "[messages]\ndeposit_after = -1\n",
                  2,
                  "messages.deposit_after",
                  {"-1 is out of range; use 0 to 86400 seconds"}},
        ErrorCase{"MessagesDepositAfterTooLong",
                  "[messages]\n\ndeposit_after = 86401\n",
                  3,
                  "messages.deposit_after",
                  {"86401 is out of range; use 0 to 86400 seconds"}},
        ErrorCase{"MessagesUnknownKeyNamesDepositAfter",
                  "[messages]\ndeposit_afer = 1\n",
                  2,
                  "messages.deposit_afer",
                  {"did you mean 'deposit_after'?", "peer_quota, deposit_after"}},
        ErrorCase{"PeerMailboxUnknownPeer",
                  peer("name = \"bob\"\nkey = \"" + kKey1 + "\"\nmailbox = [\"hbu\"]\n") +
                      peer("name = \"hub\"\nkey = \"" + kKey2 + "\"\n"),
                  4,
                  "peer[0].mailbox[0]",
                  {"'hbu' is not a configured peer name", "configured: bob, hub"}},
        ErrorCase{"PeerMailboxAHashnameIsNotAName",
                  peer("name = \"bob\"\nkey = \"" + kKey1 + "\"\nmailbox = [\"" +
                       std::string(52, 'a') + "\"]\n"),
                  4,
                  "peer[0].mailbox[0]",
                  {"is not a configured peer name"}},
        ErrorCase{"PeerMailboxItself",
                  peer("name = \"bob\"\nkey = \"" + kKey1 + "\"\nmailbox = [\"bob\"]\n"),
                  4,
                  "peer[0].mailbox[0]",
                  {"peer 'bob' cannot be its own mailbox",
                   "name other configured peers that may hold its messages"}},
        ErrorCase{
            "PeerMailboxDuplicate",
            peer("name = \"hub\"\nkey = \"" + kKey2 + "\"\n") +
                peer("name = \"bob\"\nkey = \"" + kKey1 + "\"\nmailbox = [\"hub\",\n  \"hub\"]\n"),
            8,
            "peer[1].mailbox[1]",
            {"'hub' is listed twice (also peer[1].mailbox[0])"}},
        ErrorCase{"PeerMailboxNotAnArray",
                  peer("name = \"bob\"\nkey = \"" + kKey1 + "\"\nmailbox = \"hub\"\n"),
                  4,
                  "peer[0].mailbox",
                  {"expected an array of peer names", "found a string"}},
        ErrorCase{"PeerMailboxEntryNotAString",
                  peer("name = \"bob\"\nkey = \"" + kKey1 + "\"\nmailbox = [1]\n"),
                  4,
                  "peer[0].mailbox[0]",
                  {"expected a peer name, found an integer"}},
        ErrorCase{"MessagesNotATable",
                  "messages = 5\n",
                  1,
                  "messages",
                  {"expected a table ([messages])"}},
        ErrorCase{"EmptyPath", "state_dir = \"\"\n", 1, "state_dir", {"the path is empty"}},
        ErrorCase{
            "TildePath", "identity = \"~/id.json\"\n", 1, "identity", {"'~' is not expanded"}},
        ErrorCase{"SocketPathTooLong",
                  "control_socket = \"/" + std::string(120, 's') + "\"\n",
                  1,
                  "control_socket",
                  {"at most 107 bytes"}}),
    [](const testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

// KEY_A, KEY_B and HASH_A in docs/config.md's examples stand for two public keys and the
// hashname of the first.
std::string with_keys(std::string text) {
  const std::pair<std::string, std::string> names[] = {
      {"KEY_A", key_text(1)},
      {"KEY_B", key_text(2)},
      {"HASH_A", hashname_of(test_key(1)).to_string()}};
  for (const auto& [name, value] : names) {
    for (std::size_t at; (at = text.find(name)) != std::string::npos;)
      text.replace(at, name.size(), value);
  }
  return text;
}

// docs/config.md quotes these messages word for word, in this order; this keeps the page
// honest.
TEST(ConfigParse, DocumentedMessages) {
  const std::pair<std::string, std::string> cases[] = {
      {"[udp]\ncloak = tru\n",
       "e3xd.toml:2: not valid TOML: Error while parsing boolean: expected 'true', saw 'tru\\n'"},
      {"logg_level = \"debug\"\n",
       "e3xd.toml:1: logg_level: unknown key 'logg_level' (did you mean 'log_level'?); allowed "
       "top-level keys: identity, state_dir, control_socket, log_level, accept, [udp], [tcp], "
       "[messages], [streams], [metrics], [router], [mailbox], [[peer]], [[service]], [[forward]]"},
      {"[udp]\nkeepalve = 25\n",
       "e3xd.toml:2: udp.keepalve: unknown key 'keepalve' (did you mean 'keepalive'?); allowed "
       "keys in [udp]: listen, cloak, keepalive, receive_buffer, send_buffer, gso"},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\nendpiont = [\"udp://192.0.2.7:42424\"]\n",
       "e3xd.toml:4: peer[0].endpiont: unknown key 'endpiont' (did you mean 'endpoints'?); allowed "
       "keys in [[peer]]: name, key, hashname, endpoints, keepalive, via, mailbox"},
      {"[udp]\nkeepalive = \"25\"\n",
       "e3xd.toml:2: udp.keepalive: expected an integer number of seconds (0 to 86400), found a "
       "string"},
      {"[tcp]\ncloak = \"yes\"\n",
       "e3xd.toml:2: tcp.cloak: expected a boolean (true or false), found a string"},
      {"udp = \"0.0.0.0:42424\"\n", "e3xd.toml:1: udp: expected a table ([udp]), found a string"},
      {"[peer]\nname = \"alpha\"\n",
       "e3xd.toml:1: peer: 'peer' must be an array of tables: write [[peer]] (double brackets) "
       "before each peer"},
      {"log_level = \"verbose\"\n",
       "e3xd.toml:1: log_level: unknown log level 'verbose'; use one of trace, debug, info, warn, "
       "error"},
      {"accept = \"all\"\n",
       "e3xd.toml:1: accept: unknown accept policy 'all'; use \"peers\" (only [[peer]] entries may "
       "connect) or \"any\" (any endpoint may connect)"},
      {"[udp]\nlisten = [\"0.0.0.0\"]\n",
       "e3xd.toml:2: udp.listen[0]: '0.0.0.0' has no port; write IP:PORT, e.g. \"0.0.0.0:42424\" "
       "or \"[::]:42424\""},
      {"[udp]\nlisten = [\"localhost:42424\"]\n",
       "e3xd.toml:2: udp.listen[0]: 'localhost:42424': 'localhost' is not a numeric IPv4 address; "
       "listen addresses are numeric (IPv4, or IPv6 in brackets such as \"[::]:42424\")"},
      {"[udp]\nlisten = [\"1.2.3.999:42424\"]\n",
       "e3xd.toml:2: udp.listen[0]: '1.2.3.999:42424': '1.2.3.999' is not a numeric IPv4 address; "
       "listen addresses are numeric (IPv4, or IPv6 in brackets such as \"[::]:42424\")"},
      {"[udp]\nlisten = [\"0.0.0.0:70000\"]\n",
       "e3xd.toml:2: udp.listen[0]: '0.0.0.0:70000': port '70000' is out of range; use 1 to 65535 "
       "(0 picks a free port)"},
      {"[udp]\nlisten = [\"::1:42424\"]\n",
       "e3xd.toml:2: udp.listen[0]: '::1:42424' has an IPv6 address without brackets; write it in "
       "brackets, as in \"[::1]:42424\""},
      {"[udp]\nlisten = [\"[::]:42424\", \"[0::0]:42424\"]\n",
       "e3xd.toml:2: udp.listen[1]: '[0::0]:42424' is the same address as udp.listen[0] "
       "('[::]:42424'); each address can be listened on only once"},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\nendpoints = [\"http://192.0.2.7:42424\"]\n",
       "e3xd.toml:4: peer[0].endpoints[0]: 'http://192.0.2.7:42424': unknown scheme 'http'; use "
       "udp:// or tcp://"},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\nendpoints = [\"192.0.2.7:42424\"]\n",
       "e3xd.toml:4: peer[0].endpoints[0]: '192.0.2.7:42424' has no scheme; write udp://HOST:PORT "
       "or tcp://HOST:PORT, e.g. \"udp://192.0.2.7:42424\""},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\nendpoints = [\"udp://192.0.2.7\"]\n",
       "e3xd.toml:4: peer[0].endpoints[0]: 'udp://192.0.2.7' has no port; write udp://HOST:PORT or "
       "tcp://HOST:PORT, e.g. \"udp://192.0.2.7:42424\""},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\nendpoints = [\"udp://my_host:42424\"]\n",
       "e3xd.toml:4: peer[0].endpoints[0]: 'udp://my_host:42424': 'my_host' is not a host name "
       "(letters, digits, '-' and '.') or a numeric address"},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\nhashname = \"HASH_A\"\n",
       "e3xd.toml:4: peer[0].hashname: peer 'alpha' has both 'key' and 'hashname'; give only one "
       "(the hashname follows from the key)"},
      {"[[peer]]\nname = \"alpha\"\n",
       "e3xd.toml:1: peer[0]: peer 'alpha' has neither 'key' nor 'hashname'; give exactly one: "
       "'key' (its base32 cs3a public key) or 'hashname'"},
      {"[[peer]]\nkey = \"KEY_A\"\n",
       "e3xd.toml:1: peer[0]: missing required key 'name'; every [[peer]] needs a unique name of "
       "letters, digits, '_' and '-'"},
      {"[[peer]]\nname = \"al pha\"\nkey = \"KEY_A\"\n",
       "e3xd.toml:2: peer[0].name: peer name 'al pha' may contain only letters, digits, '_' and "
       "'-' (1 to 64 characters)"},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\n\n[[peer]]\nname = \"alpha\"\nkey = "
       "\"KEY_B\"\n",
       "e3xd.toml:6: peer[1].name: peer name 'alpha' is already used by peer[0] (line 1); peer "
       "names must be unique"},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\n\n[[peer]]\nname = \"beta\"\nhashname = "
       "\"HASH_A\"\n",
       "e3xd.toml:7: peer[1].hashname: peer 'beta' has the same hashname as peer 'alpha', peer[0] "
       "(line 1); each peer may appear only once"},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A=\"\n",
       "e3xd.toml:3: peer[0].key: expected a cs3a public key: 52 base32 characters (a-z, 2-7) that "
       "decode to 32 bytes; found 53 characters"},
      {"[udp]\nkeepalive = 90000\n",
       "e3xd.toml:2: udp.keepalive: keepalive 90000 is out of range; use 0 (off) to 86400 seconds "
       "(one day)"},
      {"[streams]\ncongestion = \"reno\"\n",
       "e3xd.toml:2: streams.congestion: unknown congestion control 'reno'; use \"newreno\", "
       "\"cubic\" or \"bbr\""},
      {"[router]\nrelay_rate = \"2 MB\"\n",
       "e3xd.toml:2: router.relay_rate: '2 MB' is not a rate; use a number, one of B, kB, KiB, "
       "MB, MiB, GB, GiB, and \"/s\", such as \"2 MB/s\""},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\nvia = [\"hub\"]\n",
       "e3xd.toml:4: peer[0].via[0]: 'hub' is not a configured peer name (configured: alpha)"},
      {"[[peer]]\nname = \"alpha\"\nkey = \"KEY_A\"\nmailbox = [\"alpha\"]\n",
       "e3xd.toml:4: peer[0].mailbox[0]: peer 'alpha' cannot be its own mailbox; name other "
       "configured peers that may hold its messages"},
      {"[mailbox]\nenable = true\n",
       "e3xd.toml:1: mailbox: missing key 'allow'; an enabled mailbox must name the peers it holds "
       "mail for: allow = \"peers\" (every configured peer) or an array of peer names or "
       "hashnames"},
      {"[mailbox]\nquota_per_recipient = \"32 KiB\"\n",
       "e3xd.toml:2: mailbox.quota_per_recipient: 32768 bytes is out of range; use a size such as "
       "\"4 MiB\" or a number of bytes, 65536 to 1099511627776"},
      {"state_dir = \"\"\n",
       "e3xd.toml:1: state_dir: the path is empty; give a file or directory path"},
      {"identity = \"~/identity.json\"\n",
       "e3xd.toml:1: identity: '~' is not expanded in paths; write the full path"},
  };
  for (const auto& [toml, message] : cases) {
    SCOPED_TRACE(toml);
    EXPECT_EQ(parse_bad(with_keys(toml)).to_string(), message);
  }
  EXPECT_EQ(
      parse_bad("control_socket = \"/run/e3xd/" + std::string(112, 'a') + ".sock\"\n").to_string(),
      "e3xd.toml:1: control_socket: the socket path is 127 bytes long; a Unix socket path may "
      "have at most 107 bytes");
}

}  // namespace
}  // namespace e3x::config
