// The control server over a real Unix socket in a temporary directory. Clients are raw Asio
// sockets on the same io_context; tests drive it with run_one_for/poll until a condition
// holds (no sleeps).
#include "daemon/control/control_server.hpp"
#include "daemon/control/control_client.hpp"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace e3x::control {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;
using Local = asio::local::stream_protocol;
using boost::system::error_code;

// Runs the io_context until `done()` holds, or fails after a generous deadline.
bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Runs every handler that is ready, until none is.
void drain(asio::io_context& io) {
  for (int i = 0; i < 10; ++i) {
    if (io.stopped()) io.restart();
    while (io.poll() > 0) {
    }
  }
}

// A raw client. Its state lives in a shared_ptr its handlers hold, so destroying the
// TestClient with operations outstanding is safe.
class TestClient {
 public:
  // read_lines: stop reading after this many lines (to play a client that stops reading).
  TestClient(asio::io_context& io, const fs::path& path, std::size_t read_lines = SIZE_MAX)
      : state_(std::make_shared<State>(io)) {
    state_->read_limit = read_lines;
    state_->socket.connect(Local::endpoint(path.string()), state_->connect_error);
    if (!state_->connect_error) read(state_);
  }
  ~TestClient() { close(); }

  bool connected() const { return !state_->connect_error; }
  void send(std::string data) {
    state_->out.push_back(std::move(data));
    if (state_->out.size() == 1) write(state_);
  }
  void send_request(const json::object& request) { send(json::serialize(request) + "\n"); }
  void shutdown_send() {
    error_code ignored;
    state_->socket.shutdown(Local::socket::shutdown_send, ignored);
  }
  void close() {
    error_code ignored;
    state_->socket.close(ignored);
  }

  const std::vector<std::string>& lines() const { return state_->lines; }
  json::value line_json(std::size_t i) const { return json::parse(state_->lines.at(i)); }
  bool eof() const { return state_->eof; }
  bool all_sent() const { return state_->out.empty(); }

 private:
  struct State {
    explicit State(asio::io_context& io) : socket(io) {}
    Local::socket socket;
    error_code connect_error;
    std::array<char, 65536> buffer{};
    std::string partial;
    std::vector<std::string> lines;
    std::size_t read_limit = SIZE_MAX;
    std::deque<std::string> out;
    bool eof = false;
  };

  static void read(const std::shared_ptr<State>& state) {
    state->socket.async_read_some(
        asio::buffer(state->buffer), [state](const error_code& ec, std::size_t n) {
          if (ec) {
            state->eof = true;
            return;
          }
          state->partial.append(state->buffer.data(), n);
          for (std::size_t nl; (nl = state->partial.find('\n')) != std::string::npos;) {
            state->lines.push_back(state->partial.substr(0, nl));
            state->partial.erase(0, nl + 1);
          }
          if (state->lines.size() < state->read_limit) read(state);
        });
  }

  static void write(const std::shared_ptr<State>& state) {
    asio::async_write(state->socket, asio::buffer(state->out.front()),
                      [state](const error_code& ec, std::size_t) {
                        if (ec) {
                          state->out.clear();
                          return;
                        }
                        state->out.pop_front();
                        if (!state->out.empty()) write(state);
                      });
  }

