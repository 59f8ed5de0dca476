// Sizes written with units in the configuration ("4 MiB"), config/byte_size.hpp.
#include "config/byte_size.hpp"

#include <gtest/gtest.h>

namespace e3x {
namespace {

TEST(ByteSize, UnitsAreBinaryOrDecimalAsWritten) {
  EXPECT_EQ(parse_byte_size("4 MiB"), 4u * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("4MiB"), 4u * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("2 MB"), 2'000'000u);
  EXPECT_EQ(parse_byte_size("512 KiB"), 512u * 1024);
  EXPECT_EQ(parse_byte_size("64 kB"), 64'000u);
  EXPECT_EQ(parse_byte_size("1 GiB"), 1024ull * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("3 GB"), 3'000'000'000ull);
  EXPECT_EQ(parse_byte_size("100 B"), 100u);
  EXPECT_EQ(parse_byte_size("100"), 100u);
  EXPECT_EQ(parse_byte_size(" 7 KiB "), 7u * 1024);
}

TEST(ByteSize, FractionsNeedAUnitAndRoundDown) {
  EXPECT_EQ(parse_byte_size("1.5 MiB"), 1572864u);
  EXPECT_EQ(parse_byte_size("0.001 KiB"), 1u);
  EXPECT_EQ(parse_byte_size("1.5"), std::nullopt);
  EXPECT_EQ(parse_byte_size("1.5 B"), std::nullopt);
  EXPECT_EQ(parse_byte_size("1.2.3 MiB"), std::nullopt);
}

TEST(ByteSize, AnythingElseIsRefused) {
  for (const char* text : {"", "MiB", "4 mib", "4 Mb", "4 MiBs", "-4 MiB", "4 M", "four MiB",
                           ". MiB", "4. MiB", ".5 MiB", "4 MiB 2", "0x10"}) {
    EXPECT_EQ(parse_byte_size(text), std::nullopt) << text;
  }
}

TEST(ByteSize, SixtyFourBitsAtMost) {
  EXPECT_EQ(parse_byte_size("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_byte_size("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_byte_size("17179869184 GiB"), std::nullopt);  // 2^64 bytes
  EXPECT_EQ(parse_byte_size("17179869183 GiB"), 17179869183ull * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("99999999999999999999.5 GiB"), std::nullopt);
}

TEST(ByteRate, AByteSizeWithItsUnitPerSecond) {
  EXPECT_EQ(parse_byte_rate("2 MB/s"), 2'000'000u);
  EXPECT_EQ(parse_byte_rate("2MB/s"), 2'000'000u);
  EXPECT_EQ(parse_byte_rate("512 KiB/s"), 512u * 1024);
  EXPECT_EQ(parse_byte_rate("1000 B/s"), 1000u);
  EXPECT_EQ(parse_byte_rate("1.5 MiB/s"), 1572864u);
  EXPECT_EQ(parse_byte_rate(" 10 GB/s "), 10'000'000'000ull);
  EXPECT_EQ(parse_byte_rate("64 kB /s"), 64'000u);
}

TEST(ByteRate, AnythingElseIsRefused) {
  for (const char* text :
       {"", "/s", "2 MB", "2 MB/", "2 MB/min", "2 MB/S", "2 MB/ss", "0 MB/s", "0 B/s",
        "0.0001 KiB/s", "1000/s", "1000 /s", "2 Mb/s", "2 mb/s", "-2 MB/s", "2 MB/s/s", "MB/s",
        "2 MB per s", "18446744073709551616 B/s"}) {
    EXPECT_EQ(parse_byte_rate(text), std::nullopt) << text;
  }
}

}  // namespace
}  // namespace e3x
