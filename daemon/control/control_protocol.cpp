#include "daemon/control/control_protocol.hpp"

#include "core/json_fields.hpp"

#include <exception>
#include <system_error>

#include <boost/json/parse.hpp>

#include "daemon/control/json_text.hpp"

namespace e3x::control {

namespace {

ControlError make_error(const char* code, std::string message) {
  return ControlError{code, std::move(message)};
}

}  // namespace

Result<Request, ControlError> parse_request(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxLineBytes) {
    return unexpected(make_error(code::kLineTooLong,
                                 "request line is " + std::to_string(line.size()) +
                                     " bytes; the limit is " + std::to_string(kMaxLineBytes)));
  }
  try {
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(line, ec);
    if (ec) {
      return unexpected(make_error(code::kBadJson, "request is not valid JSON: " + ec.message()));
    }
    if (!json_all_finite(value)) {
      return unexpected(make_error(code::kBadJson, "request has a number too large for a double"));
    }
    if (!value.is_object()) {
      return unexpected(make_error(code::kBadRequest, "request must be a JSON object"));
    }
    boost::json::object& object = value.get_object();
    const boost::json::value* cmd = object.if_contains("cmd");
    if (cmd == nullptr) {
      return unexpected(make_error(code::kBadRequest, "request has no \"cmd\" member"));
    }
    if (!cmd->is_string() || cmd->get_string().empty()) {
      return unexpected(make_error(code::kBadRequest, "\"cmd\" must be a non-empty string"));
    }
    Request request;
    request.cmd = std::string(cmd->get_string());
    request.args = std::move(object);
    return request;
  } catch (const std::exception& e) {  // allocation failure: report, never throw
    return unexpected(
        make_error(code::kInternal, std::string("cannot parse request: ") + e.what()));
  }
}

// Numbers in plain decimal (json_text.hpp); the result is written in place, not copied.
std::string ok_line(const boost::json::value& result) {
  return "{\"ok\":true,\"result\":" + to_json_text(result) + "}\n";
}

std::string error_line(const ControlError& error) {
  const boost::json::object reply{
      {"ok", false},
      {"error", boost::json::object{{"code", error.code}, {"message", error.message}}}};
  return to_json_text(reply) + "\n";
}

std::string event_line(const boost::json::object& event) {
  return to_json_text(event) + "\n";
}

}  // namespace e3x::control
