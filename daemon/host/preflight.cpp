#include "daemon/host/preflight.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <cerrno>
#include <cstring>
#include <list>
#include <utility>
#include <vector>

#include "config/identity_file.hpp"
#include "daemon/host/host.hpp"

namespace e3x::daemon {

namespace asio = boost::asio;

namespace {

// "in use" for the error everyone meets; the system's words for the rest (EACCES: a port
// below 1024 without the capability).
std::string bind_problem(const char* kind, const std::string& address,
                         const boost::system::error_code& error) {
  if (error == asio::error::address_in_use) {
    return std::string(kind) + " listen " + address + " is in use (another e3xd, or another " +
           "program, listens there): " + error.message();
  }
  return std::string("cannot bind ") + kind + " listen " + address + ": " + error.message();
}

std::string text_of(const config::ListenAddress& listen) {
  const bool v6 = listen.ip.find(':') != std::string::npos;
  return (v6 ? "[" + listen.ip + "]" : listen.ip) + ":" + std::to_string(listen.port);
}

}  // namespace

std::optional<PreflightProblem> check_identity(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::symlink_status(file, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
    if (!std::filesystem::is_directory(dir, ec)) return std::nullopt;  // created at start
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      return PreflightProblem{kExitCantCreat, "identity file " + file.string() +
                                                  " does not exist and cannot be created: " +
                                                  dir.string() + ": " + std::strerror(errno)};
    }
    return std::nullopt;
  }
  auto identity = config::load_identity(file);
  if (!identity) {
    return PreflightProblem{exit_code_for(identity.error().kind), identity.error().message};
  }
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && ::geteuid() != 0 && st.st_uid != ::geteuid()) {
    return PreflightProblem{
        kExitNoPerm, "identity file " + file.string() + " is owned by uid " +
                         std::to_string(st.st_uid) + ", not by this user (uid " +
                         std::to_string(::geteuid()) + "): run e3xd as its owner, or chown it"};
  }
  return std::nullopt;
}

bool control_socket_answers(const std::filesystem::path& socket) {
  const std::string native = socket.string();
  sockaddr_un address{};
  if (native.size() >= sizeof(address.sun_path)) return false;
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, native.c_str(), native.size() + 1);
  const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  const int error = rc == 0 ? 0 : errno;
  ::close(probe);
  return rc == 0 || error == EAGAIN || error == EINPROGRESS;
}

std::optional<PreflightProblem> check_control_socket(const std::filesystem::path& socket) {
  struct stat st {};
  if (::lstat(socket.c_str(), &st) != 0) return std::nullopt;  // created at start
  if (!S_ISSOCK(st.st_mode)) {
    return PreflightProblem{kExitRuntime, "control socket " + socket.string() +
                                              " exists and is not a socket; e3xd will not "
                                              "replace it"};
  }
  if (control_socket_answers(socket)) {
    return PreflightProblem{kExitRuntime, "control socket " + socket.string() +
                                              " is in use: another e3xd is running there"};
  }
  return std::nullopt;  // a leftover of a stopped e3xd: removed at start
}

std::vector<PreflightProblem> check_listen_addresses(const config::Config& config) {
  std::vector<PreflightProblem> problems;
  asio::io_context io;
  // All held at once, as e3xd holds them: two addresses that collide with each other show.
  std::list<asio::ip::udp::socket> udp;
  std::list<asio::ip::tcp::acceptor> tcp;
  for (const auto& listen : config.udp.listen) {
    boost::system::error_code error;
    const auto ip = asio::ip::make_address(listen.ip, error);
    if (error) continue;  // the config parser has refused it already
    const asio::ip::udp::endpoint endpoint(ip, listen.port);
    auto& socket = udp.emplace_back(io);
    if (!socket.open(endpoint.protocol(), error) &&
        (!ip.is_v6() || !socket.set_option(asio::ip::v6_only(true), error))) {
      socket.bind(endpoint, error);
    }
    if (error) problems.push_back({kExitRuntime, bind_problem("udp", text_of(listen), error)});
  }
  std::vector<std::pair<const char*, config::ListenAddress>> tcp_listen;
  for (const auto& listen : config.tcp.listen) tcp_listen.emplace_back("tcp", listen);
  if (config.metrics.listen) tcp_listen.emplace_back("metrics", *config.metrics.listen);
  for (const auto& [kind, listen] : tcp_listen) {
    boost::system::error_code error;
    const auto ip = asio::ip::make_address(listen.ip, error);
    if (error) continue;
    const asio::ip::tcp::endpoint endpoint(ip, listen.port);
    auto& acceptor = tcp.emplace_back(io);
    if (!acceptor.open(endpoint.protocol(), error) &&
        !acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), error) &&
        (!ip.is_v6() || !acceptor.set_option(asio::ip::v6_only(true), error)) &&
        !acceptor.bind(endpoint, error)) {
      acceptor.listen(asio::socket_base::max_listen_connections, error);
    }
    if (error) problems.push_back({kExitRuntime, bind_problem(kind, text_of(listen), error)});
  }
  return problems;
}

int exit_code_for(config::IdentityError::Kind kind) {
  switch (kind) {
    case config::IdentityError::Kind::kInsecure:
      return kExitNoPerm;
    case config::IdentityError::Kind::kMalformed:
      return kExitDataErr;
    case config::IdentityError::Kind::kWriteFailed:
      return kExitCantCreat;
    case config::IdentityError::Kind::kMissing:
    case config::IdentityError::Kind::kUnreadable:
      return kExitNoInput;
  }
  return kExitRuntime;
}

}  // namespace e3x::daemon
