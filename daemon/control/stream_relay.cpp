#include "daemon/control/stream_relay.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

namespace e3x::control {

namespace {

constexpr std::size_t kChunk = 64 * 1024;

// Writes everything; false on an error (the other end went away).
bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

void relay_stdio(int connection, std::string early, RelayEnds ends) {
  ::signal(SIGPIPE, SIG_IGN);  // a closed connection is an error return, not a signal
  // Set before the half close, so it is true whenever the daemon can have seen our end: the
  // service may answer and the daemon close the whole connection at once, and a thread that
  // counted itself done only after shutdown() returned lost that race on a loaded machine.
  std::atomic<bool> input_all_sent{false};
  std::atomic<bool> input_cut{false};
  std::atomic<bool> upstream_done{false};
  // stdin -> connection, in its own thread so neither direction waits for the other (an
  // echoing service would otherwise deadlock both). EOF on stdin half-closes the connection.
  std::thread upstream([&] {
    std::vector<char> buffer(kChunk);
    while (true) {
      const ssize_t n = ::read(ends.input, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        input_cut = true;
        break;
      }
      if (n == 0) {
        input_all_sent = true;
        break;
      }
      if (!write_all(connection, buffer.data(), static_cast<std::size_t>(n))) {
        input_cut = true;
        break;
      }
    }
    ::shutdown(connection, SHUT_WR);
    if (ends.after_half_close) ends.after_half_close();
    upstream_done = true;
  });
  upstream.detach();  // it may sit in a read of stdin when we are done: we do not wait for it

  // connection -> stdout, until the peer's end.
  bool ok = write_all(ends.output, early.data(), early.size());
  std::vector<char> buffer(kChunk);
  while (ok) {
    const ssize_t n = ::read(connection, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    ok = write_all(ends.output, buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(ends.output);  // our reader sees the end of the stream
  if (!ok) {
    std::fprintf(stderr, "e3xctl: the stream was cut\n");
    std::_Exit(1);
  }
  // The peer ended its direction; ours may still be sending (a half close). We are done when
  // it finished, or when the daemon closed the whole connection (the stream is over or was
  // aborted), which poll reports as a hang-up.
  while (!upstream_done) {
    pollfd hangup{connection, 0, 0};
    const int ready = ::poll(&hangup, 1, 100);
    if (ready > 0 && (hangup.revents & (POLLHUP | POLLERR))) break;
    if (ready < 0 && errno != EINTR) break;
  }
  if (input_cut || !input_all_sent) {
    std::fprintf(stderr, "e3xctl: the stream ended before all input was sent\n");
    std::_Exit(1);
  }
  std::_Exit(0);
}

}  // namespace e3x::control
