#include "core/stream.hpp"

#include <algorithm>

#include <boost/json/object.hpp>

#include "core/lob.hpp"

namespace e3x {

bool is_service_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxServiceNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == '-';
         });
}

Bytes stream_open_body(std::string_view service) {
  return lob_encode(boost::json::object{{"service", service}}, ByteView{});
}

std::optional<std::string> parse_stream_open(ByteView body) {
  const auto attached = lob_decode(body);
  if (!attached || !attached->json) return std::nullopt;
  const boost::json::value* service = attached->json->if_contains("service");
  if (!service || !service->is_string()) return std::nullopt;
  std::string name(service->get_string());
  if (!is_service_name(name)) return std::nullopt;
  return name;
}

}  // namespace e3x
