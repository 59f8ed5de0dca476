#include "transports/path_address.hpp"

#include <functional>

namespace e3x::net {

namespace asio = boost::asio;

asio::ip::address normalised(const asio::ip::address& ip) {
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
  }
  return ip;
}

PathAddress udp_path(const asio::ip::udp::endpoint& endpoint) {
  return {PathKind::kUdp, normalised(endpoint.address()), endpoint.port()};
}

PathAddress tcp_path(const asio::ip::tcp::endpoint& endpoint) {
  return {PathKind::kTcp, normalised(endpoint.address()), endpoint.port()};
}

PathAddress normalised(const PathAddress& address) {
  return {address.kind, normalised(address.ip), address.port};
}

asio::ip::udp::endpoint udp_endpoint(const PathAddress& address) {
  return {address.ip, address.port};
}

asio::ip::tcp::endpoint tcp_endpoint(const PathAddress& address) {
  return {address.ip, address.port};
}

std::string path_type(const PathAddress& address) {
  std::string type = address.kind == PathKind::kUdp ? "udp" : "tcp";
  return type + (address.ip.is_v4() ? "4" : "6");
}

std::string endpoint_string(const asio::ip::address& ip, std::uint16_t port) {
  // Appended piece by piece: GCC 12 at -O2 and above reports a false -Wrestrict on
  // "[" + std::string&& (the literal is inserted in front of the temporary).
  std::string text;
  if (ip.is_v6()) text += '[';
  text += ip.to_string();
  if (ip.is_v6()) text += ']';
  text += ':';
  text += std::to_string(port);
  return text;
}

std::string to_string(const PathAddress& address) {
  return path_type(address) + " " + endpoint_string(address.ip, address.port);
}

std::size_t PathAddressHash::operator()(const PathAddress& address) const {
  // Boost's hash_combine step, so ports of the same host spread over the buckets.
  std::size_t hash = std::hash<asio::ip::address>()(address.ip);
  const std::size_t more = (std::size_t{address.port} << 1) | (address.kind == PathKind::kTcp);
  hash ^= more + 0x9e3779b97f4a7c15ull + (hash << 6) + (hash >> 2);
  return hash;
}

}  // namespace e3x::net
