#include "core/json_fields.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace e3x {
namespace {

TEST(JsonFields, U32AcceptsBothIntegerStorages) {
  EXPECT_EQ(json_u32(boost::json::parse("0")), 0u);
  EXPECT_EQ(json_u32(boost::json::parse("4294967295")), 4294967295u);
  EXPECT_EQ(json_u32(boost::json::value(std::uint64_t{7})), 7u);
  EXPECT_FALSE(json_u32(boost::json::parse("4294967296")).has_value());
  EXPECT_FALSE(json_u32(boost::json::parse("18446744073709551615")).has_value());
  EXPECT_FALSE(json_u32(boost::json::parse("-1")).has_value());
  EXPECT_FALSE(json_u32(boost::json::parse("1.0")).has_value());
  EXPECT_FALSE(json_u32(boost::json::parse("\"1\"")).has_value());
  EXPECT_FALSE(json_u32(boost::json::parse("true")).has_value());
}

TEST(JsonFields, PositiveExcludesZero) {
  EXPECT_FALSE(json_positive_u32(boost::json::parse("0")).has_value());
  EXPECT_EQ(json_positive_u32(boost::json::parse("1")), 1u);
}

TEST(JsonFields, OnlyTheLiteralTrueIsTrue) {
  const auto t = boost::json::parse("true"), f = boost::json::parse("false"),
             one = boost::json::parse("1"), text = boost::json::parse("\"true\"");
  EXPECT_TRUE(json_is_true(&t));
  EXPECT_FALSE(json_is_true(&f));
  EXPECT_FALSE(json_is_true(&one));
  EXPECT_FALSE(json_is_true(&text));
  EXPECT_FALSE(json_is_true(nullptr));
}

}  // namespace
}  // namespace e3x
