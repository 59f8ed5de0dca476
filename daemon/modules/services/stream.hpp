// One stream (PROTOCOL.md section 11): a reliable "stream" channel joined to a local
// connection (a service's socket, a forward's accepted connection, or e3xctl connect's
// control connection). Bytes read locally go out as channel packets while the channel has
// room; bytes from the peer are written locally, and only once written are they consumed, so
// a slow local reader slows the sender and nothing buffers beyond the channel's window. An
// "end" from the peer half-closes the local connection's write side once everything before it
// is written; EOF on the local read side sends "end". An "err" resets the local connection; a
// local reset or failure aborts the channel with "err":"reset".
//
// A Stream is owned by the services module's table while it lives, and by its own outstanding
// asynchronous operations (which hold shared_from_this()), so a completion after it finished
// finds it finished and does nothing.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/json/object.hpp>

#include "core/bytes.hpp"
#include "core/events.hpp"
#include "core/time.hpp"
#include "daemon/host/module.hpp"

namespace e3x::daemon {

class Host;

// How much to read from a stream's local socket at a time: about 64 KiB, a whole number of
// channel packets of `packet_body` bytes (the channel's quota now), so that a full read is
// sent as full packets only.
std::size_t local_read_size(std::size_t packet_body);

class Stream : public std::enable_shared_from_this<Stream> {
 public:
  using Socket = boost::asio::generic::stream_protocol::socket;
  enum class Direction {
    kIncoming,  // a peer reached one of our services
    kOutgoing,  // a forward's connection or e3xctl connect, to a peer's service
  };
  struct Info {
    ChannelKey key;
    Direction direction = Direction::kIncoming;
    std::string service;
    std::string via;  // the forward's listen address, "e3xctl connect", or the service target
    Instant opened_at{};
  };
  // Called once, when the stream is over: `reason` is "ended" for a clean end of both
  // directions, else why it was aborted.
  using Finished = std::function<void(const ChannelKey& key, const std::string& reason)>;

  Stream(Host& host, Info info, Finished finished);
  ~Stream();

  // The local side is connected: bytes start moving. `early` (bytes e3xctl sent with its
  // request) go out first. Outgoing streams must not be attached before the peer accepted.
  void attach(Socket socket, std::string early = {});

  // ---- from the channel (called from host hooks: no drive here) ----
  void data(event::ChannelData& data);
  // The channel ended cleanly ("ended") or errored (the reason).
  void closed(const std::string& reason);
  // The channel may have room again: send what waits.
  void pump();
  // Aborts: "err" `reason` on the channel, the local connection reset.
  void abort(const std::string& reason);

  const Info& info() const { return info_; }
  bool attached() const { return attached_; }
  bool finished() const { return finished_; }
  bool waiting_for_room() const { return pending_out_size() > 0 || (local_eof_ && !end_sent_); }
  std::uint64_t bytes_in() const { return bytes_in_; }    // from the peer, written locally
  std::uint64_t bytes_out() const { return bytes_out_; }  // read locally, sent to the peer
  std::size_t buffered() const { return to_local_bytes_ + pending_out_size(); }
  boost::json::object to_json(Instant now) const;

 private:
  void start_read();
  void on_read(const boost::system::error_code& error, std::size_t size);
  // Sends pending local bytes (and the end) while the channel has room; false on a failed send.
  bool flush_out();
  void start_write();
  void on_written(const boost::system::error_code& error);
  // Sends what was queued from inside an asynchronous completion (not from a host hook).
  void kick();
  // Reports `packets` ChannelData events as consumed: the window reopens by as much.
  void consumed(std::size_t packets);
  void finish(const std::string& reason, bool reset_local);
  void maybe_done();
  std::size_t pending_out_size() const { return pending_out_.size() - pending_out_sent_; }

  Host& host_;
  Info info_;
  Finished on_finished_;
  std::unique_ptr<Socket> socket_;
  bool attached_ = false;
  bool finished_ = false;

  // local -> peer
  Bytes read_buffer_;
  bool reading_ = false;
  bool local_eof_ = false;
  bool end_sent_ = false;
  // Read, not yet sent (the channel had no room): the bytes from pending_out_sent_ on. Sent
  // bytes are skipped, not erased: erasing each packet's body from the front moved the rest
  // of a 64 KiB read every time (about 24 bytes copied per byte sent).
  Bytes pending_out_;
  std::size_t pending_out_sent_ = 0;

  // peer -> local
  // What one or more ChannelData events carried; `packets` of them are reported consumed to
  // the channel once `bytes` are written locally (an empty end packet rides with the chunk
  // before it).
  struct Chunk {
    Bytes bytes;
    std::size_t packets = 1;
  };
  std::deque<Chunk> to_local_;
  std::size_t to_local_bytes_ = 0;
  std::size_t writing_chunks_ = 0;  // chunks at the front of to_local_ the write under way holds
  bool writing_ = false;
  bool peer_ended_ = false;
  bool local_write_shut_ = false;
  bool channel_ended_ = false;  // both sides ended cleanly: close once written

  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace e3x::daemon
