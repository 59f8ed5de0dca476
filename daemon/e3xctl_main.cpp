// e3xctl: talks to a running e3xd over its control socket (docs/control-protocol.md), and
// makes or inspects identities locally.
//
// Exit codes: 0 ok; 1 the daemon answered with an error; 2 usage error; 3 the daemon cannot
// be reached (or the connection broke); 4 a local failure (identity files, input files);
// 5 `open` refused a sealed file (wrong recipient, wrong sender, or altered). Under --json an
// error is a JSON document on stdout too: {"error":{"code":...,"message":...}}.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "config/atomic_file.hpp"
#include "config/identity_file.hpp"
#include "config/suggest.hpp"
#include "core/base32.hpp"
#include "core/hashname.hpp"
#include "core/random.hpp"
#include "daemon/control/control_client.hpp"
#include "daemon/control/control_protocol.hpp"
#include "daemon/control/ctl_format.hpp"
#include "daemon/control/json_text.hpp"
#include "daemon/control/stream_relay.hpp"
#include "daemon/modules/messages/sealed_file.hpp"
#include "daemon/support/build_info.hpp"
#include "daemon/support/encoding.hpp"
#include "daemon/support/text_escape.hpp"

namespace {

namespace json = boost::json;
namespace ctl = e3x::control;

enum Exit : int {
  kExitOk = 0,
  kExitDaemonError = 1,
  kExitUsage = 2,
  kExitUnreachable = 3,
  kExitLocal = 4,
  kExitRefused = 5,
};

constexpr const char* kLocalSocket = "e3xd-state/control.sock";  // e3xd's default config
constexpr const char* kSystemSocket = "/run/e3xd/control.sock";  // the systemd unit's

struct Options {
  std::string socket;
  bool json = false;
  std::string peer;
  std::optional<std::string> text;
  std::optional<std::string> file;
  bool stdin_body = false;
  std::optional<std::string> type;
  std::optional<std::string> id;
  std::string message_id;                // outbox cancel / inbox read
  std::vector<std::string> message_ids;  // inbox ack
  bool ack_all = false;                  // inbox ack --all
  bool short_table = false;              // peers --short
  std::optional<std::string> from;
  std::string in;
  std::string out_file;
  std::string out;
  std::optional<std::string> key;
  std::optional<std::string> identity;
  std::uint32_t count = 1;     // ping
  std::uint32_t seconds = 10;  // speedtest
  std::size_t size = 1400;
  bool all = false;     // outbox: delivered messages too
  std::string service;  // connect
};

std::string socket_path(const Options& options) {
  if (!options.socket.empty()) return options.socket;
  std::error_code ec;
  if (std::filesystem::exists(kLocalSocket, ec)) return kLocalSocket;
  return kSystemSocket;
}

// --json, known before the command line is parsed, so that usage errors follow it too.
bool g_json = false;

void print(const std::string& text) {
  std::cout << text << std::flush;
}

// The --json error code of each exit status; the daemon's errors carry their own code.
const char* code_of(int exit_code) {
  switch (exit_code) {
    case kExitUsage:
      return "usage";
    case kExitUnreachable:
      return "unreachable";
    case kExitLocal:
      return "local";
    case kExitRefused:
      return "refused";
    default:
      return "internal";
  }
}

// Reports an error and returns `exit_code`: "e3xctl: [CODE: ]MESSAGE" on stderr, or under
// --json {"error":{"code":CODE,"message":MESSAGE}} on stdout, where a script reads results.
int fail(int exit_code, const std::string& message, const std::string& code = {}) {
  if (g_json) {
    print(ctl::to_json_text(json::object{
              {"error",
               {{"code", code.empty() ? code_of(exit_code) : code}, {"message", message}}}}) +
          "\n");
  } else {
    std::cerr << "e3xctl: " << (code.empty() ? "" : code + ": ") << message << "\n";
  }
  return exit_code;
}

// The code and message of a daemon's error reply ("?" and "(no message)" when missing).
std::pair<std::string, std::string> error_of(const json::object& reply) {
  std::string code = "?";
  std::string message = "(no message)";
  if (const json::value* error = reply.if_contains("error"); error && error->is_object()) {
    if (const json::value* c = error->get_object().if_contains("code"); c && c->is_string()) {
      code = std::string(c->get_string());
    }
    if (const json::value* m = error->get_object().if_contains("message"); m && m->is_string()) {
      message = std::string(m->get_string());
    }
  }
  return {code, message};
}

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

// The local zone's offset from UTC at `unix_seconds`, for event times.
std::int64_t utc_offset(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (::localtime_r(&t, &tm) == nullptr) return 0;
  return tm.tm_gmtoff;
}

// Connects, sends `request`, and prints the result: raw JSON with --json, else `human(result)`
// (which returns nullopt when the result has an unexpected shape: then the JSON is printed).
int run_request(const Options& options, const json::object& request,
                const std::function<std::optional<std::string>(const json::value&)>& human,
                std::chrono::milliseconds timeout = ctl::ControlClient::kDefaultRequestTimeout) {
  ctl::ControlClient client;
  client.set_request_timeout(timeout);
  if (std::string error = client.connect(socket_path(options)); !error.empty()) {
    return fail(kExitUnreachable, error);
  }
  auto reply = client.request(request);
  if (!reply) return fail(kExitUnreachable, reply.error());
  if (!reply->at("ok").get_bool()) {
    const auto [code, message] = error_of(*reply);
    return fail(kExitDaemonError, message, code);
  }
  const json::value* result = reply->if_contains("result");
  const json::value none;
  const json::value& value = result != nullptr ? *result : none;
  if (options.json) {
    print(ctl::to_json_text(value) + "\n");
    return kExitOk;
  }
  auto text = human(value);
  print(text ? *text : ctl::to_json_text(value) + "\n");
  return kExitOk;
}

// Formatters that need an object (or an array) result.
std::function<std::optional<std::string>(const json::value&)> for_object(
    std::function<std::string(const json::object&)> format) {
  return [format](const json::value& value) -> std::optional<std::string> {
    if (!value.is_object()) return std::nullopt;
    return format(value.get_object());
  };
}

int cmd_watch(const Options& options) {
  ctl::ControlClient client;
  if (std::string error = client.connect(socket_path(options)); !error.empty()) {
    return fail(kExitUnreachable, error);
  }
  auto reply = client.request(json::object{{"cmd", "watch"}});
  if (!reply) return fail(kExitUnreachable, reply.error());
  if (!reply->at("ok").get_bool()) {
    const auto [code, message] = error_of(*reply);
    return fail(kExitDaemonError, "watch refused: " + message, code);
  }
  // With --json the first line is the acknowledgement ({"watching":true}), so a script knows
  // the subscription is in place before it triggers what it wants to watch.
  if (options.json) print(ctl::to_json_text(reply->at("result")) + "\n");
  for (;;) {
    auto line = client.read_line();
    if (!line) return fail(kExitUnreachable, line.error());
    if (options.json) {
      print(*line + "\n");
      continue;
    }
    boost::system::error_code ec;
    json::value event = json::parse(*line, ec);
    if (ec || !event.is_object()) {
      print(*line + "\n");
      continue;
    }
    print(ctl::format_event(event.get_object(), utc_offset(unix_now())));
  }
}

// ping PEER --count N: N probes a second apart over one connection, as ping(8) does, each
// printed as it comes back (under --json one result or error document per line), then a
// summary. Exit 0 if any was answered, else 1 (the daemon's last error).
int cmd_ping(const Options& options) {
  ctl::ControlClient client;
  if (std::string error = client.connect(socket_path(options)); !error.empty()) {
    return fail(kExitUnreachable, error);
  }
  std::vector<double> rtts;
  std::uint32_t answered = 0;
  for (std::uint32_t i = 0; i < options.count; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::seconds(1));
    auto reply = client.request(json::object{{"cmd", "ping"}, {"peer", options.peer}});
    if (!reply) return fail(kExitUnreachable, reply.error());
    if (!reply->at("ok").get_bool()) {
      const auto [code, message] = error_of(*reply);
      fail(kExitDaemonError, message, code);
      continue;
    }
    ++answered;
    const json::value& result = reply->at("result");
    if (const json::value* rtt =
            result.is_object() ? result.get_object().if_contains("rtt_ms") : nullptr;
        rtt && rtt->is_number()) {
      rtts.push_back(rtt->to_number<double>());
    }
    if (options.json) {
      print(ctl::to_json_text(result) + "\n");
    } else {
      print(result.is_object() ? ctl::format_ping(result.get_object(), options.peer)
                               : ctl::to_json_text(result) + "\n");
    }
  }
  if (!options.json) print(ctl::format_ping_summary(options.peer, options.count, answered, rtts));
  return answered > 0 ? kExitOk : kExitDaemonError;
}

