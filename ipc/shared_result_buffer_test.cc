#include "ipc/shared_result_buffer.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ipc/memfd_payload.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

constexpr uint64_t kCap = 4 << 20;

// The plugin's side of a fresh host buffer.
SharedResultBuffer PluginSide(const SharedResultBuffer& host) {
  auto fd = host.PeerFd();
  EXPECT_TRUE(fd.ok()) << fd.status();
  auto plugin = SharedResultBuffer::OpenWritable(std::move(*fd), kCap);
  EXPECT_TRUE(plugin.ok()) << plugin.status();
  return std::move(*plugin);
}

blkcnt_t Blocks(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_blocks;
}

TEST(SharedResultBufferTest, PluginWritesInPlaceHostCopiesOut) {
  auto host = SharedResultBuffer::Create("t", kCap);
  ASSERT_TRUE(host.ok()) << host.status();
  SharedResultBuffer plugin = PluginSide(*host);
  auto span = plugin.Writable();
  ASSERT_TRUE(span.ok()) << span.status();
  ASSERT_EQ(span->size(), kCap);
  for (size_t i = 0; i < kCap; ++i) (*span)[i] = static_cast<char>(i * 7 + 3);
  // A range crossing several copy chunks and starting mid-page.
  const uint64_t offset = 4096 + 17, length = 3 * (1 << 20) + 5;
  std::vector<char> dst(length);
  ASSERT_TRUE(host->CopyOut(offset, length, dst.data()).ok());
  EXPECT_EQ(std::memcmp(dst.data(), span->data() + offset, length), 0);
  // The copy is the host's: the plugin rewriting its buffer does not reach it.
  std::memset(span->data(), 'Z', kCap);
  EXPECT_EQ(dst[0], static_cast<char>((offset * 7 + 3) & 0xff));
  // Reused: the next result goes into the same pages.
  ASSERT_TRUE(host->CopyOut(0, 3, dst.data()).ok());
  EXPECT_EQ(std::string(dst.data(), 3), "ZZZ");
}