  std::shared_ptr<State> state_;
};

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "e3x-control-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class ControlServerTest : public ::testing::Test {
 protected:
  ControlServerTest() : socket_path_(dir_.path() / "control.sock") {}

  // The default handler: "echo" answers {"n":<n>}, "fail" answers an unknown_command error.
  void SetUp() override {
    handler_ = [](const Request& request, ControlServer::Respond respond) {
      if (request.cmd == "echo") {
        respond(json::value(json::object{{"n", request.args.at("n")}}));
      } else {
        respond(unexpected(ControlError{code::kUnknownCommand, "no command " + request.cmd}));
      }
    };
  }

  std::unique_ptr<ControlServer> make_server() {
    return std::make_unique<ControlServer>(
        io_, socket_path_, [this](const Request& request, ControlServer::Respond respond) {
          ++handled_;
          commands_.push_back(request.cmd);
          handler_(request, std::move(respond));
        });
  }

  void start_server() {
    server_ = make_server();
    ASSERT_EQ(server_->start(), "");
  }

  static json::object echo(int n) { return json::object{{"cmd", "echo"}, {"n", n}}; }

  static std::string error_code_in(const json::value& reply) {
    if (reply.at("ok").as_bool()) return "<ok>";
    return std::string(reply.at("error").at("code").as_string());
  }

  asio::io_context io_;
  TempDir dir_;
  fs::path socket_path_;
  std::function<void(const Request&, ControlServer::Respond)> handler_;
  int handled_ = 0;
  std::vector<std::string> commands_;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, RepliesComeInRequestOrder) {
  start_server();
  TestClient client(io_, socket_path_);
  ASSERT_TRUE(client.connected());
  // Three requests in one write: pipelined.
  client.send(json::serialize(echo(1)) + "\n" + json::serialize(json::object{{"cmd", "fail"}}) +
              "\n" + json::serialize(echo(3)) + "\n");
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 3; }));
  EXPECT_EQ(client.line_json(0), json::parse(R"({"ok":true,"result":{"n":1}})"));
  EXPECT_EQ(error_code_in(client.line_json(1)), "unknown_command");
  EXPECT_EQ(client.line_json(2), json::parse(R"({"ok":true,"result":{"n":3}})"));
  EXPECT_EQ(handled_, 3);
  EXPECT_EQ(server_->session_count(), 1u);
}

TEST_F(ControlServerTest, ManyPipelinedRequestsAreAllAnsweredInOrder) {
  start_server();
  TestClient client(io_, socket_path_);
  std::string burst;
  constexpr int kCount = 2000;
  for (int i = 0; i < kCount; ++i) burst += json::serialize(echo(i)) + "\n";
  client.send(burst);
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == kCount; }));
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(client.line_json(i).at("result").at("n").as_int64(), i);
  }
}

TEST_F(ControlServerTest, AnAsyncHandlerAnswersLaterAndHoldsBackTheNextRequest) {
  std::vector<ControlServer::Respond> pending;
  std::vector<std::int64_t> numbers;
  handler_ = [&](const Request& request, ControlServer::Respond respond) {
    numbers.push_back(request.args.at("n").as_int64());
    pending.push_back(std::move(respond));
  };
  start_server();
  TestClient client(io_, socket_path_);
  client.send_request(echo(1));
  client.send_request(echo(2));
  ASSERT_TRUE(run_until(io_, [&] { return handled_ == 1; }));
  drain(io_);
  // The second request waits until the first is answered.
  EXPECT_EQ(handled_, 1);
  EXPECT_TRUE(client.lines().empty());

  pending.at(0)(json::value(json::object{{"answer", 1}}));
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 1 && handled_ == 2; }));
  EXPECT_EQ(client.line_json(0), json::parse(R"({"ok":true,"result":{"answer":1}})"));
  // Answering twice is a no-op.
  pending.at(0)(json::value(json::object{{"answer", 99}}));
  drain(io_);
  EXPECT_EQ(client.lines().size(), 1u);

  pending.at(1)(unexpected(ControlError{code::kNotUp, "peer 'x' is not up"}));
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 2; }));
  EXPECT_EQ(error_code_in(client.line_json(1)), "not_up");
  EXPECT_EQ(numbers, (std::vector<std::int64_t>{1, 2}));
}

TEST_F(ControlServerTest, MalformedLinesGetErrorsAndTheConnectionKeepsWorking) {
  start_server();
  TestClient client(io_, socket_path_);
  client.send("this is not json\n[1,2]\n{}\n{\"cmd\":5}\n\n");
  client.send_request(echo(7));
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 6; }));
  EXPECT_EQ(error_code_in(client.line_json(0)), "bad_json");
  EXPECT_EQ(error_code_in(client.line_json(1)), "bad_request");
  EXPECT_EQ(error_code_in(client.line_json(2)), "bad_request");
  EXPECT_EQ(error_code_in(client.line_json(3)), "bad_request");
  EXPECT_EQ(error_code_in(client.line_json(4)), "bad_json");  // the empty line
  EXPECT_EQ(client.line_json(5), json::parse(R"({"ok":true,"result":{"n":7}})"));
  EXPECT_EQ(handled_, 1);  // only the well-formed request reached the handler
}

