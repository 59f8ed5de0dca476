// What `e3xd --check-config` checks beyond the file itself, so that a config it passes does
// not then fail at start: the identity file (usable, or creatable), the control socket (not
// in use) and the listen addresses (free to bind). Each check creates nothing: the identity
// is only inspected, and a port is bound for a moment and released.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/identity_file.hpp"

namespace e3x::daemon {

// The exit code e3xd gives for an identity file it cannot use (shared by start and the check).
int exit_code_for(config::IdentityError::Kind kind);

struct PreflightProblem {
  int exit_code;        // the kExit* code e3xd would exit with at start
  std::string message;  // a sentence naming the file or address and what to do
};

// An existing identity: as load_identity reads it (mode, well-formed), and owned by the user
// who checks (unless that is root, who may check for another user). A missing one: its
// directory, if it exists, must be writable; a missing directory is created at start (by
// e3xd, or by systemd's StateDirectory=), which is not checked here.
std::optional<PreflightProblem> check_identity(const std::filesystem::path& file);

// Whether a listener answers on `socket`: an e3xd is running there.
bool control_socket_answers(const std::filesystem::path& socket);

// The control socket path must not be held by a running e3xd, nor be something else.
std::optional<PreflightProblem> check_control_socket(const std::filesystem::path& socket);

// Binds every UDP and TCP listen address of `config`, and [metrics] listen, at once (as e3xd
// does: IPv6 only on an IPv6 address, address reuse for TCP) and releases them; one problem
// per address that cannot be bound, e.g. "udp listen 127.0.0.1:42424 is in use (...): Address
// already in use".
std::vector<PreflightProblem> check_listen_addresses(const config::Config& config);

}  // namespace e3x::daemon
