// A small HTTP/1.1 server (Boost.Beast) that answers GET /metrics with a rendered text, for
// a Prometheus scraper ([metrics] listen, docs/config.md). It shares the daemon's one thread,
// so it is bounded against slow and hostile clients rather than trusted:
//   - at most max_connections at once; one more is accepted and closed at once, so a crowd of
//     idle connections cannot make the listen backlog hang everyone else;
//   - a request (line and headers) of at most max_request_bytes; a body is never read (a
//     request with one is answered, then its connection closed);
//   - request_timeout to send a whole request, counted from the connection's start or the end
//     of the previous answer, so a slowloris client or an idle keep-alive connection is closed;
//     response_timeout to take the whole answer;
//   - anything but a well-formed GET or HEAD of /metrics is answered 400, 404 or 405; a
//     request that cannot be parsed is answered 400 and its connection closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace e3x::daemon {

class MetricsHttpServer {
 public:
  struct Limits {
    std::size_t max_connections = 16;
    std::size_t max_request_bytes = 8 * 1024;
    std::chrono::milliseconds request_timeout{10'000};
    std::chrono::milliseconds response_timeout{10'000};
  };
  // What the server did since it started (tests and logs read it).
  struct Stats {
    std::uint64_t answered = 0;    // 200 answers to GET or HEAD /metrics
    std::uint64_t rejected = 0;    // 400, 404 and 405 answers
    std::uint64_t over_limit = 0;  // connections closed at once: max_connections were open
    std::uint64_t timed_out = 0;   // connections closed by request_ or response_timeout
  };
  // The body of a 200 answer; called on the io_context's thread, never after stop().
  using Render = std::function<std::string()>;

  MetricsHttpServer(boost::asio::io_context& io, Render render, Limits limits);
  explicit MetricsHttpServer(boost::asio::io_context& io, Render render)
      : MetricsHttpServer(io, std::move(render), Limits{}) {}
  ~MetricsHttpServer();  // stop()
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Binds `at` and starts accepting: "" on success, else why not ("address in use", ...).
  std::string listen(const boost::asio::ip::tcp::endpoint& at);
  // The bound address (its port when listen() was given port 0).
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Closes the listening socket and every connection. Handlers still queued find the server
  // stopped and do nothing, so the io_context runs out of work and `render` is not called.
  void stop();

  std::size_t connections() const;
  const Stats& stats() const;

 private:
  struct State;
  class Connection;
  static void accept(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

}  // namespace e3x::daemon
