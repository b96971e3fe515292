// Tests of server/artifacts/text_fit.h: width estimates and line breaking.
#include "server/artifacts/text_fit.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_join.h"

namespace ablate::artifacts {
namespace {

TEST(TextFitTest, WidthGrowsWithTextAndSize) {
  EXPECT_EQ(TextWidth("", 1), 0);
  EXPECT_GT(TextWidth("MM", 1), TextWidth("ii", 1));
  EXPECT_DOUBLE_EQ(TextWidth("abc", 2), 2 * TextWidth("abc", 1));
  // A character outside the table counts as an em, wider than any ASCII one but "@".
  EXPECT_GE(TextWidth("✕", 1), TextWidth("W", 1));
}

TEST(TextFitTest, ShortTextStaysOnOneLine) {
  EXPECT_EQ(FitLines("Init ablation — job 7", 1, 100, 2),
            std::vector<std::string>{"Init ablation — job 7"});
}

TEST(TextFitTest, BreaksAtTheStrongestSeparatorAndKeepsEveryWord) {
  const std::string text =
      "Init ablation: training and validation loss over seeds (median, band min–max) — job 12 "
      "(lab-01)";
  const double width = TextWidth(text, 1) * 0.9;
  const std::vector<std::string> lines = FitLines(text, 1, width, 2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "Init ablation: training and validation loss over seeds (median, band min–max)");
  EXPECT_EQ(lines[1], "job 12 (lab-01)");
  for (const std::string& line : lines) EXPECT_LE(TextWidth(line, 1), width);
}

TEST(TextFitTest, CutsWhatCannotFitWithAnEllipsis) {
  const std::string name(300, 'x');
  const double width = 40;
  for (int max_lines : {1, 2, 3}) {
    const std::vector<std::string> lines =
        FitLines("job 12 (" + name + ") · 1000 steps · more and more words here", 1, width,
                 max_lines);
    EXPECT_LE(static_cast<int>(lines.size()), max_lines);
    for (const std::string& line : lines) EXPECT_LE(TextWidth(line, 1), width) << line;
    EXPECT_NE(absl::StrJoin(lines, "\n").find("…"), std::string::npos);
  }
  // Multi-byte characters are never split.
  const std::vector<std::string> lines = FitLines(std::string(100, 'a') + "✕✕✕✕" +
                                                      std::string(100, 'b'), 1, 20, 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LE(TextWidth(lines[0], 1), 20);
  EXPECT_EQ(lines[0].substr(0, 3), "aaa");
  EXPECT_EQ(lines[0].substr(lines[0].size() - 3), "bbb");
}

}  // namespace
}  // namespace ablate::artifacts
