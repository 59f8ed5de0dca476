// `e3xctl connect`: once e3xd has accepted the request and switched the control connection to
// a raw byte stream (PROTOCOL.md 11: the stream to a peer's service), standard input and
// output become that stream, binary-safe: what stdin gives goes to the connection, and EOF on
// stdin half-closes it (the peer's application sees the end of its input); what the connection
// gives goes to stdout, whose end is the peer's end. So `ssh -o ProxyCommand='e3xctl connect
// %h ssh' host` works.
#pragma once

#include <string>

namespace e3x::control {

// Relays until both directions ended, or the connection was closed under us. `early` is what
// was already read from the connection. Returns 0 when the stream ended cleanly, 1 when it was
// cut (the daemon closed the connection while we still had input to send, or an I/O error),
// with one line on stderr saying so.
int relay_stdio(int connection, std::string early);

}  // namespace e3x::control
