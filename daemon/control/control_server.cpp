#include "daemon/control/control_server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace e3x::control {

namespace asio = boost::asio;
using Local = asio::local::stream_protocol;
using boost::system::error_code;

namespace {

// After accept() fails (out of descriptors, ...), wait this long before trying again.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr std::size_t kReadChunk = 16 * 1024;

void set_cloexec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

std::string errno_text(int error) {
  return std::strerror(error);
}

class Session;

}  // namespace

struct ControlServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_context, std::filesystem::path socket_path, Handler request_handler)
      : io(io_context),
        path(std::move(socket_path)),
        handler(std::move(request_handler)),
        acceptor(io_context),
        retry_timer(io_context) {}

  std::string start();
  void stop();
  void accept();
  void on_accept(const error_code& ec, Local::socket socket);
  void reject_busy(Local::socket socket);
  void broadcast(const boost::json::object& event);

  asio::io_context& io;
  std::filesystem::path path;
  Handler handler;
  Local::acceptor acceptor;
  asio::steady_timer retry_timer;
  std::map<std::uint64_t, std::shared_ptr<Session>> sessions;
  std::uint64_t next_session_id = 1;
  bool started = false;
  bool stopped = false;
  // The socket file start() created, so stop() never unlinks a successor's socket.
  bool bound = false;
  dev_t bound_dev = 0;
  ino_t bound_ino = 0;
};

namespace {

// One client connection. Owned by the server's session map while open, and by its own
// outstanding asynchronous operations (which capture shared_from_this()), so it outlives
// both a close and the server itself until those complete.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ControlServer::Impl* owner, std::uint64_t id, Local::socket socket)
      : owner_(owner), id_(id), socket_(std::move(socket)) {}

  void start() { process(); }