// When a word stands where a command belongs but names none, the message for it:
// "unknown command 'stauts' (did you mean 'status'?); commands: status, peers, ...".
// Empty when the parse error is about something else.
std::string unknown_command(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* at = &app;
  std::string path;  // the commands before it: "inbox "
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") return {};
    if (arg.starts_with("-")) {
      if (arg == "-s" || arg == "--socket") ++i;  // the option's value
      continue;
    }
    // Named subcommands only: CLI11 keeps option groups as unnamed ones.
    const auto commands =
        at->get_subcommands([](CLI::App* sub) { return !sub->get_name().empty(); });
    if (commands.empty()) return {};  // the command's own arguments follow
    std::vector<std::string_view> names;
    CLI::App* found = nullptr;
    for (CLI::App* command : commands) {
      if (command->get_name() == arg) found = command;
      names.push_back(command->get_name());
    }
    if (found != nullptr) {
      at = found;
      path += arg + " ";
      continue;
    }
    std::string message = "unknown command '" + path + arg + "'";
    if (const auto meant = e3x::config::did_you_mean(arg, names)) {
      message += " (did you mean '" + path + std::string(*meant) + "'?)";
    }
    message +=
        path.empty() ? "; commands: " : "; commands of '" + path.substr(0, path.size() - 1) + "': ";
    for (std::size_t n = 0; n < names.size(); ++n) {
      message += (n == 0 ? "" : ", ") + std::string(names[n]);
    }
    return message;
  }
  return {};
}

