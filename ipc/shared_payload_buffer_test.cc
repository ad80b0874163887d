#include "ipc/shared_payload_buffer.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gtest/gtest.h"
#include "ipc/memfd_payload.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

constexpr uint64_t kCap = 1 << 20;

TEST(SharedPayloadBufferTest, OwnerKeepsWritingPeerSeesItThroughOneMapping) {
  auto owner = SharedPayloadBuffer::Create("t", kCap);
  ASSERT_TRUE(owner.ok()) << owner.status();
  auto peer_fd = owner->PeerFd();
  ASSERT_TRUE(peer_fd.ok()) << peer_fd.status();
  EXPECT_EQ(::fcntl(peer_fd->get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_TRUE(::fcntl(peer_fd->get(), F_GETFD) & FD_CLOEXEC);
  auto peer = SharedPayloadBuffer::OpenReadOnly(std::move(*peer_fd), kCap);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_FALSE(peer->writable());
  EXPECT_TRUE(peer->mutable_data().empty());

  std::memcpy(owner->mutable_data().data(), "first", 5);
  auto v = peer->View(0, 5);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "first");
  // Reused: the next payload goes into the same pages.
  std::memcpy(owner->mutable_data().data() + 100, "second", 6);
  auto v2 = peer->View(100, 6);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(*v2, "second");
}

TEST(SharedPayloadBufferTest, PeerCannotWriteResizeOrPunch) {
  auto owner = SharedPayloadBuffer::Create("t", kCap);
  ASSERT_TRUE(owner.ok());
  auto ro = owner->PeerFd();
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(::mmap(nullptr, kCap, PROT_READ | PROT_WRITE, MAP_SHARED, ro->get(), 0), MAP_FAILED);
  EXPECT_LT(::write(ro->get(), "x", 1), 0);
  EXPECT_NE(::ftruncate(ro->get(), 0), 0);
  // A read-only mapping cannot be upgraded either.
  void* m = ::mmap(nullptr, kCap, PROT_READ, MAP_SHARED, ro->get(), 0);
  ASSERT_NE(m, MAP_FAILED);
  EXPECT_NE(::mprotect(m, kCap, PROT_READ | PROT_WRITE), 0);
  ::munmap(m, kCap);
  // The seals hold for writable fds too: the future-write seal is on the file.
  std::string self = "/proc/self/fd/" + std::to_string(ro->get());
  UniqueFd reopened_rw(::open(self.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(reopened_rw.valid()) << errno;
  EXPECT_LT(::write(reopened_rw.get(), "x", 1), 0);
  EXPECT_EQ(::mmap(nullptr, kCap, PROT_READ | PROT_WRITE, MAP_SHARED, reopened_rw.get(), 0),
            MAP_FAILED);
  EXPECT_NE(::fallocate(reopened_rw.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096),
            0);
  EXPECT_NE(::ftruncate(reopened_rw.get(), 2 * kCap), 0);
}

TEST(SharedPayloadBufferTest, UnsealedOrOversizedBufferIsRefused) {
  UniqueFd plain(
      static_cast<int>(::syscall(SYS_memfd_create, "t", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
  ASSERT_EQ(::ftruncate(plain.get(), 4096), 0);
  auto r = SharedPayloadBuffer::OpenReadOnly(std::move(plain), kCap);
  EXPECT_EQ(ViolationKindOf(r.status()), ViolationKind::kBadPayload) << r.status();

  auto owner = SharedPayloadBuffer::Create("t", 2 * kCap);
  ASSERT_TRUE(owner.ok());
  auto big = SharedPayloadBuffer::OpenReadOnly(*owner->PeerFd(), kCap);
  EXPECT_EQ(ViolationKindOf(big.status()), ViolationKind::kBadPayload) << big.status();
}

TEST(SharedPayloadBufferTest, ViewRangeIsBoundsChecked) {
  auto owner = SharedPayloadBuffer::Create("t", kCap);
  ASSERT_TRUE(owner.ok());
  EXPECT_TRUE(owner->View(0, kCap).ok());
  EXPECT_TRUE(owner->View(kCap, 0).ok());
  EXPECT_FALSE(owner->View(1, kCap).ok());
  EXPECT_FALSE(owner->View(kCap + 1, 0).ok());
  // offset + length would wrap around 2^64.
  EXPECT_FALSE(owner->View(8, ~uint64_t{0}).ok());
}

TEST(SharedPayloadBufferTest, AFutureWriteBufferIsNotASealedPayload) {
  // The receiver of an untrusted payload must not accept this kind of buffer: its owner can
  // still write through the mapping it kept.
  auto owner = SharedPayloadBuffer::Create("t", kCap);
  ASSERT_TRUE(owner.ok());
  auto p = MemfdPayload::OpenSealed(*owner->PeerFd(), kCap, kCap);
  EXPECT_EQ(ViolationKindOf(p.status()), ViolationKind::kBadPayload) << p.status();
}

}  // namespace
}  // namespace cordon::ipc