TEST_F(ControlServerTest, ALineOverTheLimitIsRefusedAndDiscardedUpToItsNewline) {
  start_server();
  TestClient client(io_, socket_path_);
  // Over kMaxLineBytes (128 KiB), and it would even be valid JSON if it were accepted.
  std::string huge =
      "{\"cmd\":\"echo\",\"n\":1,\"pad\":\"" + std::string(kMaxLineBytes + 36 * 1024, 'x') + "\"}";
  client.send(huge + "\n");
  client.send_request(echo(2));
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 2; }));
  EXPECT_EQ(error_code_in(client.line_json(0)), "line_too_long");
  EXPECT_EQ(client.line_json(1), json::parse(R"({"ok":true,"result":{"n":2}})"));
  EXPECT_EQ(handled_, 1);
  EXPECT_EQ(commands_, std::vector<std::string>{"echo"});
}

TEST_F(ControlServerTest, ALongLineArrivingInPiecesIsRefusedOnce) {
  start_server();
  TestClient client(io_, socket_path_);
  const std::string piece(16 * 1024, 'y');
  for (int i = 0; i < 12; ++i) {  // 192 KiB in pieces, the server sees it grow
    client.send(piece);
    ASSERT_TRUE(run_until(io_, [&] { return client.all_sent(); }));
    drain(io_);
  }
  client.send("\n");
  client.send_request(echo(3));
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 2; }));
  EXPECT_EQ(error_code_in(client.line_json(0)), "line_too_long");
  EXPECT_EQ(client.line_json(1).at("result").at("n").as_int64(), 3);
  drain(io_);
  EXPECT_EQ(client.lines().size(), 2u);
}

TEST_F(ControlServerTest, WatchStreamsBroadcastsAndNeverReachesTheHandler) {
  start_server();
  TestClient watcher(io_, socket_path_);
  TestClient other(io_, socket_path_);
  watcher.send_request(json::object{{"cmd", "watch"}});
  ASSERT_TRUE(run_until(io_, [&] { return watcher.lines().size() == 1; }));
  EXPECT_EQ(watcher.line_json(0), json::parse(R"({"ok":true,"result":{"watching":true}})"));
  ASSERT_TRUE(run_until(io_, [&] { return server_->session_count() == 2; }));

  const json::object up{{"event", "peer_up"}, {"time", 1714564803}, {"peer", "alpha"}};
  const json::object down{{"event", "peer_down"}, {"time", 1714564900}, {"reason", "timeout"}};
  server_->broadcast(up);
  server_->broadcast(down);
  ASSERT_TRUE(run_until(io_, [&] { return watcher.lines().size() == 3; }));
  EXPECT_EQ(watcher.line_json(1), json::value(up));
  EXPECT_EQ(watcher.line_json(2), json::value(down));

  // The non-watching client gets no events, and still gets replies.
  other.send_request(echo(5));
  ASSERT_TRUE(run_until(io_, [&] { return other.lines().size() == 1; }));
  EXPECT_EQ(other.line_json(0).at("result").at("n").as_int64(), 5);
  drain(io_);
  EXPECT_EQ(other.lines().size(), 1u);
  EXPECT_EQ(commands_, std::vector<std::string>{"echo"});

  // A watcher's connection still answers requests; replies and events are told apart by
  // their "ok" / "event" members.
  watcher.send_request(echo(6));
  ASSERT_TRUE(run_until(io_, [&] { return watcher.lines().size() == 4; }));
  EXPECT_TRUE(watcher.line_json(3).at("ok").as_bool());

  // A watcher that leaves is dropped.
  watcher.close();
  ASSERT_TRUE(run_until(io_, [&] { return server_->session_count() == 1; }));
  server_->broadcast(up);  // nobody to send to: harmless
  drain(io_);
}