// Reads a whole file ("-": standard input) as bytes.
std::optional<std::string> read_input(const std::string& path, std::string& error) {
  std::string bytes;
  if (path == "-") {
    bytes.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) {
      error = "cannot read standard input";
      return std::nullopt;
    }
    return bytes;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return bytes;
}

int cmd_send(const Options& options) {
  json::object request{{"cmd", "send"}, {"peer", options.peer}};
  if (options.type) request["type"] = *options.type;
  if (options.id) request["id"] = *options.id;
  if (options.text) {
    request["text"] = *options.text;
  } else {
    std::string error;
    const auto body = read_input(options.stdin_body ? "-" : *options.file, error);
    if (!body) return fail(kExitLocal, error);
    request["base64"] = e3x::daemon::to_base64(e3x::as_bytes(*body));
  }
  const std::size_t size = json::serialize(request).size();
  if (size > ctl::kMaxLineBytes) {
    return fail(kExitLocal,
                "the message is too large for the control socket (the request would "
                "be " +
                    std::to_string(size) + " bytes; at most " + std::to_string(ctl::kMaxLineBytes) +
                    ")");
  }
  const std::string peer = options.peer;
  return run_request(options, request, for_object([peer](const json::object& result) {
                       return ctl::format_send(result, peer);
                     }));
}

