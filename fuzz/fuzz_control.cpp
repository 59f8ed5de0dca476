// The control-socket request parser (daemon/control/control_protocol.hpp): any local user who can
// reach the socket controls these bytes.
//
// Invariants: it never throws (the header promises it); errors carry a documented code and
// a message; a parsed request has a non-empty string "cmd" that is args["cmd"], and the
// request serialized back to one line parses to the same request.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include <boost/json/serialize.hpp>

#include "daemon/control/control_protocol.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace e3x;
  namespace code = control::code;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const auto parsed = control::parse_request(line);
  if (!parsed) {
    // parse_request only ever fails with these (kInternal: allocation failure).
    static const std::set<std::string> kParseCodes = {code::kBadJson, code::kBadRequest,
                                                      code::kLineTooLong, code::kInternal};
    E3X_FUZZ_CHECK(kParseCodes.count(parsed.error().code) == 1);
    E3X_FUZZ_CHECK(!parsed.error().message.empty());
    // The reply for it is one JSON line.
    const std::string reply = control::error_line(parsed.error());
    E3X_FUZZ_CHECK(!reply.empty() && reply.back() == '\n');
    E3X_FUZZ_CHECK(reply.find('\n') == reply.size() - 1);
    return 0;
  }
  E3X_FUZZ_CHECK(size <= control::kMaxLineBytes + 2);
  E3X_FUZZ_CHECK(!parsed->cmd.empty());
  const auto* cmd = parsed->args.if_contains("cmd");
  E3X_FUZZ_CHECK(cmd != nullptr && cmd->is_string() && cmd->get_string() == parsed->cmd);

  // What e3xctl would send for this request: one line that parses to the same thing.
  const std::string again_line = boost::json::serialize(parsed->args);
  E3X_FUZZ_CHECK(again_line.find('\n') == std::string::npos);
  const auto again = control::parse_request(again_line);
  E3X_FUZZ_CHECK(again.has_value());
  E3X_FUZZ_CHECK(again->cmd == parsed->cmd);
  E3X_FUZZ_CHECK(fuzz::json_equivalent(again->args, parsed->args));
  return 0;
}
