// JSON as the control socket and e3xctl write it (daemon/control/json_text.hpp): numbers in
// plain decimal that read back exactly, everything else as Boost.JSON writes it.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <limits>

#include "daemon/control/json_text.hpp"

namespace e3x::control {
namespace {

namespace json = boost::json;

TEST(JsonText, DoublesArePlainDecimal) {
  EXPECT_EQ(json::serialize(json::value(0.0978)), "9.78E-2");  // what Boost writes
  EXPECT_EQ(to_json_text(json::value(0.0978)), "0.0978");
  EXPECT_EQ(to_json_text(json::value(12.0)), "12.0");  // still a double when read back
  EXPECT_EQ(to_json_text(json::value(1e-5)), "0.00001");
  EXPECT_EQ(to_json_text(json::value(-2.5)), "-2.5");
  EXPECT_EQ(to_json_text(json::value(1e20)), "100000000000000000000.0");
  EXPECT_EQ(to_json_text(json::value(0.0)), "0.0");
  // Beyond plain decimal's use, as JavaScript does.
  EXPECT_EQ(to_json_text(json::value(1e21)), "1e+21");
  EXPECT_EQ(to_json_text(json::value(1.5e-7)), "1.5e-07");
  EXPECT_EQ(to_json_text(json::value(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(to_json_text(json::value(std::numeric_limits<double>::quiet_NaN())), "null");
}

TEST(JsonText, IntegersStringsAndStructureAreAsBoostWritesThem) {
  const json::value document = json::parse(
      R"({"a":[1,-2,18446744073709551615,true,false,null],"s":"q\"\\\n\u0001é","o":{},"e":[]})");
  EXPECT_EQ(to_json_text(document), json::serialize(document));
}

TEST(JsonText, EveryDoubleReadsBackExactly) {
  const double values[] = {0.1, 1.0 / 3.0, 123456.789, 0.0978, 2.5e-6, 9.87654321e20, -0.0};
  for (const double value : values) {
    const std::string text = to_json_text(json::value(value));
    EXPECT_EQ(text.find_first_of("eE"), std::string::npos) << text;
    EXPECT_TRUE(json::parse(text).is_double()) << text;
    // Read exactly (Boost.JSON 1.81's own parser may be a unit in the last place off).
    double back = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), back);
    EXPECT_EQ(error, std::errc()) << text;
    EXPECT_EQ(end, text.data() + text.size()) << text;
    EXPECT_EQ(back, value) << text;
  }
}

TEST(JsonText, NestedDoublesToo) {
  const json::value document{{"rtt_ms", 0.098}, {"list", json::array{1.5, 2}}};
  EXPECT_EQ(to_json_text(document), R"({"rtt_ms":0.098,"list":[1.5,2]})");
}

}  // namespace
}  // namespace e3x::control