TEST_F(ControlServerTest, TheSixtyFifthSessionIsToldBusyAndClosed) {
  start_server();
  std::vector<std::unique_ptr<TestClient>> clients;
  for (std::size_t i = 0; i < kMaxSessions; ++i) {
    clients.push_back(std::make_unique<TestClient>(io_, socket_path_));
    ASSERT_TRUE(clients.back()->connected());
  }
  ASSERT_TRUE(run_until(io_, [&] { return server_->session_count() == kMaxSessions; }));
  TestClient extra(io_, socket_path_);
  ASSERT_TRUE(extra.connected());
  ASSERT_TRUE(run_until(io_, [&] { return extra.eof(); }));
  ASSERT_EQ(extra.lines().size(), 1u);
  EXPECT_EQ(error_code_in(extra.line_json(0)), "busy");
  EXPECT_EQ(server_->session_count(), kMaxSessions);

  // The 64 are unaffected, and a place freed is a place available.
  clients.front()->send_request(echo(1));
  ASSERT_TRUE(run_until(io_, [&] { return clients.front()->lines().size() == 1; }));
  clients.back()->close();
  ASSERT_TRUE(run_until(io_, [&] { return server_->session_count() == kMaxSessions - 1; }));
  TestClient late(io_, socket_path_);
  late.send_request(echo(2));
  ASSERT_TRUE(run_until(io_, [&] { return late.lines().size() == 1; }));
  EXPECT_TRUE(late.line_json(0).at("ok").as_bool());
  EXPECT_FALSE(late.eof());
}

TEST_F(ControlServerTest, SocketIsMode0660AndStopRemovesIt) {
  start_server();
  struct stat st {};
  ASSERT_EQ(::lstat(socket_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  // The umask start() used for bind() was put back.
  const mode_t current = ::umask(022);
  ::umask(current);
  EXPECT_NE(current, 0117u);

  TestClient client(io_, socket_path_);
  ASSERT_TRUE(run_until(io_, [&] { return server_->session_count() == 1; }));
  server_->stop();
  EXPECT_FALSE(fs::exists(socket_path_));
  EXPECT_EQ(server_->session_count(), 0u);
  ASSERT_TRUE(run_until(io_, [&] { return client.eof(); }));
  server_->stop();  // idempotent
}

TEST_F(ControlServerTest, AStaleSocketFileIsReplaced) {
  {
    // A socket file nobody listens on any more, as a crashed e3xd leaves behind.
    Local::acceptor leftover(io_);
    leftover.open();
    leftover.bind(Local::endpoint(socket_path_.string()));
  }
  ASSERT_TRUE(fs::is_socket(fs::symlink_status(socket_path_)));
  start_server();
  TestClient client(io_, socket_path_);
  client.send_request(echo(9));
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 1; }));
  EXPECT_EQ(client.line_json(0).at("result").at("n").as_int64(), 9);
}

TEST_F(ControlServerTest, ALiveSocketIsRefused) {
  start_server();
  auto second = make_server();
  const std::string error = second->start();
  EXPECT_EQ(error, "another e3xd is running on " + socket_path_.string());
  second.reset();  // must not unlink the first server's socket
  EXPECT_TRUE(fs::exists(socket_path_));
  TestClient client(io_, socket_path_);
  client.send_request(echo(4));
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 1; }));
  EXPECT_TRUE(client.line_json(0).at("ok").as_bool());
}

TEST_F(ControlServerTest, SomethingElseAtThePathIsLeftAlone) {
  { std::ofstream(socket_path_) << "not a socket"; }
  server_ = make_server();
  const std::string error = server_->start();
  EXPECT_NE(error.find("not a socket"), std::string::npos) << error;
  EXPECT_TRUE(fs::is_regular_file(socket_path_));
  server_.reset();
  EXPECT_TRUE(fs::is_regular_file(socket_path_));
}

