// e3xd: the E3X daemon. See the README for the command line and docs/config.md for the
// configuration file.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <iostream>
#include <vector>

#include "config/config.hpp"
#include "daemon/host/host.hpp"
#include "daemon/host/preflight.hpp"
#include "daemon/support/build_info.hpp"
#include "daemon/support/logging.hpp"

namespace {

using e3x::daemon::kExitConfig;
using e3x::daemon::kExitNoInput;

int exit_code_for(const e3x::config::ConfigError& error) {
  return error.kind == e3x::config::ConfigError::Kind::kUnreadable ? kExitNoInput : kExitConfig;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"e3xd: the End-to-End Encrypted eXchange (E3X) daemon"};
  std::string config_file;
  std::string check_file;
  std::string log_level_text;
  app.add_option("-c,--config", config_file,
                 "configuration file (TOML); without it e3xd runs on its embedded default "
                 "(state in ./e3xd-state, UDP on 127.0.0.1:42424)");
  app.add_option("--check-config", check_file, "validate FILE, print what is wrong, and exit");
  app.add_option("--log-level", log_level_text,
                 "trace|debug|info|warn|error (overrides the config)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_flag_callback(
      "--version",
      [] {
        std::cout << "e3xd " << e3x::e3xd_version() << "\n";
        throw CLI::Success();
      },
      "print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : e3x::daemon::kExitUsage;
  }

  if (!check_file.empty()) {
    auto checked = e3x::config::load_config(check_file);
    if (!checked) {
      std::cerr << "e3xd: " << checked.error().to_string() << "\n";
      return exit_code_for(checked.error());
    }
    // Then what would fail at start although the file is right: every problem is printed,
    // and the exit code is the first one's (the code e3xd would exit with).
    std::vector<e3x::daemon::PreflightProblem> problems;
    if (auto problem = e3x::daemon::check_identity(checked->identity)) problems.push_back(*problem);
    if (e3x::daemon::control_socket_answers(checked->control_socket)) {
      // Checking the config of the running daemon before a reload: its socket and ports are
      // its own, not a conflict.
      std::cout << "note: an e3xd is running on " << checked->control_socket.string()
                << "; the control socket and listen addresses are its own and were not "
                   "checked\n";
    } else {
      if (auto problem = e3x::daemon::check_control_socket(checked->control_socket)) {
        problems.push_back(*problem);
      }
      for (auto& problem : e3x::daemon::check_listen_addresses(*checked)) {
        problems.push_back(std::move(problem));
      }
    }
    for (const auto& problem : problems) std::cerr << "e3xd: " << problem.message << "\n";
    if (!problems.empty()) return problems.front().exit_code;
    std::cout << check_file << ": ok (" << checked->peers.size() << " peer(s))\n";
    return 0;
  }

  auto config = config_file.empty() ? e3x::Result<e3x::config::Config, e3x::config::ConfigError>(
                                          e3x::config::default_config())
                                    : e3x::config::load_config(config_file);
  if (!config) {
    std::cerr << "e3xd: " << config.error().to_string() << "\n";
    return exit_code_for(config.error());
  }
  if (!log_level_text.empty()) config->log_level = *e3x::config::parse_log_level(log_level_text);
  e3x::daemon::setup_logging(config->log_level);
  if (config_file.empty()) spdlog::info("no --config given: running on the embedded default");

  boost::asio::io_context io;
  e3x::daemon::Host host(io, std::move(*config), config_file);
  if (auto error = host.start()) {
    spdlog::error("{}", error->message);
    return error->exit_code;
  }
  try {
    io.run();
  } catch (const std::exception& error) {
    spdlog::critical("unexpected failure: {}", error.what());
    return e3x::daemon::kExitRuntime;
  }
  spdlog::info("stopped");
  return 0;
}