int cmd_outbox(const Options& options, bool cancel) {
  if (cancel) {
    return run_request(options, {{"cmd", "outbox_cancel"}, {"id", options.message_id}},
                       for_object([](const json::object& result) {
                         const json::value* may = result.if_contains("may_have_arrived");
                         const bool sent = may != nullptr && may->is_bool() && may->get_bool();
                         return "cancelled message " + std::string(result.at("id").as_string()) +
                                (sent ? "; it was sent before and may have arrived\n" : "\n");
                       }));
  }
  const std::int64_t now = unix_now();
  json::object request{{"cmd", "outbox"}};
  if (options.all) request["all"] = true;
  return run_request(options, std::move(request),
                     [now](const json::value& result) -> std::optional<std::string> {
                       if (!result.is_array()) return std::nullopt;
                       return ctl::format_outbox(result.get_array(), now);
                     });
}

// inbox read: the payload itself goes to stdout, byte for byte (with --json: the JSON result).
int cmd_inbox_read(const Options& options) {
  json::object request{{"cmd", "inbox_read"}, {"id", options.message_id}};
  if (options.from) request["peer"] = *options.from;
  return run_request(options, request, for_object([](const json::object& result) -> std::string {
                       const auto body =
                           e3x::daemon::from_base64(result.at("body_base64").as_string());
                       return body ? std::string(body->begin(), body->end()) : std::string();
                     }));
}

// inbox ack ID... | --all: the daemon resolves every id (or prefix) before acknowledging any,
// so one mistyped id acknowledges nothing.
int cmd_inbox_ack(const Options& options) {
  if (options.ack_all == !options.message_ids.empty()) {
    return fail(kExitUsage, "inbox ack: give message ids or --all (not both)");
  }
  json::object request{{"cmd", "inbox_ack"}};
  if (options.from) request["peer"] = *options.from;
  if (options.ack_all) {
    request["all"] = true;
  } else if (options.message_ids.size() == 1) {
    request["id"] = options.message_ids.front();
  } else {
    json::array ids;
    for (const std::string& id : options.message_ids) ids.emplace_back(id);
    request["ids"] = std::move(ids);
  }
  return run_request(options, request, for_object([](const json::object& result) {
                       return ctl::format_inbox_ack(result);
                     }));
}

int cmd_inbox_import(const Options& options) {
  std::string error;
  const auto sealed = read_input(options.in, error);
  if (!sealed) return fail(kExitLocal, error);
  json::object request{{"cmd", "inbox_import"},
                       {"base64", e3x::daemon::to_base64(e3x::as_bytes(*sealed))}};
  return run_request(options, request, for_object([](const json::object& result) {
                       const json::value* duplicate = result.if_contains("duplicate");
                       const bool again =
                           duplicate && duplicate->is_bool() && duplicate->get_bool();
                       return std::string(again ? "already in the inbox: " : "imported ") +
                              "message " + std::string(result.at("id").as_string()) + " from " +
                              std::string(result.at("hashname").as_string()) + "\n";
                     }));
}

