#include "daemon/control/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "daemon/control/control_protocol.hpp"

namespace e3x::control {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

ControlClient::~ControlClient() {
  close();
}

void ControlClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  inbuf_.clear();
}

std::string ControlClient::connect(const std::filesystem::path& socket_path) {
  close();
  path_ = socket_path.native();
  const std::string prefix = "cannot reach e3xd at " + path_ + ": ";
  sockaddr_un address{};
  if (path_.size() >= sizeof(address.sun_path)) {
    return prefix + "the path is too long for a Unix socket (at most " +
           std::to_string(sizeof(address.sun_path) - 1) + " bytes)";
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return prefix + std::strerror(errno);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EACCES || error == EPERM) {
      return prefix + std::strerror(error) +
             " (run e3xctl as root or as a member of the socket's group)";
    }
    return prefix + std::strerror(error) +
           " (is e3xd running? use -s SOCKET to choose another socket)";
  }
  fd_ = fd;
  return "";
}

Result<boost::json::object, std::string> ControlClient::request(
    const boost::json::object& request) {
  if (fd_ < 0) return unexpected(std::string("not connected to e3xd"));
  std::string line = boost::json::serialize(request);
  if (line.size() > kMaxLineBytes) {
    return unexpected("the request is " + std::to_string(line.size()) +
                      " bytes; the control socket takes at most " + std::to_string(kMaxLineBytes));
  }
  line.push_back('\n');
  std::size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      close();
      return unexpected("cannot send to e3xd at " + path_ + ": " + reason);
    }
    sent += static_cast<std::size_t>(n);
  }
  auto reply_line = read_line_within(static_cast<int>(timeout_.count()));
  if (!reply_line) return unexpected(reply_line.error());
  boost::system::error_code ec;
  boost::json::value reply = boost::json::parse(*reply_line, ec);
  if (ec || !reply.is_object() || !reply.get_object().contains("ok") ||
      !reply.get_object().at("ok").is_bool()) {
    close();
    return unexpected("e3xd at " + path_ + " sent a malformed reply");
  }
  return std::move(reply.get_object());
}

Result<std::string, std::string> ControlClient::read_line() {
  return read_line_within(-1);
}

Result<std::string, std::string> ControlClient::read_line_within(int timeout_ms) {
  if (fd_ < 0) return unexpected(std::string("not connected to e3xd"));
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::size_t scanned = 0;
  for (;;) {
    const std::size_t newline = inbuf_.find('\n', scanned);
    if (newline != std::string::npos) {
      std::string line = inbuf_.substr(0, newline);
      inbuf_.erase(0, newline + 1);
      return line;
    }
    scanned = inbuf_.size();
    if (inbuf_.size() > kMaxReplyBytes) {
      close();
      return unexpected("e3xd at " + path_ + " sent a line longer than " +
                        std::to_string(kMaxReplyBytes) + " bytes");
    }
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        close();
        const std::string limit = timeout_ms % 1000 == 0 ? std::to_string(timeout_ms / 1000) + " s"
                                                         : std::to_string(timeout_ms) + " ms";
        return unexpected("e3xd at " + path_ + " did not answer within " + limit);
      }
      wait_ms = static_cast<int>(left);
    }
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      close();
      return unexpected("cannot wait for e3xd: " + reason);
    }
    if (ready == 0) continue;  // the deadline check above reports it
    char buffer[16384];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      const std::string reason = std::strerror(errno);
      close();
      return unexpected("lost the connection to e3xd at " + path_ + ": " + reason);
    }
    if (n == 0) {
      close();
      return unexpected("e3xd at " + path_ + " closed the connection");
    }
    inbuf_.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace e3x::control
