// The control socket: a Unix stream socket speaking the line protocol of control_protocol.hpp
// (docs/control-protocol.md). It parses requests, hands each to the daemon's Handler and
// writes the replies; it runs "watch" itself and fans broadcast() events out to watchers.
//
// Threading: everything runs on the io_context's one thread. Construct, call and destroy the
// server on that thread; the io_context must outlive the server. Destroying the server (or
// stop()) with asynchronous operations outstanding is safe: they complete as no-ops.
//
// "watch" makes a connection a watcher: it gets {"watching":true}, then every broadcast()
// event, until it closes its end (a half-close ends the watch too).
//
// Per connection, requests are handled one at a time in order: the next line is parsed only
// after the previous request's Respond was called, so replies come back in request order.
// Bounds: kMaxSessions connections (one more gets a "busy" error and is closed), request lines
// up to kMaxLineBytes (a longer one gets "line_too_long" and is discarded up to its newline),
// and kMaxQueuedBytes of unsent output per connection (a watcher that does not read is
// disconnected; a client that does not read its replies is not read from until it does).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/result.hpp"
#include "daemon/control/control_protocol.hpp"

namespace e3x::control {

inline constexpr std::size_t kMaxSessions = 64;
inline constexpr std::size_t kMaxQueuedBytes = 4 * 1024 * 1024;

class ControlServer {
 public:
  using Reply = Result<boost::json::value, ControlError>;
  // Answers one request. Call it exactly once, now or later (from the io_context's thread).
  // Calls after the first, after the client left, or after stop() are no-ops.
  using Respond = std::function<void(Reply)>;
  // Called for every well-formed request except "watch" (which the server answers itself).
  using Handler = std::function<void(const Request&, Respond)>;

  ControlServer(boost::asio::io_context& io, std::filesystem::path socket_path, Handler handler);
  ~ControlServer();  // stop()
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and listens on the socket path with mode 0660 (bound under umask 0117, then chmod),
  // so the file is never group-executable or accessible to others at any moment. An existing
  // socket file that nobody accepts on (stale) is removed first; if a process answers on it,
  // fails with "another e3xd is running on <path>". Anything else at the path (a regular file,
  // a directory) is left alone and reported. The parent directory must exist. Returns "" on
  // success or an error message naming the path. Call at most once.
  std::string start();

  // Stops accepting, closes every session and unlinks the socket file (if it is still the one
  // start() created). No Handler call happens after stop() returns; pending Respond calls
  // become no-ops. Idempotent.
  void stop();

  // Queues `event` (as one event_line) to every session that issued "watch".
  void broadcast(const boost::json::object& event);

  // Open connections (watchers included, refused "busy" connections not).
  std::size_t session_count() const;

  const std::filesystem::path& socket_path() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// A failed reply, {"ok":false,"error":{"code":...,"message":...}}, for command handlers.
inline ControlServer::Reply error_reply(std::string code, std::string message) {
  return unexpected(ControlError{std::move(code), std::move(message)});
}

}  // namespace e3x::control
