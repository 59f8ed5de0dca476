// Transport addresses: where a packet came from or goes to. The core only ever sees the opaque
// PathId that the PathTable (path_table.hpp) hands out for one of these.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

namespace e3x::net {

enum class PathKind { kUdp, kTcp };

struct PathAddress {
  PathKind kind = PathKind::kUdp;
  boost::asio::ip::address ip;  // v4-mapped v6 addresses are normalised to v4 (normalised())
  std::uint16_t port = 0;

  // Asio addresses have == and < but no <=>; a declared return type lets the default synthesise
  // the ordering from them.
  std::strong_ordering operator<=>(const PathAddress&) const = default;
  bool operator==(const PathAddress&) const = default;
};

// "::ffff:192.0.2.7" becomes "192.0.2.7"; every other address is returned unchanged.
boost::asio::ip::address normalised(const boost::asio::ip::address& ip);

// Normalised addresses for a socket endpoint.
PathAddress udp_path(const boost::asio::ip::udp::endpoint& endpoint);
PathAddress tcp_path(const boost::asio::ip::tcp::endpoint& endpoint);

// The same address, normalised (used on every address handed in from outside).
PathAddress normalised(const PathAddress& address);

boost::asio::ip::udp::endpoint udp_endpoint(const PathAddress& address);
boost::asio::ip::tcp::endpoint tcp_endpoint(const PathAddress& address);

// "udp4" | "udp6" | "tcp4" | "tcp6"
std::string path_type(const PathAddress& address);

// "192.0.2.7:42424" or "[2001:db8::7]:42424".
std::string endpoint_string(const boost::asio::ip::address& ip, std::uint16_t port);

// "udp4 192.0.2.7:42424", "udp6 [2001:db8::7]:42424"
std::string to_string(const PathAddress& address);

struct PathAddressHash {
  std::size_t operator()(const PathAddress& address) const;
};

}  // namespace e3x::net