TEST(SharedResultBufferTest, PeerFdIsReadWriteAndItsOwnOpenFile) {
  auto host = SharedResultBuffer::Create("t", kCap);
  ASSERT_TRUE(host.ok());
  auto a = host->PeerFd();
  auto b = host->PeerFd();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(::fcntl(a->get(), F_GETFL) & O_ACCMODE, O_RDWR);
  EXPECT_TRUE(::fcntl(a->get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(static_cast<unsigned>(::fcntl(a->get(), F_GET_SEALS)),
            SharedResultBuffer::kRequiredSeals);
  // Separate open file descriptions: moving one's offset leaves the other's alone.
  ASSERT_EQ(::lseek(a->get(), 100, SEEK_SET), 100);
  EXPECT_EQ(::lseek(b->get(), 0, SEEK_CUR), 0);
}

TEST(SharedResultBufferTest, NeitherSideCanResizeOrReseal) {
  auto host = SharedResultBuffer::Create("t", kCap);
  ASSERT_TRUE(host.ok());
  auto fd = host->PeerFd();
  ASSERT_TRUE(fd.ok());
  EXPECT_NE(::ftruncate(fd->get(), 0), 0);
  EXPECT_NE(::ftruncate(fd->get(), 2 * kCap), 0);
  EXPECT_NE(::fallocate(fd->get(), 0, 0, 2 * kCap), 0);
  // F_SEAL_SEAL: no seal can be added (or removed) any more.
  EXPECT_NE(::fcntl(fd->get(), F_ADD_SEALS, F_SEAL_WRITE), 0);
  EXPECT_NE(::fcntl(fd->get(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);
  // Writing stays possible, for the plugin.
  EXPECT_EQ(::pwrite(fd->get(), "x", 1, 0), 1);
}

TEST(SharedResultBufferTest, CopyOutRangeIsBoundsChecked) {
  auto host = SharedResultBuffer::Create("t", kCap);
  ASSERT_TRUE(host.ok());
  std::vector<char> dst(kCap);
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_TRUE(host->CopyOut(0, kCap, dst.data()).ok());
  EXPECT_TRUE(host->CopyOut(kCap, 0, dst.data()).ok());
  struct {
    uint64_t offset, length;
  } bad[] = {{0, kCap + 1}, {1, kCap}, {kCap + 1, 0}, {max, 2}, {1, max}, {max, max}};
  for (const auto& b : bad) {
    absl::Status s = host->CopyOut(b.offset, b.length, dst.data());
    EXPECT_EQ(ViolationKindOf(s), ViolationKind::kBadPayload) << b.offset << "+" << b.length;
  }
}

TEST(SharedResultBufferTest, HolesReadAsZerosWithoutTheHostAllocatingThem) {
  auto host = SharedResultBuffer::Create("t", kCap);
  ASSERT_TRUE(host.ok());
  SharedResultBuffer plugin = PluginSide(*host);
  auto fd = host->PeerFd();  // to watch the file's allocation
  ASSERT_TRUE(fd.ok());
  auto span = plugin.Writable();
  ASSERT_TRUE(span.ok());
  std::memset(span->data(), 'a', 8192);                 // pages 0-1
  std::memset(span->data() + (2 << 20), 'b', 1 << 20);  // the third MiB
  // ... and one page of it punched out again (MADV_REMOVE would do the same).
  ASSERT_EQ(
      ::fallocate(fd->get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (2 << 20) + 4096, 4096),
      0);
  const blkcnt_t before = Blocks(fd->get());
  std::vector<char> dst(kCap, 'x');
  ASSERT_TRUE(host->CopyOut(0, kCap, dst.data()).ok());
  EXPECT_EQ(Blocks(fd->get()), before) << "the host's copy allocated pages of the buffer";
  EXPECT_EQ(dst[0], 'a');
  EXPECT_EQ(dst[8191], 'a');
  EXPECT_EQ(dst[8192], 0);
  EXPECT_EQ(dst[(1 << 20) + 5], 0);
  EXPECT_EQ(dst[(2 << 20)], 'b');
  EXPECT_EQ(dst[(2 << 20) + 4096], 0);
  EXPECT_EQ(dst[(2 << 20) + 8192], 'b');
  EXPECT_EQ(dst[kCap - 1], 0);
}

TEST(SharedResultBufferTest, LargeCopiesSplitOverTwoThreadsGiveTheSameBytes) {
  constexpr uint64_t kBig = 24 << 20;  // over the parallel-copy threshold
  auto host = SharedResultBuffer::Create("t", kBig);
  ASSERT_TRUE(host.ok());
  auto fd = host->PeerFd();
  ASSERT_TRUE(fd.ok());
  auto plugin = SharedResultBuffer::OpenWritable(std::move(*fd), kBig);
  ASSERT_TRUE(plugin.ok());
  auto span = plugin->Writable();
  ASSERT_TRUE(span.ok());
  for (size_t i = 0; i < kBig; ++i) (*span)[i] = static_cast<char>(i * 13 + 1);
  // A hole in what the second thread copies.
  auto watch = host->PeerFd();
  ASSERT_TRUE(watch.ok());
  const uint64_t hole = 20 << 20;
  ASSERT_EQ(::fallocate(watch->get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, hole, 8192), 0);
  const blkcnt_t before = Blocks(watch->get());
  const uint64_t offset = 4096 + 3, length = kBig - offset - 5;
  std::vector<char> dst(length);
  ASSERT_TRUE(host->CopyOut(offset, length, dst.data()).ok());
  EXPECT_EQ(Blocks(watch->get()), before);
  std::vector<char> want(span->data() + offset, span->data() + offset + length);
  EXPECT_TRUE(dst == want);
  EXPECT_EQ(dst[hole - offset], 0);
}

TEST(SharedResultBufferTest, PluginSideRefusesWhatIsNotAHostResultBuffer) {
  // Not sealed against resizing: the host could shrink it under the plugin's mapping.
  auto plain = MemfdPayload::CreateSized("t", 4096);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(SharedResultBuffer::OpenWritable(std::move(*plain), kCap).ok());
  // Write-sealed: not writable.
  auto sealed = MemfdPayload::CreateSealed("t", "abc");
  ASSERT_TRUE(sealed.ok());
  EXPECT_FALSE(SharedResultBuffer::OpenWritable(std::move(*sealed), kCap).ok());
  // Read-only fd, over the cap, not a memfd.
  auto host = SharedResultBuffer::Create("t", kCap);
  ASSERT_TRUE(host.ok());
  std::string self = "/proc/self/fd/" + std::to_string(host->PeerFd()->get());
  auto rw = host->PeerFd();
  ASSERT_TRUE(rw.ok());
  UniqueFd ro(::open(("/proc/self/fd/" + std::to_string(rw->get())).c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ro.valid()) << errno;
  EXPECT_FALSE(SharedResultBuffer::OpenWritable(std::move(ro), kCap).ok());
  EXPECT_FALSE(SharedResultBuffer::OpenWritable(std::move(*rw), kCap - 1).ok());
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd pipe_w(p[1]);
  EXPECT_FALSE(SharedResultBuffer::OpenWritable(UniqueFd(p[0]), kCap).ok());
}

TEST(SharedResultBufferTest, EachSideDoesOnlyItsOwnPart) {
  auto host = SharedResultBuffer::Create("t", kCap);
  ASSERT_TRUE(host.ok());
  EXPECT_FALSE(host->Writable().ok());
  SharedResultBuffer plugin = PluginSide(*host);
  char c;
  EXPECT_FALSE(plugin.PeerFd().ok());
  EXPECT_FALSE(plugin.CopyOut(0, 1, &c).ok());
  // Mapped once, on first use.
  auto a = plugin.Writable();
  auto b = plugin.Writable();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->data(), b->data());
  EXPECT_FALSE(SharedResultBuffer::Create("t", 0).ok());
}

}  // namespace
}  // namespace cordon::ipc
