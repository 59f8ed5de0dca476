// Peer-supplied text is escaped wherever it is logged or printed (PROTOCOL.md 10.10).
#include <gtest/gtest.h>

#include "daemon/support/text_escape.hpp"

namespace e3x::daemon {
namespace {

TEST(TextEscape, PlainTextAndUtf8AreKept) {
  EXPECT_EQ(escape_text("msg-1.note_7"), "msg-1.note_7");
  EXPECT_EQ(escape_text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82");
}

TEST(TextEscape, ControlCharactersBecomeHex) {
  // A forged log line, a terminal escape sequence, a NUL and DEL.
  EXPECT_EQ(escape_text("id\nINFO peer x: up"), "id\\x0aINFO peer x: up");
  EXPECT_EQ(escape_text("\x1b[2J\x1b[H"), "\\x1b[2J\\x1b[H");
  EXPECT_EQ(escape_text(std::string_view("a\0b\x7f", 4)), "a\\x00b\\x7f");
  EXPECT_EQ(escape_text("\r\t"), "\\x0d\\x09");
}

TEST(TextEscape, BackslashIsDoubledSoTheResultReadsBackUnambiguously) {
  EXPECT_EQ(escape_text("\\x0a"), "\\\\x0a");
  EXPECT_NE(escape_text("\\x0a"), escape_text("\n"));
}

TEST(TextEscape, InvalidUtf8BytesBecomeHex) {
  EXPECT_EQ(escape_text("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_text("\xc3"), "\\xc3");                    // truncated sequence
  EXPECT_EQ(escape_text("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(escape_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a UTF-16 surrogate
  // The C1 control U+009B (CSI) is valid UTF-8 and printed as is; terminals that honour
  // 8-bit C1 are rare, and it is not a byte below 0x20.
}

TEST(TextEscape, LongTextIsCut) {
  const std::string long_text(1000, 'a');
  const std::string shown = escape_text(long_text, 16);
  EXPECT_EQ(shown, std::string(16, 'a') + "...");
}

}  // namespace
}  // namespace e3x::daemon
