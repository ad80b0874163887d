#include "launcher/host/output_lines.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace cordon::host {
namespace {

struct Collected {
  std::vector<std::pair<std::string, bool>> lines;
  OutputLines::EmitFn Fn() {
    return [this](std::string_view line, bool cut) { lines.emplace_back(std::string(line), cut); };
  }
};

TEST(OutputLinesTest, SplitsChunksIntoLinesWhereverTheChunksEnd) {
  Collected c;
  OutputLines out(100, c.Fn());
  out.Feed("one\ntw");
  out.Feed("o\n\nthr");
  EXPECT_EQ(c.lines.size(), 3u);
  out.Feed("ee");
  out.Flush();
  ASSERT_EQ(c.lines.size(), 4u);
  EXPECT_EQ(c.lines[0].first, "one");
  EXPECT_EQ(c.lines[1].first, "two");
  EXPECT_EQ(c.lines[2].first, "");
  EXPECT_EQ(c.lines[3].first, "three");
  EXPECT_FALSE(c.lines[3].second);
  EXPECT_EQ(out.lines(), 4u);
  out.Flush();  // nothing pending: nothing emitted
  EXPECT_EQ(c.lines.size(), 4u);
}

TEST(OutputLinesTest, ALineWithoutANewlineIsCutAtTheBound) {
  Collected c;
  OutputLines out(8, c.Fn());
  out.Feed(std::string(20, 'x'));
  ASSERT_EQ(c.lines.size(), 2u);  // 8 + 8, 4 still pending
  EXPECT_EQ(c.lines[0].first, std::string(8, 'x'));
  EXPECT_TRUE(c.lines[0].second);
  out.Feed("yy\n");
  ASSERT_EQ(c.lines.size(), 3u);
  EXPECT_EQ(c.lines[2].first, "xxxxyy");
  EXPECT_FALSE(c.lines[2].second);
  // Exactly the bound, then its newline: one whole line, not a cut one and an empty one.
  out.Feed(std::string(8, 'z') + "\n");
  ASSERT_EQ(c.lines.size(), 4u);
  EXPECT_EQ(c.lines[3].first, std::string(8, 'z'));
  EXPECT_FALSE(c.lines[3].second);
}

TEST(OutputLinesTest, MemoryStaysBoundedUnderAFlood) {
  Collected c;
  OutputLines out(4096, c.Fn());
  const std::string chunk(65536, 'a');
  for (int i = 0; i < 64; ++i) out.Feed(chunk);  // 4 MiB, no newline
  EXPECT_EQ(c.lines.size(), 64u * 16u);
  for (const auto& [line, cut] : c.lines) {
    ASSERT_EQ(line.size(), 4096u);
    ASSERT_TRUE(cut);
  }
}

TEST(OutputLinesTest, ANewlineRightAfterACutInTheNextChunkEndsTheCutLine) {
  Collected c;
  OutputLines out(8, c.Fn());
  out.Feed(std::string(8, 'x'));  // exactly the bound, its newline not read yet
  out.Feed("\nnext\n");
  ASSERT_EQ(c.lines.size(), 2u);  // no empty line in between
  EXPECT_EQ(c.lines[0].first, std::string(8, 'x'));
  EXPECT_EQ(c.lines[1].first, "next");
  out.Feed("\n");  // an empty line of its own is still one
  ASSERT_EQ(c.lines.size(), 3u);
  EXPECT_EQ(c.lines[2].first, "");
}

}  // namespace
}  // namespace cordon::host
