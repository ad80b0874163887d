#include "launcher/broker/fd_census.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "ipc/unique_fd.h"

namespace cordon::broker {
namespace {

struct stat StatOf(int fd) {
  struct stat st;
  EXPECT_EQ(fstat(fd, &st), 0);
  return st;
}

TEST(FdCensusTest, LimitHoldsWithoutScanner) {
  FdCensus census(2, nullptr);
  uint64_t observed = 0;
  ipc::UniqueFd a(open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(census.Reserve(&observed).ok());
  census.Commit(StatOf(a.get()));
  ASSERT_TRUE(census.Reserve(&observed).ok());
  census.Cancel();
  ASSERT_TRUE(census.Reserve(&observed).ok());
  census.Commit(StatOf(a.get()));
  EXPECT_EQ(census.held(), 2u);
  absl::Status s = census.Reserve(&observed);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(observed, 2u);
}

TEST(FdCensusTest, RecountForgetsClosedFiles) {
  // Two distinct files handed out; the "plugin" is this process, so the scan sees our fds.
  char path_a[] = "/tmp/cordon-census-a-XXXXXX";
  char path_b[] = "/tmp/cordon-census-b-XXXXXX";
  ipc::UniqueFd a(mkostemp(path_a, O_CLOEXEC));
  ipc::UniqueFd b(mkostemp(path_b, O_CLOEXEC));
  unlink(path_a);
  unlink(path_b);
  FdCensus census(2, [] { return FdCensus::ScanProcessTree(getpid()); });
  uint64_t observed = 0;
  ASSERT_TRUE(census.Reserve(&observed).ok());
  census.Commit(StatOf(a.get()));
  ASSERT_TRUE(census.Reserve(&observed).ok());
  census.Commit(StatOf(b.get()));
  EXPECT_TRUE(absl::IsResourceExhausted(census.Reserve(&observed)));
  b.reset();  // the plugin closed one
  EXPECT_TRUE(census.Reserve(&observed).ok());
  EXPECT_EQ(census.held(), 1u);
}

TEST(FdCensusTest, ScanSeesChildProcesses) {
  int pipefd[2];
  ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
  ipc::UniqueFd r(pipefd[0]), w(pipefd[1]);
  char tmpl[] = "/tmp/cordon-census-c-XXXXXX";
  ipc::UniqueFd file(mkostemp(tmpl, O_CLOEXEC));
  unlink(tmpl);
  struct stat st = StatOf(file.get());
  pid_t child = fork();
  if (child == 0) {
    // Keeps `file` (inherited) open until the parent closes the pipe.
    close(w.get());
    char c;
    while (read(r.get(), &c, 1) > 0) {
    }
    _exit(0);
  }
  ASSERT_GT(child, 0);
  file.reset();
  // Parent no longer holds it; the child does.
  absl::StatusOr<std::set<FileId>> self_only = FdCensus::ScanProcessTree(child);
  ASSERT_TRUE(self_only.ok());
  EXPECT_TRUE(self_only->count({st.st_dev, st.st_ino}));
  absl::StatusOr<std::set<FileId>> tree = FdCensus::ScanProcessTree(getpid());
  ASSERT_TRUE(tree.ok());
  EXPECT_TRUE(tree->count({st.st_dev, st.st_ino}));
  w.reset();
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
}

}  // namespace
}  // namespace cordon::broker