TEST_F(ControlServerTest, AMissingDirectoryIsAnError) {
  socket_path_ = dir_.path() / "missing" / "control.sock";
  server_ = make_server();
  const std::string error = server_->start();
  EXPECT_NE(error.find(socket_path_.string()), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
}

TEST_F(ControlServerTest, NoHandlerRunsAfterStopAndLateRespondsAreNoOps) {
  std::vector<ControlServer::Respond> pending;
  handler_ = [&](const Request&, ControlServer::Respond respond) {
    pending.push_back(std::move(respond));
  };
  start_server();
  TestClient client(io_, socket_path_);
  client.send_request(echo(1));
  client.send_request(echo(2));
  ASSERT_TRUE(run_until(io_, [&] { return handled_ == 1; }));
  server_->stop();
  pending.at(0)(json::value(1));  // would unblock the second request: must not
  ASSERT_TRUE(run_until(io_, [&] { return client.eof(); }));
  drain(io_);
  EXPECT_EQ(handled_, 1);
  EXPECT_TRUE(client.lines().empty());
  // A new connection is refused.
  TestClient after(io_, socket_path_);
  EXPECT_FALSE(after.connected());
}

TEST_F(ControlServerTest, AClientThatLeavesBeforeItsReplyIsDropped) {
  std::vector<ControlServer::Respond> pending;
  handler_ = [&](const Request&, ControlServer::Respond respond) {
    pending.push_back(std::move(respond));
  };
  start_server();
  {
    TestClient client(io_, socket_path_);
    client.send_request(echo(1));
    ASSERT_TRUE(run_until(io_, [&] { return handled_ == 1; }));
  }
  drain(io_);
  pending.at(0)(json::value(json::object{{"late", true}}));
  ASSERT_TRUE(run_until(io_, [&] { return server_->session_count() == 0; }));
  pending.at(0)(json::value(2));  // and again: still nothing happens
  drain(io_);
}

TEST_F(ControlServerTest, AHalfClosedClientGetsItsRepliesIncludingAnUnterminatedLast) {
  start_server();
  TestClient client(io_, socket_path_);
  client.send(json::serialize(echo(1)) + "\n" + json::serialize(echo(2)));  // no final newline
  client.shutdown_send();
  ASSERT_TRUE(run_until(io_, [&] { return client.eof(); }));
  ASSERT_EQ(client.lines().size(), 2u);
  EXPECT_EQ(client.line_json(0).at("result").at("n").as_int64(), 1);
  EXPECT_EQ(client.line_json(1).at("result").at("n").as_int64(), 2);
  ASSERT_TRUE(run_until(io_, [&] { return server_->session_count() == 0; }));
}

TEST_F(ControlServerTest, AHandlerThatThrowsGetsAnInternalError) {
  handler_ = [](const Request&, ControlServer::Respond) { throw std::runtime_error("boom"); };
  start_server();
  TestClient client(io_, socket_path_);
  client.send_request(echo(1));
  client.send_request(echo(2));
  ASSERT_TRUE(run_until(io_, [&] { return client.lines().size() == 2; }));
  EXPECT_EQ(error_code_in(client.line_json(0)), "internal");
  EXPECT_EQ(client.line_json(0).at("error").at("message").as_string(), "boom");
  EXPECT_EQ(error_code_in(client.line_json(1)), "internal");
}

TEST_F(ControlServerTest, AWatcherThatDoesNotReadIsDisconnected) {
  start_server();
  TestClient slow(io_, socket_path_, /*read_lines=*/1);  // reads the watch reply, then stops
  TestClient fast(io_, socket_path_);
  slow.send_request(json::object{{"cmd", "watch"}});
  fast.send_request(json::object{{"cmd", "watch"}});
  ASSERT_TRUE(run_until(io_, [&] { return slow.lines().size() == 1 && fast.lines().size() == 1; }));

  constexpr int kEvents = 24;  // 12 MiB: well past the 4 MiB queue plus socket buffers
  const json::object event{{"event", "message"}, {"body_base64", std::string(512 * 1024, 'A')}};
  for (int i = 0; i < kEvents; ++i) {
    server_->broadcast(event);
    drain(io_);
  }
  ASSERT_TRUE(run_until(io_, [&] { return server_->session_count() == 1; }));
  ASSERT_TRUE(run_until(io_, [&] { return fast.lines().size() == 1 + kEvents; }));
  EXPECT_FALSE(fast.eof());
}

TEST_F(ControlServerTest, DestroyingTheServerWithOperationsOutstandingIsSafe) {
  std::vector<ControlServer::Respond> pending;
  handler_ = [&](const Request&, ControlServer::Respond respond) {
    pending.push_back(std::move(respond));
  };
  start_server();
  TestClient waiting(io_, socket_path_);
  TestClient watcher(io_, socket_path_);
  TestClient idle(io_, socket_path_);
  waiting.send_request(echo(1));
  watcher.send_request(json::object{{"cmd", "watch"}});
  ASSERT_TRUE(run_until(io_, [&] { return handled_ == 1 && watcher.lines().size() == 1; }));
  server_->broadcast(json::object{{"event", "reload"}});  // a write may be in flight
  server_.reset();
  EXPECT_FALSE(fs::exists(socket_path_));
  pending.at(0)(json::value(1));
  ASSERT_TRUE(run_until(io_, [&] { return waiting.eof() && watcher.eof() && idle.eof(); }));
  drain(io_);
  EXPECT_TRUE(waiting.lines().empty());
}

TEST_F(ControlServerTest, AHandlerMayStopTheServer) {
  handler_ = [&](const Request&, ControlServer::Respond respond) {
    server_->stop();
    respond(json::value(1));  // after stop: a no-op
  };
  start_server();
  TestClient client(io_, socket_path_);
  client.send_request(echo(1));
  client.send_request(echo(2));
  ASSERT_TRUE(run_until(io_, [&] { return client.eof(); }));
  drain(io_);
  EXPECT_EQ(handled_, 1);
  EXPECT_TRUE(client.lines().empty());
}

// e3xctl's synchronous client, run on a thread while the test drives the server.
TEST_F(ControlServerTest, TheClientTalksToTheServer) {
  start_server();
  std::atomic<bool> done = false;
  std::atomic<bool> watching = false;
  std::string connect_error = "unset";
  std::optional<json::object> reply;
  std::optional<std::string> event;
  std::thread thread([&] {
    ControlClient client;
    connect_error = client.connect(socket_path_);
    if (connect_error.empty()) {
      if (auto r = client.request(echo(11))) reply = *r;
      auto w = client.request(json::object{{"cmd", "watch"}});
      watching = w.has_value();
      if (auto line = client.read_line()) event = *line;
    }
    done = true;
  });
  ASSERT_TRUE(run_until(io_, [&] { return watching.load() || done.load(); }));
  server_->broadcast(json::object{{"event", "peer_up"}, {"time", 1}});
  const bool finished = run_until(io_, [&] { return done.load(); });
  thread.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(connect_error, "");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(json::value(*reply), json::parse(R"({"ok":true,"result":{"n":11}})"));
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(json::parse(*event), json::parse(R"({"event":"peer_up","time":1})"));
}

TEST_F(ControlServerTest, TheClientGivesUpOnASilentDaemon) {
  std::vector<ControlServer::Respond> pending;
  handler_ = [&](const Request&, ControlServer::Respond respond) {
    pending.push_back(std::move(respond));
  };
  start_server();
  std::atomic<bool> done = false;
  std::string error;
  std::thread thread([&] {
    ControlClient client;
    client.set_request_timeout(std::chrono::milliseconds(200));
    if (client.connect(socket_path_).empty()) {
      auto r = client.request(echo(1));
      if (!r) error = r.error();
    }
    done = true;
  });
  const bool finished = run_until(io_, [&] { return done.load(); });
  thread.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(error, "e3xd at " + socket_path_.string() + " did not answer within 200 ms");
}

TEST(ControlClient, AMissingSocketIsReportedWithAHint) {
  ControlClient client;
  const std::string error = client.connect("/nonexistent-e3x-dir/control.sock");
  EXPECT_EQ(error,
            "cannot reach e3xd at /nonexistent-e3x-dir/control.sock: No such file or directory "
            "(is e3xd running? use -s SOCKET to choose another socket)");
  EXPECT_FALSE(client.connected());
  EXPECT_FALSE(client.request(json::object{{"cmd", "status"}}).has_value());
}

}  // namespace
}  // namespace e3x::control
