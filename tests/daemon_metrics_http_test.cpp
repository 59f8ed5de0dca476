// The [metrics] HTTP server (daemon/modules/metrics/http_server.hpp) against well-behaved,
// hostile and slow clients. The server runs on this thread's io_context as in e3xd; each
// test's client runs on another thread with blocking sockets, then stops the server, so the
// io_context running out of work also proves that stop() ends every connection.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <functional>
#include <thread>

#include "daemon/modules/metrics/http_server.hpp"

namespace e3x::daemon {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr const char* kBody = "# TYPE m gauge\nm 1\n";

// A blocking client connection whose reads give up after five seconds.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval timeout{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  void send(std::string_view bytes) {
    boost::system::error_code ignored;
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ignored);
  }
  // Everything until the server closes the connection; "TIMEOUT" if it does not in 5 s.
  // (recv itself: Asio's blocking read would wait past SO_RCVTIMEO.)
  std::string read_all() {
    std::string out;
    char buffer[4096];
    for (;;) {
      const ssize_t got = ::recv(socket_.native_handle(), buffer, sizeof buffer, 0);
      if (got > 0) {
        out.append(buffer, static_cast<std::size_t>(got));
        continue;
      }
      if (got == 0 || errno == ECONNRESET) return out;
      if (errno == EINTR) continue;
      return out + "TIMEOUT";
    }
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
};

