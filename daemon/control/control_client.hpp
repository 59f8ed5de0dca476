// A small synchronous client for the control socket (docs/control-protocol.md), as e3xctl
// uses it: connect, send one request line, read its reply line; or, after "watch", read
// event lines for as long as the daemon sends them. Blocking POSIX I/O, no threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>

#include <boost/json/object.hpp>

#include "core/result.hpp"

namespace e3x::control {

class ControlClient {
 public:
  static constexpr std::chrono::milliseconds kDefaultRequestTimeout{10'000};
  // A reply or event line longer than this is treated as a broken connection.
  static constexpr std::size_t kMaxReplyBytes = 64 * 1024 * 1024;

  ControlClient() = default;
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // Connects to the daemon's socket. Returns "" on success, or a message for the user:
  // "cannot reach e3xd at <path>: <reason> (is e3xd running? use -s SOCKET to choose another
  // socket)" (with a hint about group membership instead when permission is denied).
  std::string connect(const std::filesystem::path& socket_path);

  // Sends one request and waits (at most the request timeout) for its reply line. The value
  // is the whole reply object ({"ok":true,"result":..} or {"ok":false,"error":{..}}); the
  // error is a message about the connection (timeout, closed, malformed reply, too large).
  Result<boost::json::object, std::string> request(const boost::json::object& request);

  // The next line the daemon sends, without its newline, waiting as long as it takes (for
  // "watch"). The error says the connection closed or failed.
  Result<std::string, std::string> read_line();

  void set_request_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  bool connected() const { return fd_ >= 0; }
  void close();

 private:
  // timeout_ms < 0: wait forever.
  Result<std::string, std::string> read_line_within(int timeout_ms);

  int fd_ = -1;
  std::string path_;
  std::string inbuf_;
  std::chrono::milliseconds timeout_ = kDefaultRequestTimeout;
};

}  // namespace e3x::control
