// A feature of e3xd (ARCHITECTURE.md, "the daemon: a small host and its features"). A module
// owns its state and tells the Host what it serves, the way telehash-js grows by extensions
// and libp2p by stream handlers:
//
//   host.serve_channel("path", *this);        channels of this type that a peer opens
//   host.serve_command("ping", handler);      a control command (docs/control-protocol.md)
//   host.serve_messages(*this);               application messages (PROTOCOL.md 8)
//   host.open_channel(*this, peer, ...);      a channel we open, whose events come back here
//
// and overrides the hooks below for what it watches. The host keeps the driver loop, the peer
// table and the sockets; a module never reaches into another module's state. Modules are
// listed, one line each, in daemon/modules/modules.cpp.
//
// Every hook runs on the io_context's thread, from the host's event drain or its timers; a
// module may issue core commands (through host.endpoint()) from any hook, and must call
// host.drive() after commands it issues from its own timers or posted work.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <boost/json/object.hpp>

#include "core/events.hpp"
#include "core/hashname.hpp"
#include "core/time.hpp"

namespace e3x::daemon {

// A channel as the daemon names it: the peer and the channel id within its exchange.
using ChannelKey = std::pair<Hashname, std::uint32_t>;

struct StartError;

class Module {
 public:
  virtual ~Module() = default;

  // ---- lifecycle ----
  // After the host's endpoint, sockets and control socket exist, before peers are added.
  virtual std::optional<StartError> start();
  // Shutting down: sockets are still open; no hook runs after this.
  virtual void stop() {}
  // Once a second.
  virtual void tick(Instant /*now*/) {}
  // The configuration was reloaded and applied (host.config() is the new one).
  virtual void reloaded() {}

  // ---- core events, after the host has handled them ----
  virtual void exchange_up(const event::ExchangeUp& /*up*/) {}
  virtual void exchange_down(const event::ExchangeDown& /*down*/) {}
  // A configured peer was removed (reload); its channels were already closed.
  virtual void peer_removed(const Hashname& /*peer*/) {}

  // ---- channels this module owns (of the types it serves, or that it opened) ----
  virtual void channel_opened(event::ChannelOpened& /*opened*/) {}
  virtual void channel_data(event::ChannelData& /*data*/) {}
  // The channel ended cleanly ("ended") or errored (its reason); it is forgotten after this.
  virtual void channel_closed(const ChannelKey& /*key*/, const std::string& /*reason*/) {}

  // ---- application messages (when it serves them) ----
  virtual void message_received(event::MessageReceived& /*message*/) {}

  // ---- what it adds to `status` and to each peer's entry of `peers`/`peer` ----
  virtual void add_status(boost::json::object& /*status*/) const {}
  virtual void add_peer_status(const Hashname& /*peer*/, boost::json::object& /*entry*/) const {}
};

}  // namespace e3x::daemon
