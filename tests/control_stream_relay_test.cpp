// e3xctl connect's relay (daemon/control/stream_relay.cpp), run in a child process as e3xctl
// runs it, with pipes for its standard input and output and this test as the daemon's end of
// the connection.
#include "daemon/control/stream_relay.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace {

using e3x::control::RelayEnds;

std::string read_to_end(int fd) {
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

void write_text(int fd, const std::string& text) {
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
}

// The relay in a child: `input` is what its standard input gives (ended when `end_input`),
// `early` what e3xctl had already read from the connection.
struct RelayChild {
  pid_t pid = -1;
  int connection = -1;    // the daemon's end (ours)
  int input_writer = -1;  // the relay's standard input, our end
  int output_reader = -1;
  int error_reader = -1;

  RelayChild(const std::string& input, bool end_input, std::string early,
             std::function<void()> after_half_close) {
    int pair[2], in[2], out[2], err[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    EXPECT_EQ(::pipe(in), 0);
    EXPECT_EQ(::pipe(out), 0);
    EXPECT_EQ(::pipe(err), 0);
    pid = ::fork();
    if (pid == 0) {
      ::close(pair[0]);
      ::close(in[1]);
      ::close(out[0]);
      ::close(err[0]);
      ::dup2(err[1], STDERR_FILENO);
      RelayEnds ends;
      ends.input = in[0];
      ends.output = out[1];
      ends.after_half_close = std::move(after_half_close);
      e3x::control::relay_stdio(pair[1], std::move(early), std::move(ends));
    }
    ::close(pair[1]);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    connection = pair[0];
    input_writer = in[1];
    output_reader = out[0];
    error_reader = err[0];
    write_text(input_writer, input);
    if (end_input) {
      ::close(input_writer);
      input_writer = -1;
    }
  }

  // The relay's exit status, once it ended.
  int exit_status() {
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    return WEXITSTATUS(status);
  }

  ~RelayChild() {
    for (int fd : {connection, input_writer, output_reader, error_reader})
      if (fd >= 0) ::close(fd);
  }
};

// A service that reads its whole request, answers and closes: the daemon then closes the
// control connection at once. On a loaded machine e3xctl's input thread can be descheduled
// right after its half close, before it counts itself finished; the relay must still know all
// input was sent (it once said "the stream ended before all input was sent", making the
// README's demo fail now and then). The pause stands in for the descheduled thread.
TEST(StreamRelay, AnAnswerAndCloseRightAfterOurEndIsACleanEnd) {
  RelayChild relay("hi from alice", true, "",
                   [] { std::this_thread::sleep_for(std::chrono::milliseconds(500)); });
  EXPECT_EQ(read_to_end(relay.connection), "hi from alice");  // ends at our half close
  write_text(relay.connection, "got 13 bytes");
  ::close(relay.connection);
  relay.connection = -1;
  EXPECT_EQ(read_to_end(relay.output_reader), "got 13 bytes");
  EXPECT_EQ(relay.exit_status(), 0);
  EXPECT_EQ(read_to_end(relay.error_reader), "");
}

// What was read with the daemon's reply comes first; the request reaches the service whole.
TEST(StreamRelay, EarlyBytesComeFirstAndTheRequestArrivesWhole) {
  const std::string request(200'000, 'r');  // larger than a pipe and a chunk
  RelayChild relay("", false, "early:", {});
  std::thread feeder([&] {
    write_text(relay.input_writer, request);
    ::close(relay.input_writer);
    relay.input_writer = -1;
  });
  EXPECT_EQ(read_to_end(relay.connection), request);
  feeder.join();
  write_text(relay.connection, "answer");
  ::shutdown(relay.connection, SHUT_WR);
  EXPECT_EQ(read_to_end(relay.output_reader), "early:answer");
  EXPECT_EQ(relay.exit_status(), 0);
}

// The daemon closes the connection (the stream was aborted) while standard input has not
// ended: the user hears that not everything was sent, and the status says so.
TEST(StreamRelay, AConnectionClosedWhileInputRemainsIsReportedCut) {
  RelayChild relay("part one", false, "", {});
  char buffer[8];
  ASSERT_EQ(::recv(relay.connection, buffer, sizeof buffer, MSG_WAITALL), 8);
  ::close(relay.connection);
  relay.connection = -1;
  EXPECT_EQ(read_to_end(relay.output_reader), "");
  EXPECT_EQ(relay.exit_status(), 1);
  EXPECT_EQ(read_to_end(relay.error_reader),
            "e3xctl: the stream ended before all input was sent\n");
}

}  // namespace
