// The control socket's line format: request parsing (every error code it can produce) and
// the shapes of reply and event lines.
#include "daemon/control/control_protocol.hpp"

#include <string>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace e3x::control {
namespace {

namespace json = boost::json;

std::string error_code_of(std::string_view line) {
  auto parsed = parse_request(line);
  EXPECT_FALSE(parsed.has_value()) << line;
  return parsed ? std::string("<parsed>") : parsed.error().code;
}

TEST(ParseRequest, AcceptsAnObjectWithACommand) {
  auto parsed = parse_request(R"({"cmd":"peer","peer":"alpha"})");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->cmd, "peer");
  // args is the whole request, "cmd" included.
  EXPECT_EQ(parsed->args.size(), 2u);
  EXPECT_EQ(parsed->args.at("peer").as_string(), "alpha");
  EXPECT_EQ(parsed->args.at("cmd").as_string(), "peer");
}

TEST(ParseRequest, IgnoresATrailingNewlineAndCarriageReturn) {
  for (std::string_view line : {"{\"cmd\":\"status\"}\n", "{\"cmd\":\"status\"}\r\n",
                                "{\"cmd\":\"status\"}\r", "  {\"cmd\":\"status\"}  "}) {
    auto parsed = parse_request(line);
    ASSERT_TRUE(parsed.has_value()) << line;
    EXPECT_EQ(parsed->cmd, "status");
  }
}

TEST(ParseRequest, UnknownCommandsParse) {
  // Whether a command exists is the handler's business (unknown_command), not the parser's.
  auto parsed = parse_request(R"({"cmd":"frobnicate"})");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->cmd, "frobnicate");
}

TEST(ParseRequest, BadJson) {
  EXPECT_EQ(error_code_of(""), code::kBadJson);
  EXPECT_EQ(error_code_of("\n"), code::kBadJson);
  EXPECT_EQ(error_code_of("{"), code::kBadJson);
  EXPECT_EQ(error_code_of("status"), code::kBadJson);
  EXPECT_EQ(error_code_of(R"({"cmd":"status"} trailing)"), code::kBadJson);
  EXPECT_EQ(error_code_of(R"({"cmd":"status",})"), code::kBadJson);
  EXPECT_EQ(error_code_of("{\"cmd\":\"st\xff\xfe\"}"), code::kBadJson);  // invalid UTF-8
  // Nesting deep enough to hurt a recursive parser is refused, not a crash.
  EXPECT_EQ(error_code_of(std::string(10000, '[') + std::string(10000, ']')), code::kBadJson);
  // A number too large for a double would be written back as `Infinity` (found by fuzzing).
  EXPECT_EQ(error_code_of(R"({"cmd":"status","n":1e400})"), code::kBadJson);
  EXPECT_EQ(error_code_of(R"({"cmd":"send","x":{"y":[-1e999]}})"), code::kBadJson);
}

TEST(ParseRequest, BadRequest) {
  EXPECT_EQ(error_code_of("[1,2]"), code::kBadRequest);
  EXPECT_EQ(error_code_of("\"status\""), code::kBadRequest);
  EXPECT_EQ(error_code_of("42"), code::kBadRequest);
  EXPECT_EQ(error_code_of("null"), code::kBadRequest);
  EXPECT_EQ(error_code_of("{}"), code::kBadRequest);
  EXPECT_EQ(error_code_of(R"({"command":"status"})"), code::kBadRequest);
  EXPECT_EQ(error_code_of(R"({"cmd":7})"), code::kBadRequest);
  EXPECT_EQ(error_code_of(R"({"cmd":null})"), code::kBadRequest);
  EXPECT_EQ(error_code_of(R"({"cmd":["status"]})"), code::kBadRequest);
  EXPECT_EQ(error_code_of(R"({"cmd":""})"), code::kBadRequest);
}

TEST(ParseRequest, LineTooLong) {
  // A valid request padded past the limit is still refused by length.
  std::string line = R"({"cmd":"send","peer":"alpha","text":")";
  line += std::string(kMaxLineBytes, 'x');
  line += "\"}";
  EXPECT_EQ(error_code_of(line), code::kLineTooLong);
  // At the limit exactly it parses.
  std::string at_limit = R"({"cmd":"send","text":")";
  at_limit += std::string(kMaxLineBytes - at_limit.size() - 2, 'y');
  at_limit += "\"}";
  ASSERT_EQ(at_limit.size(), kMaxLineBytes);
  EXPECT_TRUE(parse_request(at_limit).has_value());
}

TEST(ParseRequest, ErrorsCarryAMessage) {
  for (std::string_view line : {"", "[]", "{}"}) {
    auto parsed = parse_request(line);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_FALSE(parsed.error().message.empty()) << line;
  }
}

TEST(Lines, OkLine) {
  const std::string line = ok_line(json::object{{"watching", true}});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const json::value parsed = json::parse(line);
  EXPECT_EQ(parsed, json::parse(R"({"ok":true,"result":{"watching":true}})"));
  EXPECT_EQ(ok_line(json::array{1, 2}), "{\"ok\":true,\"result\":[1,2]}\n");
  EXPECT_EQ(ok_line(nullptr), "{\"ok\":true,\"result\":null}\n");
}

TEST(Lines, ErrorLine) {
  const std::string line = error_line({code::kUnknownPeer, "no peer named 'x'"});
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(
      json::parse(line),
      json::parse(R"({"ok":false,"error":{"code":"unknown_peer","message":"no peer named 'x'"}})"));
}

TEST(Lines, NewlinesInsideValuesAreEscaped) {
  // One reply is always exactly one line, whatever the strings hold.
  const std::string line = error_line({code::kInternal, "two\nlines\r\n"});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(json::parse(line).at("error").at("message").as_string(), "two\nlines\r\n");
  const std::string event = event_line(json::object{{"event", "message"}, {"type", "a\nb"}});
  EXPECT_EQ(event.find('\n'), event.size() - 1);
}

TEST(Lines, EventLine) {
  const json::object event{{"event", "peer_down"},
                           {"time", 1714564803},
                           {"peer", "alpha"},
                           {"hashname", "b5jn"},
                           {"reason", "timeout"}};
  const std::string line = event_line(event);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(json::parse(line), json::value(event));
}

}  // namespace
}  // namespace e3x::control
