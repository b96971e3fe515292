#include "server/jobs/text.h"

#include <gtest/gtest.h>

#include <string>

namespace ablate::jobs {
namespace {

using namespace std::string_literals;

TEST(NameTextProblemTest, AcceptsTextFromAnyScriptAndEmoji) {
  EXPECT_EQ(NameTextProblem("lab-01 init ablation"), "");
  EXPECT_EQ(NameTextProblem("Ünïcødé 名前 🚀"), "");
  EXPECT_EQ(NameTextProblem("Ελληνικά עברית العربية"), "");
  EXPECT_EQ(NameTextProblem(""), "");
}

TEST(NameTextProblemTest, NamesEachControlCharacter) {
  EXPECT_EQ(NameTextProblem("a\nb"), "contains the control character U+000A");
  EXPECT_EQ(NameTextProblem("a\rb"), "contains the control character U+000D");
  EXPECT_EQ(NameTextProblem("a\tb"), "contains the control character U+0009");
  EXPECT_EQ(NameTextProblem("a\0b"s), "contains the control character U+0000");
  EXPECT_EQ(NameTextProblem("\x1b[2J"), "contains the control character U+001B");
  EXPECT_EQ(NameTextProblem("a\x7f"), "contains the control character U+007F");
  EXPECT_EQ(NameTextProblem("a\xc2\x85"), "contains the control character U+0085");  // NEL
  EXPECT_EQ(NameTextProblem("\xc2\x9b"
                            "2J"),
            "contains the control character U+009B");  // CSI
}

TEST(NameTextProblemTest, RefusesBytesThatAreNotUtf8) {
  EXPECT_EQ(NameTextProblem("ab\xff"), "is not valid UTF-8 (byte 3)");
  EXPECT_EQ(NameTextProblem("\xc3"), "is not valid UTF-8 (byte 1)");              // cut short
  EXPECT_EQ(NameTextProblem("\xc0\xaf"), "is not valid UTF-8 (byte 1)");          // overlong '/'
  EXPECT_EQ(NameTextProblem("\xed\xa0\x80"), "is not valid UTF-8 (byte 1)");      // surrogate
  EXPECT_EQ(NameTextProblem("\xf4\x90\x80\x80"), "is not valid UTF-8 (byte 1)");  // > U+10FFFF
  EXPECT_EQ(NameTextProblem("\xe5\x90"), "is not valid UTF-8 (byte 1)");
}

TEST(EscapeForLogTest, KeepsPrintableUtf8AndEscapesEverythingElse) {
  EXPECT_EQ(EscapeForLog("Ünïcødé 名前 🚀"), "Ünïcødé 名前 🚀");
  EXPECT_EQ(EscapeForLog("a\n[info] forged"), "a\\x0a[info] forged");
  EXPECT_EQ(EscapeForLog("\x1b[2J\r\t\0"s), "\\x1b[2J\\x0d\\x09\\x00");
  EXPECT_EQ(EscapeForLog("\xc2\x9b"
                         "2J"),
            "\\xc2\\x9b2J");
  EXPECT_EQ(EscapeForLog("ab\xff\xfe"), "ab\\xff\\xfe");
  // A backslash is escaped too, so "\x0a" in the log always means an escaped byte.
  EXPECT_EQ(EscapeForLog("a\\x0ab"), "a\\x5cx0ab");
}

TEST(EscapeForLogTest, OutputNeverHoldsAControlByte) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  const std::string escaped = EscapeForLog(every_byte);
  for (size_t i = 0; i < escaped.size(); ++i) {
    const unsigned char c = escaped[i];
    EXPECT_FALSE(c < 0x20 || c == 0x7f) << "control byte at " << i;
  }
  EXPECT_EQ(NameTextProblem(escaped), "");
}

}  // namespace
}  // namespace ablate::jobs