std::optional<e3x::PublicKey> parse_key(const std::string& text) {
  const auto bytes = e3x::base32_decode(text);
  if (!bytes || bytes->size() != 32) return std::nullopt;
  e3x::PublicKey key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

int cmd_seal(const Options& options) {
  auto identity = e3x::config::load_identity(*options.identity);
  if (!identity) return fail(kExitLocal, identity.error().message);
  const auto recipient = parse_key(*options.key);
  if (!recipient)
    return fail(kExitUsage, "--to: not a cipher set 3a public key (52 base32 characters)");
  std::string error;
  const auto payload = read_input(options.in, error);
  if (!payload) return fail(kExitLocal, error);
  e3x::SodiumRandom random;
  std::string id;
  if (options.id) {
    id = *options.id;
  } else {
    e3x::ByteArray<8> id_bytes;
    random.fill(id_bytes);
    id = e3x::to_hex(id_bytes);
  }
  const e3x::Bytes sealed = e3x::daemon::seal_file(*identity, *recipient, id,
                                                   e3x::as_bytes(*payload), random, unix_now());
  if (options.out_file == "-") {
    std::cout.write(reinterpret_cast<const char*>(sealed.data()),
                    static_cast<std::streamsize>(sealed.size()));
    std::cout.flush();
  } else if (std::string write_error =
                 e3x::config::write_file_atomically(options.out_file, sealed, 0644);
             !write_error.empty()) {
    return fail(kExitLocal, write_error);
  }
  std::cerr << "sealed message " << id << " (" << payload->size() << " bytes) for "
            << e3x::hashname_of(*recipient).to_string() << "; valid for "
            << e3x::daemon::kSealedFileValidity / 86400 << " days (import it before then)\n";
  return kExitOk;
}

int cmd_open(const Options& options) {
  auto identity = e3x::config::load_identity(*options.identity);
  if (!identity) return fail(kExitLocal, identity.error().message);
  const auto sender = parse_key(*options.from);
  if (!sender)
    return fail(kExitUsage, "--from: not a cipher set 3a public key (52 base32 characters)");
  std::string error;
  const auto sealed = read_input(options.in, error);
  if (!sealed) return fail(kExitLocal, error);
  auto opened = e3x::daemon::open_file(*identity, *sender, e3x::as_bytes(*sealed));
  if (!opened) return fail(kExitRefused, "refused " + options.in + ": " + opened.error());
  std::cout.write(reinterpret_cast<const char*>(opened->payload.data()),
                  static_cast<std::streamsize>(opened->payload.size()));
  std::cout.flush();
  std::cerr << "from " << opened->from.to_string() << ", message "
            << e3x::daemon::escape_text(opened->id) << " (" << opened->payload.size() << " bytes"
            << (opened->expires && *opened->expires <= unix_now() ? "; expired: a daemon would "
                                                                    "refuse to import it"
                                                                  : "")
            << ")\n";
  return kExitOk;
}

// `e3xctl connect PEER SERVICE`: once e3xd accepted (the peer accepted the stream), the
// control connection is the stream, and stdin/stdout are joined to it.
int cmd_connect(const Options& options) {
  ctl::ControlClient client;
  // The daemon may first wait for the peer to come up (one handshake attempt) and then for
  // the peer to accept the stream.
  client.set_request_timeout(std::chrono::seconds(50));
  if (std::string error = client.connect(socket_path(options)); !error.empty()) {
    return fail(kExitUnreachable, error);
  }
  auto reply = client.request(
      json::object{{"cmd", "connect"}, {"peer", options.peer}, {"service", options.service}});
  if (!reply) return fail(kExitUnreachable, reply.error());
  if (!reply->at("ok").get_bool()) {
    std::string message = "the stream was refused";
    if (const json::value* error = reply->if_contains("error"); error && error->is_object()) {
      if (const json::value* m = error->get_object().if_contains("message"); m && m->is_string()) {
        message = std::string(m->get_string());
      }
    }
    return fail(kExitRefused, message);
  }
  std::string early;
  const int connection = client.release(early);
  ctl::relay_stdio(connection, std::move(early));
}

int cmd_keygen(const Options& options) {
  std::error_code ec;
  if (std::filesystem::symlink_status(options.out, ec).type() !=
      std::filesystem::file_type::not_found) {
    return fail(kExitLocal, options.out + " already exists; refusing to overwrite it");
  }
  e3x::SodiumRandom random;
  auto identity = e3x::config::create_identity(options.out, random);
  if (!identity) return fail(kExitLocal, identity.error().message);
  const std::string hashname = e3x::hashname_of(identity->public_key).to_string();
  if (options.json) {
    print(ctl::to_json_text(json::object{{"hashname", hashname},
                                         {"key", e3x::base32_encode(identity->public_key)},
                                         {"file", options.out}}) +
          "\n");
  } else {
    // The key too: it is what the other side configures, and the hashname is not.
    print("hashname: " + hashname + "\nkey: " + e3x::base32_encode(identity->public_key) +
          " (what peers put in their [[peer]] key)\n");
  }
  return kExitOk;
}

int cmd_hashname(const Options& options) {
  e3x::PublicKey key{};
  if (options.key) {
    const auto bytes = e3x::base32_decode(*options.key);
    if (!bytes || bytes->size() != key.size()) {
      return fail(kExitUsage, "--key: not a cipher set 3a public key (52 base32 characters)");
    }
    std::copy(bytes->begin(), bytes->end(), key.begin());
  } else {
    auto identity = e3x::config::load_identity(*options.identity);
    if (!identity) return fail(kExitLocal, identity.error().message);
    key = identity->public_key;
  }
  const std::string hashname = e3x::hashname_of(key).to_string();
  if (options.json) {
    print(
        ctl::to_json_text(json::object{{"hashname", hashname}, {"key", e3x::base32_encode(key)}}) +
        "\n");
  } else {
    print(hashname + "\n");
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"e3xctl: control a running e3xd, and make or inspect identities"};
  app.set_version_flag("--version", e3x::e3xd_version());
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.add_option("-s,--socket", options.socket,
                 std::string("control socket (default: ") + kLocalSocket +
                     " if it exists here, else " + kSystemSocket + ")")
      ->envname("E3XCTL_SOCKET");
  app.add_flag("--json", options.json, "print the raw JSON result (one document) for scripts");

  auto* status = app.add_subcommand("status", "show the daemon's identity, addresses, uptime");
  auto* peers = app.add_subcommand("peers", "show every peer");
  peers->add_flag("--short", options.short_table,
                  "one line per peer: name, state, endpoint, handshake, transfer, rtt");
  auto* peer = app.add_subcommand("peer", "show one peer");
  peer->add_option("NAME", options.peer, "peer name or hashname")->required();
  auto* watch = app.add_subcommand("watch", "print events (peers up/down, messages) until ^C");
  auto* reload = app.add_subcommand("reload", "re-read the configuration file");
  auto* send = app.add_subcommand(
      "send", "queue a message for a peer: stored durably, delivered until acknowledged");
  send->add_option("PEER", options.peer, "peer name or hashname")->required();
  auto* body = send->add_option_group("body", "what to send (exactly one)");
  body->add_option("--text", options.text, "the message text");
  body->add_option("--file", options.file, "a file whose bytes are the message");
  body->add_flag("--stdin", options.stdin_body, "read the message from standard input");
  body->require_option(1);
  send->add_option("--type", options.type, "message type (default: msg)");
  send->add_option("--id", options.id,
                   "message id (default: random); sending again with the same id and content "
                   "is harmless, so a script may retry");
  auto* outbox = app.add_subcommand("outbox", "list messages not yet delivered");
  outbox->require_subcommand(0, 1);
  outbox->add_flag("--all", options.all,
                   "also list delivered messages, whose ids are kept until they expire");
  auto* outbox_cancel = outbox->add_subcommand("cancel", "stop delivering a message");
  outbox_cancel->add_option("ID", options.message_id, "message id (or a unique prefix of it)")
      ->required();
  auto* inbox = app.add_subcommand("inbox", "list received messages not yet acknowledged");
  inbox->require_subcommand(0, 1);
  auto* inbox_read = inbox->add_subcommand("read", "write a message's payload to stdout");
  inbox_read->add_option("ID", options.message_id, "message id (or a unique prefix of it)")
      ->required();
  inbox_read->add_option("--from", options.from, "the sender, when several sent this id");
  auto* inbox_ack = inbox->add_subcommand("ack", "acknowledge (delete) messages");
  inbox_ack->add_option("ID", options.message_ids, "message ids (or unique prefixes of them)");
  inbox_ack->add_flag("--all", options.ack_all, "every unacknowledged message (from --from only)");
  inbox_ack->add_option("--from", options.from,
                        "the sender, when several sent this id (with --all: only its messages)");
  auto* inbox_import =
      inbox->add_subcommand("import", "hand a sealed file (from e3xctl seal) to the inbox");
  inbox_import->add_option("FILE", options.in, "the sealed file (- for stdin)")->required();
  auto* seal = app.add_subcommand("seal", "seal a file for a peer (no daemon needed)");
  seal->add_option("--identity", options.identity, "your identity file")->required();
  seal->add_option("--to", options.key, "the recipient's base32 cipher set 3a key")->required();
  seal->add_option("--in", options.in, "the payload (- for stdin)")->required();
  seal->add_option("--out", options.out_file, "the sealed file to write (- for stdout)")
      ->required();
  seal->add_option("--id", options.id, "message id (default: random)");
  auto* open = app.add_subcommand(
      "open", "check and open a sealed file: payload to stdout, sender to stderr");
  open->add_option("--identity", options.identity, "your identity file")->required();
  open->add_option("--from", options.from, "the sender's base32 cipher set 3a key")->required();
  open->add_option("--in", options.in, "the sealed file (- for stdin)")->required();
  auto* ping = app.add_subcommand("ping", "ask a peer which address it sees us at");
  ping->add_option("PEER", options.peer, "peer name or hashname")->required();
  ping->add_option("--count", options.count, "probes to send, one a second (default 1)")
      ->check(CLI::Range(1, 3600));
  auto* speedtest = app.add_subcommand(
      "speedtest", "stream channel data to a peer as fast as possible; report what arrived");
  speedtest->add_option("PEER", options.peer, "peer name or hashname")->required();
  speedtest->add_option("--seconds", options.seconds, "how long to send (1-300, default 10)");
  speedtest->add_option("--size", options.size,
                        "bytes of each channel packet's INNER (32-1400, default 1400)");
  auto* connect = app.add_subcommand(
      "connect", "join stdin and stdout to a stream to a peer's service (e.g. ssh ProxyCommand)");
  connect->add_option("PEER", options.peer, "peer name or hashname")->required();
  connect->add_option("SERVICE", options.service, "the peer's service name")->required();
  auto* services = app.add_subcommand("services", "list our services and who may use them");
  auto* forwards =
      app.add_subcommand("forwards", "list forwards: where they listen, connections, bytes");
  auto* streams = app.add_subcommand("streams", "list open streams");
  auto* routes = app.add_subcommand(
      "routes", "show the router: pairs of peers it introduced, what it relays for them");
  auto* mailbox = app.add_subcommand(
      "mailbox", "show the mailbox: whose sealed messages it holds, how many, how old");
  auto* metrics =
      app.add_subcommand("metrics", "print the daemon's counters in the Prometheus text format");
  auto* keygen = app.add_subcommand("keygen", "create a new identity file (mode 0600)");
  keygen->add_option("--out", options.out, "the identity file to create")->required();
  auto* hashname = app.add_subcommand("hashname", "print the hashname of a key or identity");
  auto* source = hashname->add_option_group("source", "the key (exactly one)");
  source->add_option("--key", options.key, "a base32 cipher set 3a public key");
  source->add_option("--identity", options.identity, "an identity file");
  source->require_option(1);

  const std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& arg : args) {
    if (arg == "--") break;
    if (arg == "--json") g_json = true;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    if (const std::string unknown = unknown_command(app, args); !unknown.empty()) {
      return fail(kExitUsage, unknown);
    }
    if (g_json) return fail(kExitUsage, e.what());
    app.exit(e);
    return kExitUsage;
  }

  const std::int64_t now = unix_now();
  if (*status) {
    return run_request(options, {{"cmd", "status"}}, for_object([](const json::object& result) {
                         return ctl::format_status(result);
                       }));
  }
  if (*peers) {
    return run_request(options, {{"cmd", "peers"}},
                       [now, &options](const json::value& result) -> std::optional<std::string> {
                         if (!result.is_array()) return std::nullopt;
                         return options.short_table
                                    ? ctl::format_peers_table(result.get_array(), now)
                                    : ctl::format_peers(result.get_array(), now);
                       });
  }
  if (*peer) {
    return run_request(
        options, {{"cmd", "peer"}, {"peer", options.peer}},
        for_object([now](const json::object& result) { return ctl::format_peer(result, now); }));
  }
  if (*watch) return cmd_watch(options);
  if (*reload) {
    return run_request(options, {{"cmd", "reload"}}, for_object([](const json::object& result) {
                         return ctl::format_reload(result);
                       }));
  }
  if (*send) return cmd_send(options);
  if (*outbox) return cmd_outbox(options, outbox_cancel->parsed());
  if (*inbox_read) return cmd_inbox_read(options);
  if (*inbox_ack) return cmd_inbox_ack(options);
  if (*inbox_import) return cmd_inbox_import(options);
  if (*inbox) {
    return run_request(options, {{"cmd", "inbox"}},
                       [now](const json::value& result) -> std::optional<std::string> {
                         if (!result.is_array()) return std::nullopt;
                         return ctl::format_inbox(result.get_array(), now);
                       });
  }
  if (*seal) return cmd_seal(options);
  if (*open) return cmd_open(options);
  if (*ping) {
    if (options.count > 1) return cmd_ping(options);
    const std::string target = options.peer;
    return run_request(options, {{"cmd", "ping"}, {"peer", options.peer}},
                       for_object([target](const json::object& result) {
                         return ctl::format_ping(result, target);
                       }));
  }
  if (*speedtest) {
    // The daemon answers after the test: allow its duration, the report, and some slack.
    const auto timeout = std::chrono::seconds(options.seconds) + std::chrono::seconds(15);
    return run_request(
        options,
        {{"cmd", "speedtest"},
         {"peer", options.peer},
         {"seconds", options.seconds},
         {"size", options.size}},
        for_object([](const json::object& result) { return ctl::format_speedtest(result); }),
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  }
  if (*connect) return cmd_connect(options);
  const auto list = [&](const char* cmd, std::string (*format)(const json::array&)) {
    return run_request(options, {{"cmd", cmd}},
                       [format](const json::value& result) -> std::optional<std::string> {
                         if (!result.is_array()) return std::nullopt;
                         return format(result.get_array());
                       });
  };
  if (*services) return list("services", ctl::format_services);
  if (*forwards) return list("forwards", ctl::format_forwards);
  if (*streams) return list("streams", ctl::format_streams);
  if (*routes) {
    return run_request(options, {{"cmd", "routes"}}, for_object([](const json::object& result) {
                         return ctl::format_routes(result);
                       }));
  }
  if (*mailbox) {
    return run_request(options, {{"cmd", "mailbox"}}, for_object([now](const json::object& result) {
                         return ctl::format_mailbox(result, now);
                       }));
  }
  if (*metrics) {
    // The text as the HTTP endpoint serves it; --json shows the result object around it.
    return run_request(options, {{"cmd", "metrics"}},
                       [](const json::value& result) -> std::optional<std::string> {
                         const json::value* text =
                             result.is_object() ? result.get_object().if_contains("text") : nullptr;
                         if (!text || !text->is_string()) return std::nullopt;
                         return std::string(text->get_string());
                       });
  }
  if (*keygen) return cmd_keygen(options);
  if (*hashname) return cmd_hashname(options);
  return kExitUsage;
}