  // Closes the socket and leaves the server's map. Idempotent. The caller must hold a
  // reference to this session (erasing it from the map may drop the last one otherwise).
  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    socket_.close(ignored);  // the buffers of a cancelled write stay alive in out_
    if (owner_ != nullptr) {
      ControlServer::Impl* owner = owner_;
      owner_ = nullptr;
      owner->sessions.erase(id_);
    }
  }

  // Closes without touching the server's map (the server is clearing it).
  void detach_and_close() {
    owner_ = nullptr;
    close();
  }

  void queue_event(const std::string& line) {
    if (closed_ || !watching_) return;
    if (out_bytes_ + line.size() > kMaxQueuedBytes) {
      spdlog::warn("control: disconnecting a watcher that is not reading ({} bytes queued)",
                   out_bytes_);
      auto self = shared_from_this();
      close();
      return;
    }
    queue(line);
  }

 private:
  // Handles complete buffered lines while no request is outstanding, then reads more.
  // Reentrant calls (a Respond called from inside the Handler) return at once: the outer
  // loop carries on, so pipelined requests never recurse.
  void process() {
    if (in_process_) return;
    in_process_ = true;
    while (!closed_ && !awaiting_ && out_bytes_ < kMaxQueuedBytes) {
      const std::size_t newline = inbuf_.find('\n', inpos_);
      if (discarding_) {
        // The rest of a line already refused as too long.
        if (newline == std::string::npos) {
          inbuf_.clear();
          inpos_ = 0;
          break;
        }
        inpos_ = newline + 1;
        discarding_ = false;
        continue;
      }
      if (newline == std::string::npos) {
        const std::size_t pending = inbuf_.size() - inpos_;
        if (pending > kMaxLineBytes + 1) {  // + 1: room for a '\r' before the newline
          discarding_ = true;
          inbuf_.clear();
          inpos_ = 0;
          queue(error_line({code::kLineTooLong, "request line is longer than " +
                                                    std::to_string(kMaxLineBytes) +
                                                    " bytes; discarded up to its newline"}));
          continue;
        }
        if (eof_ && pending > 0) {  // a last request without its newline
          const std::string line = inbuf_.substr(inpos_);
          inbuf_.clear();
          inpos_ = 0;
          handle_line(line);
          continue;
        }
        break;
      }
      const std::string_view line(inbuf_.data() + inpos_, newline - inpos_);
      inpos_ = newline + 1;
      handle_line(line);
    }
    in_process_ = false;
    if (inpos_ == inbuf_.size()) {
      inbuf_.clear();
      inpos_ = 0;
    }
    if (closed_ || awaiting_) return;
    if (eof_) {
      // The client finished sending: close once every reply is out. A watcher's watch ends
      // when it closes its end (a dead watcher must not hold a session until the next event).
      if (watching_ || (out_.empty() && !writing_)) {
        auto self = shared_from_this();
        close();
      }
      return;
    }
    if (!reading_ && out_bytes_ < kMaxQueuedBytes) read();
  }

  void handle_line(std::string_view line) {
    auto request = parse_request(line);
    if (!request) {
      queue(error_line(request.error()));
      return;
    }
    if (request->cmd == "watch") {
      watching_ = true;
      queue(ok_line(boost::json::object{{"watching", true}}));
      return;
    }
    if (owner_ == nullptr || owner_->stopped) return;
    awaiting_ = true;
    const std::uint64_t serial = ++request_serial_;
    // Keep the server (and its Handler) alive while the Handler runs, even if the Handler
    // destroys the ControlServer.
    const std::shared_ptr<ControlServer::Impl> owner = owner_->shared_from_this();
    if (!owner->handler) {
      respond(serial, unexpected(ControlError{code::kInternal, "no request handler"}));
      return;
    }
    std::weak_ptr<Session> weak = weak_from_this();
    ControlServer::Respond respond_fn = [weak, serial](ControlServer::Reply reply) {
      if (auto session = weak.lock()) session->respond(serial, std::move(reply));
    };
    try {
      owner->handler(*request, std::move(respond_fn));
    } catch (const std::exception& e) {
      spdlog::error("control: the \"{}\" handler failed: {}", request->cmd, e.what());
      respond(serial, unexpected(ControlError{code::kInternal, std::string(e.what())}));
    }
  }

  void respond(std::uint64_t serial, ControlServer::Reply reply) {
    if (closed_ || !awaiting_ || serial != request_serial_) return;
    awaiting_ = false;
    if (reply) {
      queue(ok_line(*reply));
    } else {
      queue(error_line(reply.error()));
    }
    process();
  }

  void read() {
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(read_buf_),
        [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const error_code& ec, std::size_t n) {
    reading_ = false;
    if (closed_) return;
    if (ec == asio::error::eof) {
      eof_ = true;
    } else if (ec) {
      close();
      return;
    } else {
      inbuf_.append(read_buf_.data(), n);
    }
    process();
  }

  void queue(std::string line) {
    if (closed_) return;
    out_bytes_ += line.size();
    out_.push_back(std::move(line));
    if (!writing_) write();
  }

  void write() {
    writing_ = true;
    buffers_.clear();
    for (const std::string& line : out_) buffers_.push_back(asio::buffer(line));
    in_flight_ = out_.size();
    asio::async_write(
        socket_, buffers_,
        [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(const error_code& ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) {
      close();
      return;
    }
    for (; in_flight_ > 0; --in_flight_) {
      out_bytes_ -= out_.front().size();
      out_.pop_front();
    }
    if (!out_.empty()) write();
    process();  // output shrank: paused reading may resume, or a finished client closes
  }

  ControlServer::Impl* owner_;  // null once closed
  std::uint64_t id_;
  Local::socket socket_;
  std::array<char, kReadChunk> read_buf_{};
  std::string inbuf_;  // received bytes; [inpos_, end) not yet handled
  std::size_t inpos_ = 0;
  std::deque<std::string> out_;  // lines not yet fully written (deque: stable references)
  std::size_t out_bytes_ = 0;
  std::vector<asio::const_buffer> buffers_;
  std::size_t in_flight_ = 0;  // lines of out_ the current write carries
  std::uint64_t request_serial_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool awaiting_ = false;  // a request is with the Handler
  bool in_process_ = false;
  bool discarding_ = false;  // inside a too-long line
  bool eof_ = false;
  bool watching_ = false;
  bool closed_ = false;
};

}  // namespace

std::string ControlServer::Impl::start() {
  if (started) return "the control server was already started";
  started = true;
  const std::string& native = path.native();
  if (native.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return "control socket path is too long (" + std::to_string(native.size()) +
           " bytes; at most " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + "): " + native;
  }

  struct stat st {};
  if (::lstat(native.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return "refusing to replace " + native + ": it exists and is not a socket";
    }
    // Probe it without blocking: a listener answers (or has a full backlog: EAGAIN); a
    // leftover file refuses.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) return "cannot create a socket: " + errno_text(errno);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, native.c_str(), native.size() + 1);
    const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    const int error = rc == 0 ? 0 : errno;
    ::close(probe);
    if (rc == 0 || error == EAGAIN || error == EINPROGRESS) {
      return "another e3xd is running on " + native;
    }
    if (error != ECONNREFUSED) {
      return "cannot tell whether " + native + " is in use: " + errno_text(error);
    }
    if (::unlink(native.c_str()) != 0 && errno != ENOENT) {
      return "cannot remove the stale control socket " + native + ": " + errno_text(errno);
    }
    spdlog::info("control: removed the stale socket {}", native);
  } else if (errno != ENOENT) {
    return "cannot inspect " + native + ": " + errno_text(errno);
  }

  error_code ec;
  acceptor.open(Local(), ec);
  if (ec) return "cannot create the control socket: " + ec.message();
  set_cloexec(acceptor.native_handle());
  // Bound under umask 0117 the file is created 0660: never accessible to others, even
  // before the chmod below makes the mode explicit.
  const mode_t old_umask = ::umask(0117);
  acceptor.bind(Local::endpoint(native), ec);
  ::umask(old_umask);
  if (ec) {
    error_code ignored;
    acceptor.close(ignored);
    return "cannot bind the control socket " + native + ": " + ec.message();
  }
  const auto fail_after_bind = [&](std::string message) {
    error_code ignored;
    acceptor.close(ignored);
    ::unlink(native.c_str());
    return message;
  };
  if (::chmod(native.c_str(), 0660) != 0) {
    return fail_after_bind("cannot chmod 0660 " + native + ": " + errno_text(errno));
  }
  if (::lstat(native.c_str(), &st) != 0) {
    return fail_after_bind("cannot inspect " + native + ": " + errno_text(errno));
  }
  bound = true;
  bound_dev = st.st_dev;
  bound_ino = st.st_ino;
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail_after_bind("cannot listen on " + native + ": " + ec.message());
  accept();
  return "";
}

void ControlServer::Impl::stop() {
  if (stopped) return;
  stopped = true;
  error_code ignored;
  acceptor.close(ignored);
  retry_timer.cancel();
  auto closing = std::move(sessions);
  sessions.clear();
  for (auto& [id, session] : closing) session->detach_and_close();
  if (bound) {
    bound = false;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && st.st_dev == bound_dev && st.st_ino == bound_ino) {
      ::unlink(path.c_str());
    }
  }
}