class MetricsHttp : public testing::Test {
 protected:
  void start(MetricsHttpServer::Limits limits = {}) {
    server_ = std::make_unique<MetricsHttpServer>(
        io_,
        [this] {
          ++renders_;
          return std::string(kBody);
        },
        limits);
    ASSERT_EQ(server_->listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), "");
    port_ = server_->local_endpoint().port();
  }
  // Runs `client` on its own thread while this one serves; then stops the server and returns
  // once every connection has ended.
  void run(const std::function<void()>& client) {
    std::thread thread([&] {
      client();
      asio::post(io_, [this] { server_->stop(); });
    });
    io_.run();
    thread.join();
  }
  std::string exchange(std::string_view request) {
    Client client(port_);
    client.send(request);
    return client.read_all();
  }

  asio::io_context io_;
  std::unique_ptr<MetricsHttpServer> server_;
  std::uint16_t port_ = 0;
  int renders_ = 0;
};

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST_F(MetricsHttp, GetMetricsAnswersTheTextAndHeadItsLength) {
  start();
  std::string get, head;
  run([&] {
    get = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    head = exchange("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  });
  EXPECT_TRUE(starts_with(get, "HTTP/1.1 200 OK\r\n")) << get;
  EXPECT_NE(get.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_TRUE(get.ends_with(std::string("\r\n\r\n") + kBody)) << get;
  EXPECT_TRUE(starts_with(head, "HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_NE(head.find("Content-Length: " + std::to_string(std::string(kBody).size())),
            std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;  // no body
  EXPECT_EQ(server_->stats().answered, 2u);
}

TEST_F(MetricsHttp, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  std::string answers;
  run([&] {
    answers = exchange(
        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  });
  std::size_t count = 0;
  for (std::size_t at = 0; (at = answers.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at)
    ++count;
  EXPECT_EQ(count, 2u) << answers;
  EXPECT_EQ(renders_, 2);
}

TEST_F(MetricsHttp, OtherPathsMethodsAndBodiesAreRefused) {
  start();
  std::string other_path, post, get_with_body;
  run([&] {
    other_path = exchange("GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    // Not read: the body. The connection closes after the answer.
    post = exchange("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    get_with_body = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  });
  EXPECT_TRUE(starts_with(other_path, "HTTP/1.1 404 Not Found\r\n")) << other_path;
  EXPECT_TRUE(starts_with(post, "HTTP/1.1 405 Method Not Allowed\r\n")) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
  EXPECT_TRUE(starts_with(get_with_body, "HTTP/1.1 400 Bad Request\r\n")) << get_with_body;
  EXPECT_EQ(renders_, 0);
  EXPECT_EQ(server_->stats().rejected, 3u);
}

TEST_F(MetricsHttp, GarbageAndOversizedRequestsAreAnswered400AndTheServerCarriesOn) {
  MetricsHttpServer::Limits limits;
  limits.max_request_bytes = 1024;
  start(limits);
  std::string garbage, binary, oversized, after;
  run([&] {
    garbage = exchange("GARBAGE\r\n\r\n");
    binary = exchange(std::string("\x00\xff\x16\x03\x01\r\n\r\n", 8));  // a TLS hello, say
    oversized = exchange("GET /metrics HTTP/1.1\r\nX: " + std::string(4096, 'a') + "\r\n\r\n");
    after = exchange("GET /metrics HTTP/1.0\r\n\r\n");
  });
  EXPECT_TRUE(starts_with(garbage, "HTTP/1.1 400 Bad Request\r\n")) << garbage;
  EXPECT_TRUE(starts_with(binary, "HTTP/1.1 400 Bad Request\r\n")) << binary;
  // The server answers as soon as the limit passes, so the client may see a reset instead.
  EXPECT_TRUE(oversized.empty() || starts_with(oversized, "HTTP/1.1 400 Bad Request\r\n"))
      << oversized;
  EXPECT_EQ(oversized.find("TIMEOUT"), std::string::npos);
  EXPECT_TRUE(starts_with(after, "HTTP/1.1 200 OK\r\n")) << after;
  EXPECT_EQ(renders_, 1);
}

TEST_F(MetricsHttp, SlowAndIdleClientsAreClosedAfterTheRequestTimeout) {
  MetricsHttpServer::Limits limits;
  limits.request_timeout = 300ms;
  start(limits);
  std::string slow, idle;
  std::chrono::steady_clock::duration slow_took{};
  run([&] {
    const auto began = std::chrono::steady_clock::now();
    Client slowloris(port_);
    Client silent(port_);
    // A header a byte at a time, never finished: the deadline is for the whole request.
    for (int i = 0; i < 3; ++i) {
      slowloris.send(i == 0 ? "GET /metrics HTTP/1.1\r\n" : "X: y\r\n");
      std::this_thread::sleep_for(150ms);
    }
    slow = slowloris.read_all();
    slow_took = std::chrono::steady_clock::now() - began;
    idle = silent.read_all();
  });
  EXPECT_EQ(slow, "");  // closed without an answer
  EXPECT_EQ(idle, "");
  EXPECT_LT(slow_took, 3s);
  EXPECT_EQ(server_->stats().timed_out, 2u);
  EXPECT_EQ(renders_, 0);
}

TEST_F(MetricsHttp, ConnectionsOverTheLimitAreClosedAtOnce) {
  MetricsHttpServer::Limits limits;
  limits.max_connections = 2;
  start(limits);
  std::string third, after_one_left;
  run([&] {
    auto first = std::make_unique<Client>(port_);
    Client second(port_);
    third = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    // The first one goes; a new client is served again.
    first->send("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(starts_with(first->read_all(), "HTTP/1.1 200 OK\r\n"));
    first.reset();
    for (int attempt = 0; attempt < 50 && !starts_with(after_one_left, "HTTP/1.1 200"); ++attempt) {
      after_one_left = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    }
  });
  EXPECT_EQ(third, "");
  EXPECT_TRUE(starts_with(after_one_left, "HTTP/1.1 200 OK\r\n")) << after_one_left;
  EXPECT_GE(server_->stats().over_limit, 1u);
}

TEST_F(MetricsHttp, ListeningOnABusyPortFailsWithTheReason) {
  start();
  MetricsHttpServer other(io_, [] { return std::string(); });
  const std::string error = other.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  EXPECT_NE(error, "");
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  server_->stop();
  other.stop();
  io_.run();
}

}  // namespace
}  // namespace e3x::daemon
