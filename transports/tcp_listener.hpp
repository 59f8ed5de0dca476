// One listening TCP socket: accepts connections and hands each socket to its owner, which
// decides whether to keep it. Keeps itself alive (shared_from_this) while an accept is
// outstanding; close() detaches it so no callback follows.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace e3x::net {

class TcpListener : public std::enable_shared_from_this<TcpListener> {
 public:
  class Events {
   public:
    virtual void on_tcp_accepted(boost::asio::ip::tcp::socket socket) = 0;

   protected:
    ~Events() = default;
  };

  TcpListener(boost::asio::io_context& io, Events& events);

  // Opens with SO_REUSEADDR (and v6_only for IPv6, so v4 and v6 wildcards can both be bound),
  // binds and listens. Does not accept yet.
  boost::system::error_code open(const boost::asio::ip::tcp::endpoint& listen);
  void start();
  // Closes the socket; Events are never called again.
  void close();

  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_; }

 private:
  void arm_accept();
  void on_accept(const boost::system::error_code& error, boost::asio::ip::tcp::socket socket);

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // pauses accepting after an error such as EMFILE
  Events* events_;                         // nullptr once closed
  boost::asio::ip::tcp::endpoint local_;
};

}  // namespace e3x::net
