// `e3xctl connect`: once e3xd has accepted the request and switched the control connection to
// a raw byte stream (PROTOCOL.md 11: the stream to a peer's service), standard input and
// output become that stream, binary-safe: what stdin gives goes to the connection, and EOF on
// stdin half-closes it (the peer's application sees the end of its input); what the connection
// gives goes to stdout, whose end is the peer's end. So `ssh -o ProxyCommand='e3xctl connect
// %h ssh' host` works.
#pragma once

#include <unistd.h>

#include <functional>
#include <string>

namespace e3x::control {

// What the relay reads and writes: e3xctl's standard input and output. Tests give pipes, and a
// pause at the one moment whose timing a loaded machine decides.
struct RelayEnds {
  int input = STDIN_FILENO;
  int output = STDOUT_FILENO;
  // Runs on the input thread after it half-closed the connection, before it reports itself
  // finished.
  std::function<void()> after_half_close;
};

// Relays until both directions ended, or the connection was closed under us, then ends the
// process (the input thread may sit in a read of stdin that nothing will end): exit status 0
// when the stream ended cleanly with all input handed to the daemon, 1 when it was cut (the
// daemon closed the connection while we still had input to send, or an I/O error), with one
// line on stderr saying so. `early` is what was already read from the connection.
[[noreturn]] void relay_stdio(int connection, std::string early, RelayEnds ends = {});

}  // namespace e3x::control
