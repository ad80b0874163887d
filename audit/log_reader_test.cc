#include "audit/log_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "audit/testing/audit_test_util.h"
#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

using ::cordon::audit::testing::TempDir;

// Appends to, or cuts, the file the reader follows, as a writer on another fd would.
class Writer {
 public:
  explicit Writer(const std::string& path)
      : fd_(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {}
  ~Writer() { close(fd_); }
  void Append(const std::string& bytes) {
    ASSERT_EQ(write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  void Cut(off_t size) { ASSERT_EQ(ftruncate(fd_, size), 0); }

 private:
  int fd_;
};

std::string NextLine(LogReader& reader) {
  std::string line;
  absl::StatusOr<LogReader::Result> r = reader.Next(&line);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || *r != LogReader::Result::kLine) return "<none>";
  return line;
}

bool AtEnd(LogReader& reader) {
  std::string line;
  absl::StatusOr<LogReader::Result> r = reader.Next(&line);
  return r.ok() && *r == LogReader::Result::kNoLine;
}

// One file, written by `w_` and read by the test's LogReader.
class LogReaderTest : public ::testing::Test {
 protected:
  // A reader that has read "good\n" and holds `torn` as an unfinished line at the end of the
  // file, as after a writer's crash mid-record.
  absl::StatusOr<LogReader> ReaderHoldingTornLine(const std::string& torn) {
    w_.Append("good\n" + torn);
    absl::StatusOr<LogReader> reader = LogReader::Open(path_);
    if (!reader.ok()) return reader;
    EXPECT_EQ(NextLine(*reader), "good");
    EXPECT_TRUE(AtEnd(*reader));
    EXPECT_EQ(reader->pending(), torn.size());
    return reader;
  }

  TempDir dir_;
  const std::string path_ = dir_.File("f");
  Writer w_{path_};
};

TEST_F(LogReaderTest, FollowsAGrowingFile) {
  w_.Append("one\ntw");
  absl::StatusOr<LogReader> reader = LogReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(NextLine(*reader), "one");
  EXPECT_TRUE(AtEnd(*reader));
  EXPECT_EQ(reader->pending(), 2u);
  w_.Append("o\nthree\n");
  EXPECT_EQ(NextLine(*reader), "two");
  EXPECT_EQ(NextLine(*reader), "three");
  EXPECT_TRUE(AtEnd(*reader));
  EXPECT_EQ(reader->rewinds(), 0u);
}

// A restart cuts the torn line the reader holds part of, then writes a new line there. Seen
// before the new line: the file is shorter than what was read.
TEST_F(LogReaderTest, TornLineCutThenRewrittenIsDropped) {
  absl::StatusOr<LogReader> reader = ReaderHoldingTornLine("{\"torn\":\"xxxxxxxxxxxxxxxxxxxxxx");
  ASSERT_TRUE(reader.ok());
  w_.Cut(5);
  EXPECT_TRUE(AtEnd(*reader));
  w_.Append("{\"recovered\":1}\n");
  EXPECT_EQ(NextLine(*reader), "{\"recovered\":1}");
  EXPECT_TRUE(AtEnd(*reader));
  EXPECT_EQ(reader->rewinds(), 0u);
}

// The same, with the new lines already past the old end when the reader looks again.
TEST_F(LogReaderTest, TornLineReplacedByLongerLinesIsDropped) {
  absl::StatusOr<LogReader> reader = ReaderHoldingTornLine("{\"torn\":\"xxxxxx");
  ASSERT_TRUE(reader.ok());
  w_.Cut(5);
  w_.Append("{\"recovered\":\"a much longer record than the torn one\"}\n{\"next\":2}\n");
  EXPECT_EQ(NextLine(*reader), "{\"recovered\":\"a much longer record than the torn one\"}");
  EXPECT_EQ(NextLine(*reader), "{\"next\":2}");
  EXPECT_TRUE(AtEnd(*reader));
}

// A torn line rewritten with the same leading bytes reads on: the joined line is the new one.
TEST_F(LogReaderTest, TornLineRewrittenWithTheSameHeadReadsOn) {
  absl::StatusOr<LogReader> reader = ReaderHoldingTornLine("{\"seq\":4,");
  ASSERT_TRUE(reader.ok());
  w_.Cut(5);
  w_.Append("{\"seq\":4,\"type\":\"audit.recovered\"}\n");
  EXPECT_EQ(NextLine(*reader), "{\"seq\":4,\"type\":\"audit.recovered\"}");
}

// Cut below a line already returned: not a torn-record cut. The reader starts over.
TEST_F(LogReaderTest, FileCutBelowReturnedLinesIsReadAgainFromTheStart) {
  w_.Append("one\ntwo\n");
  absl::StatusOr<LogReader> reader = LogReader::Open(path_);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(NextLine(*reader), "one");
  EXPECT_EQ(NextLine(*reader), "two");
  EXPECT_TRUE(AtEnd(*reader));
  w_.Cut(0);
  w_.Append("x\n");
  EXPECT_EQ(NextLine(*reader), "x");
  EXPECT_EQ(reader->rewinds(), 1u);
  w_.Append("y\n");
  EXPECT_EQ(NextLine(*reader), "y");
}

}  // namespace
}  // namespace cordon::audit
