#include "ipc/memfd_premap_cache.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

constexpr uint64_t kSlot = 1 << 20;

UniqueFd Dup(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

bool IsBadPayload(const absl::Status& s) {
  return ViolationKindOf(s) == ViolationKind::kBadPayload;
}

// A sender slot offered to the cache, like a pool hand-off across a channel.
struct Offered {
  MemfdPayload slot;
};

Offered OfferSlot(MemfdPremapCache& cache) {
  auto slot = MemfdPayload::CreateWritable("t", kSlot);
  EXPECT_TRUE(slot.ok());
  EXPECT_TRUE(cache.Offer(Dup(slot->fd())).ok());
  return {std::move(*slot)};
}

TEST(MemfdPremapCacheTest, SealedSlotIsReadThroughThePremappedView) {
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  Offered o = OfferSlot(cache);
  EXPECT_EQ(cache.slots(), 1u);
  // The cache's read-only view does not stop the sender from write-sealing.
  std::memset(o.slot.mutable_data().data(), 'q', kSlot);
  ASSERT_TRUE(o.slot.Shrink(5000).ok());
  auto fd = o.slot.Seal();
  ASSERT_TRUE(fd.ok()) << fd.status();
  auto p = cache.Open(std::move(*fd), 5000, kSlot);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(cache.premapped_opens(), 1u);
  EXPECT_EQ(cache.slots(), 0u);
  EXPECT_EQ(p->data(), std::string(5000, 'q'));
  // The view is held through an O_RDONLY, close-on-exec fd.
  EXPECT_EQ(::fcntl(p->fd(), F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_TRUE(::fcntl(p->fd(), F_GETFD) & FD_CLOEXEC);
}

TEST(MemfdPremapCacheTest, UnsealedOrPartlySealedSlotIsRefused) {
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  Offered o = OfferSlot(cache);
  // The sender keeps its writable mapping and hands the slot over without F_SEAL_WRITE.
  ASSERT_EQ(::fcntl(o.slot.fd(), F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK), 0);
  auto p = cache.Open(Dup(o.slot.fd()), kSlot, kSlot);
  EXPECT_TRUE(IsBadPayload(p.status())) << p.status();
  EXPECT_EQ(cache.slots(), 0u);  // used up either way
}

TEST(MemfdPremapCacheTest, FutureWriteInsteadOfWriteSealIsRefused) {
  // F_SEAL_FUTURE_WRITE leaves existing writable mappings writable: not a payload seal.
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  Offered o = OfferSlot(cache);
  ASSERT_EQ(::fcntl(o.slot.fd(), F_ADD_SEALS,
                    F_SEAL_FUTURE_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
            0);
  auto p = cache.Open(Dup(o.slot.fd()), kSlot, kSlot);
  EXPECT_TRUE(IsBadPayload(p.status())) << p.status();
}

TEST(MemfdPremapCacheTest, SizeMismatchAndCapAreChecked) {
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  Offered a = OfferSlot(cache);
  auto fa = a.slot.Seal();
  ASSERT_TRUE(fa.ok());
  EXPECT_TRUE(IsBadPayload(cache.Open(std::move(*fa), kSlot - 1, kSlot).status()));
  Offered b = OfferSlot(cache);
  auto fb = b.slot.Seal();
  ASSERT_TRUE(fb.ok());
  EXPECT_TRUE(IsBadPayload(cache.Open(std::move(*fb), kSlot, kSlot - 1).status()));
}

TEST(MemfdPremapCacheTest, OffersThatCannotBecomePayloadsAreRefused) {
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  // Not a memfd.
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  ::close(pipefd[1]);
  EXPECT_TRUE(IsBadPayload(cache.Offer(UniqueFd(pipefd[0]))));
  // A memfd without sealing allowed.
  UniqueFd no_seal(static_cast<int>(::syscall(SYS_memfd_create, "t", MFD_CLOEXEC)));
  ASSERT_EQ(::ftruncate(no_seal.get(), 4096), 0);
  EXPECT_TRUE(IsBadPayload(cache.Offer(std::move(no_seal))));
  // Sparse: mapping it would allocate its pages on the receiver's account.
  UniqueFd sparse(
      static_cast<int>(::syscall(SYS_memfd_create, "t", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
  ASSERT_EQ(::ftruncate(sparse.get(), kSlot), 0);
  EXPECT_TRUE(IsBadPayload(cache.Offer(std::move(sparse))));
  // Over the slot cap.
  auto big = MemfdPayload::CreateWritable("t", 2 * kSlot);
  ASSERT_TRUE(big.ok());
  EXPECT_TRUE(IsBadPayload(cache.Offer(Dup(big->fd()))));
  EXPECT_EQ(cache.slots(), 0u);
}

TEST(MemfdPremapCacheTest, OffersBeyondTheBoundsEvictTheOldest) {
  MemfdPremapCache cache({.max_slot_bytes = kSlot, .max_slots = 2, .max_total_bytes = 8 * kSlot});
  Offered a = OfferSlot(cache);
  Offered b = OfferSlot(cache);
  Offered c = OfferSlot(cache);
  EXPECT_EQ(cache.slots(), 2u);
  // `a` was evicted: still opens correctly, through a fresh mapping.
  auto fa = a.slot.Seal();
  ASSERT_TRUE(fa.ok());
  auto pa = cache.Open(std::move(*fa), kSlot, kSlot);
  ASSERT_TRUE(pa.ok()) << pa.status();
  EXPECT_EQ(cache.fresh_opens(), 1u);
  auto fc = c.slot.Seal();
  ASSERT_TRUE(fc.ok());
  EXPECT_TRUE(cache.Open(std::move(*fc), kSlot, kSlot).ok());
  EXPECT_EQ(cache.premapped_opens(), 1u);
}

TEST(MemfdPremapCacheTest, SenderKeepingAWritableMappingCannotSealAndIsRefused) {
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  Offered o = OfferSlot(cache);
  // o.slot still has its writable mapping: the kernel refuses the write seal...
  EXPECT_NE(::fcntl(o.slot.fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);
  EXPECT_EQ(errno, EBUSY);
  // ...so a sender that seals everything else and hands the fd over is refused.
  ASSERT_EQ(::fcntl(o.slot.fd(), F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL), 0);
  UniqueFd sent = Dup(o.slot.fd());
  int sent_number = sent.get();
  auto p = cache.Open(std::move(sent), kSlot, kSlot);
  EXPECT_TRUE(IsBadPayload(p.status())) << p.status();
  // The refused fd was closed, not leaked.
  EXPECT_EQ(::fcntl(sent_number, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(MemfdPremapCacheTest, HolesPunchedAfterTheOfferAreRefused) {
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  Offered o = OfferSlot(cache);
  ASSERT_EQ(::fallocate(o.slot.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 65536), 0);
  auto fd = o.slot.Seal();
  ASSERT_TRUE(fd.ok()) << fd.status();
  auto p = cache.Open(std::move(*fd), kSlot, kSlot);
  EXPECT_TRUE(IsBadPayload(p.status())) << p.status();
}

}  // namespace
}  // namespace cordon::ipc