void ControlServer::Impl::accept() {
  acceptor.async_accept([self = shared_from_this()](const error_code& ec, Local::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void ControlServer::Impl::on_accept(const error_code& ec, Local::socket socket) {
  if (stopped) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of descriptors and the like: try again shortly instead of spinning.
    spdlog::warn("control: accept on {} failed: {}", path.string(), ec.message());
    retry_timer.expires_after(kAcceptRetryDelay);
    retry_timer.async_wait([self = shared_from_this()](const error_code& wait_ec) {
      if (!wait_ec && !self->stopped) self->accept();
    });
    return;
  }
  set_cloexec(socket.native_handle());
  if (sessions.size() >= kMaxSessions) {
    reject_busy(std::move(socket));
  } else {
    const std::uint64_t id = next_session_id++;
    auto session = std::make_shared<Session>(this, id, std::move(socket));
    sessions.emplace(id, session);
    session->start();
  }
  accept();
}

void ControlServer::Impl::reject_busy(Local::socket socket) {
  spdlog::warn("control: refusing a connection: {} sessions are open", sessions.size());
  struct Refused {
    Local::socket socket;
    std::string line;
  };
  auto refused = std::make_shared<Refused>(
      Refused{std::move(socket),
              error_line({code::kBusy, "too many control connections (at most " +
                                           std::to_string(kMaxSessions) + "); try again later"})});
  asio::async_write(refused->socket, asio::buffer(refused->line),
                    [refused](const error_code&, std::size_t) {
                      error_code ignored;
                      refused->socket.shutdown(Local::socket::shutdown_both, ignored);
                      refused->socket.close(ignored);
                    });
}

void ControlServer::Impl::broadcast(const boost::json::object& event) {
  if (stopped || sessions.empty()) return;
  const std::string line = event_line(event);
  // Copy first: a watcher that falls too far behind leaves the map while we iterate.
  std::vector<std::shared_ptr<Session>> targets;
  targets.reserve(sessions.size());
  for (const auto& [id, session] : sessions) targets.push_back(session);
  for (const auto& session : targets) session->queue_event(line);
}

ControlServer::ControlServer(boost::asio::io_context& io, std::filesystem::path socket_path,
                             Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(socket_path), std::move(handler))) {}

ControlServer::~ControlServer() {
  impl_->stop();
}

std::string ControlServer::start() {
  return impl_->start();
}

void ControlServer::stop() {
  impl_->stop();
}

void ControlServer::broadcast(const boost::json::object& event) {
  impl_->broadcast(event);
}

std::size_t ControlServer::session_count() const {
  return impl_->sessions.size();
}

const std::filesystem::path& ControlServer::socket_path() const {
  return impl_->path;
}

}  // namespace e3x::control
