#include "ipc/memfd_payload.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

UniqueFd RawMemfd(unsigned flags) {
  return UniqueFd(static_cast<int>(::syscall(SYS_memfd_create, "t", MFD_CLOEXEC | flags)));
}

TEST(MemfdPayloadTest, SealedRoundTrip) {
  auto fd = MemfdPayload::CreateSealed("t", "payload bytes");
  ASSERT_TRUE(fd.ok()) << fd.status();
  auto p = MemfdPayload::OpenSealed(std::move(*fd), 13, 1024);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->data(), "payload bytes");
}

TEST(MemfdPayloadTest, WritableThenSeal) {
  auto w = MemfdPayload::CreateWritable("t", 1 << 20);
  ASSERT_TRUE(w.ok()) << w.status();
  std::memset(w->mutable_data().data(), 'z', 1 << 20);
  auto fd = w->Seal();
  ASSERT_TRUE(fd.ok()) << fd.status();
  // The writer's own view is now read-only, and the sent fd cannot be written.
  EXPECT_TRUE(w->mutable_data().empty());
  EXPECT_LT(::write(fd->get(), "x", 1), 0);
  auto r = MemfdPayload::OpenSealed(std::move(*fd), 1 << 20, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data()[12345], 'z');
}

TEST(MemfdPayloadTest, UnsealedMemfdIsRejected) {
  UniqueFd fd = RawMemfd(MFD_ALLOW_SEALING);
  ASSERT_EQ(::write(fd.get(), "abc", 3), 3);
  auto p = MemfdPayload::OpenSealed(std::move(fd), 3, 1024);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(ViolationKindOf(p.status()), ViolationKind::kBadPayload);
}

TEST(MemfdPayloadTest, WritableMemfdMissingWriteSealIsRejected) {
  UniqueFd fd = RawMemfd(MFD_ALLOW_SEALING);
  ASSERT_EQ(::write(fd.get(), "abc", 3), 3);
  // Sealed against resizing but still writable: the sender could change validated bytes.
  ASSERT_EQ(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL), 0);
  auto p = MemfdPayload::OpenSealed(std::move(fd), 3, 1024);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(std::string(p.status().message()).find("not fully sealed"), std::string::npos);
}

TEST(MemfdPayloadTest, NonMemfdIsRejected) {
  UniqueFd fd(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
  auto p = MemfdPayload::OpenSealed(std::move(fd), 0, 1024);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(ViolationKindOf(p.status()), ViolationKind::kBadPayload);
}

TEST(MemfdPayloadTest, SizeMismatchAndCap) {
  auto fd = MemfdPayload::CreateSealed("t", std::string(100, 'x'));
  ASSERT_TRUE(fd.ok());
  int dup = ::fcntl(fd->get(), F_DUPFD_CLOEXEC, 0);
  auto wrong = MemfdPayload::OpenSealed(std::move(*fd), 99, 1024);
  EXPECT_FALSE(wrong.ok());
  auto over = MemfdPayload::OpenSealed(UniqueFd(dup), 100, 50);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(std::string(over.status().message()).find("cap"), std::string::npos);
}

TEST(MemfdPayloadTest, SparseSealedMemfdIsRefused) {
  // Sealed, right size, but never written: mapping it would allocate on the receiver's account.
  UniqueFd fd = RawMemfd(MFD_ALLOW_SEALING);
  ASSERT_EQ(::ftruncate(fd.get(), 1 << 20), 0);
  ASSERT_EQ(
      ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL), 0);
  auto p = MemfdPayload::OpenSealed(std::move(fd), 1 << 20, 1 << 20);
  EXPECT_EQ(ViolationKindOf(p.status()), ViolationKind::kBadPayload) << p.status();
}

TEST(MemfdPayloadTest, BlocksAllocatedPastTheEndDoNotHideAHole) {
  // st_blocks covers the size, but the blocks lie beyond EOF (KEEP_SIZE) and the first page is
  // a hole that reading would allocate on the receiver's account.
  constexpr off_t kSize = 1 << 20;
  UniqueFd fd = RawMemfd(MFD_ALLOW_SEALING);
  ASSERT_EQ(::ftruncate(fd.get(), kSize), 0);
  ASSERT_EQ(::fallocate(fd.get(), 0, 4096, kSize - 4096), 0);
  ASSERT_EQ(::fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, kSize, 2 * kSize), 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  ASSERT_GE(static_cast<uint64_t>(st.st_blocks) * 512, static_cast<uint64_t>(kSize));
  ASSERT_EQ(
      ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL), 0);
  auto p = MemfdPayload::OpenSealed(std::move(fd), kSize, kSize);
  ASSERT_EQ(ViolationKindOf(p.status()), ViolationKind::kBadPayload) << p.status();
  EXPECT_NE(std::string(p.status().message()).find("hole at offset 0"), std::string::npos)
      << p.status();
}

TEST(MemfdPayloadTest, WrittenPagesCountFallocatedOnlyPagesDoNot) {
  // A page that was fallocated but never written reads as a hole to SEEK_HOLE; the rule is
  // simply "write every page", which every real sender does.
  constexpr off_t kSize = 1 << 20;
  auto seal = [](int fd) {
    return ::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  };
  UniqueFd written = RawMemfd(MFD_ALLOW_SEALING);
  std::string bytes(kSize, 'w');
  ASSERT_EQ(::write(written.get(), bytes.data(), bytes.size()), kSize);
  ASSERT_EQ(::fallocate(written.get(), FALLOC_FL_KEEP_SIZE, kSize, kSize), 0);
  ASSERT_EQ(seal(written.get()), 0);
  auto ok = MemfdPayload::OpenSealed(std::move(written), kSize, kSize);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->data(), bytes);

  UniqueFd fallocated = RawMemfd(MFD_ALLOW_SEALING);
  ASSERT_EQ(::fallocate(fallocated.get(), 0, 0, kSize), 0);
  ASSERT_EQ(seal(fallocated.get()), 0);
  auto refused = MemfdPayload::OpenSealed(std::move(fallocated), kSize, kSize);
  EXPECT_EQ(ViolationKindOf(refused.status()), ViolationKind::kBadPayload) << refused.status();
}

TEST(MemfdPayloadTest, ShrinkCutsTheSealedSize) {
  auto w = MemfdPayload::CreateWritable("t", 1 << 20);
  ASSERT_TRUE(w.ok());
  std::memset(w->mutable_data().data(), 'a', 1 << 20);
  ASSERT_TRUE(w->Shrink(10).ok());
  EXPECT_FALSE(w->Shrink(11).ok());
  auto fd = w->Seal();
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_FALSE(w->Shrink(5).ok());  // sealed: no longer writable
  auto r = MemfdPayload::OpenSealed(std::move(*fd), 10, 10);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data(), "aaaaaaaaaa");
}

}  // namespace
}  // namespace cordon::ipc
