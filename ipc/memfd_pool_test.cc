#include "ipc/memfd_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "gtest/gtest.h"

namespace cordon::ipc {
namespace {

constexpr uint64_t kSlot = 1 << 20;

ino_t Inode(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_ino;
}

TEST(MemfdPoolTest, RefillPrefaultsSlotsAndReturnsCloexecDups) {
  MemfdPool pool({.name = "t", .slot_bytes = kSlot, .depth = 2});
  auto offers = pool.Refill();
  ASSERT_TRUE(offers.ok()) << offers.status();
  ASSERT_EQ(offers->size(), 2u);
  EXPECT_EQ(pool.ready(), 2u);
  for (const UniqueFd& fd : *offers) {
    EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
    struct stat st;
    ASSERT_EQ(::fstat(fd.get(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSlot);
    // Pre-faulted: every page is allocated before any payload is written.
    EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, kSlot);
  }
  // Already full: nothing new.
  auto again = pool.Refill();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST(MemfdPoolTest, AcquireShrinksSealsAndNeverReusesASlot) {
  MemfdPool pool({.name = "t", .slot_bytes = kSlot, .depth = 1});
  auto offers = pool.Refill();
  ASSERT_TRUE(offers.ok());
  ino_t first = Inode((*offers)[0].get());
  auto m = pool.Acquire(1000);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(pool.hits(), 1u);
  EXPECT_EQ(m->size(), 1000u);
  ASSERT_EQ(m->mutable_data().size(), 1000u);
  std::memset(m->mutable_data().data(), 'p', 1000);
  auto fd = m->Seal();
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(Inode(fd->get()), first);
  auto r = MemfdPayload::OpenSealed(std::move(*fd), 1000, kSlot);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data(), std::string(1000, 'p'));

  auto refill = pool.Refill();
  ASSERT_TRUE(refill.ok());
  ASSERT_EQ(refill->size(), 1u);
  EXPECT_NE(Inode((*refill)[0].get()), first);
}

TEST(MemfdPoolTest, ExhaustedPoolFailsOrFallsBackAsConfigured) {
  MemfdPool strict({.name = "t", .slot_bytes = kSlot, .depth = 1, .fresh_when_empty = false});
  auto none = strict.Acquire(10);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted) << none.status();
  ASSERT_TRUE(strict.Refill().ok());
  EXPECT_TRUE(strict.Acquire(10).ok());
  EXPECT_EQ(strict.Acquire(10).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(strict.misses(), 2u);

  MemfdPool lenient({.name = "t", .slot_bytes = kSlot, .depth = 1});
  auto fresh = lenient.Acquire(4096);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->size(), 4096u);
  EXPECT_EQ(lenient.misses(), 1u);
  EXPECT_TRUE(fresh->Seal().ok());
}

TEST(MemfdPoolTest, PayloadLargerThanASlotDoesNotTakeOne) {
  MemfdPool pool({.name = "t", .slot_bytes = kSlot, .depth = 1});
  ASSERT_TRUE(pool.Refill().ok());
  auto big = pool.Acquire(kSlot + 1);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->size(), kSlot + 1);
  EXPECT_EQ(pool.ready(), 1u);
  EXPECT_EQ(pool.misses(), 1u);
}

TEST(MemfdPoolTest, SmallPayloadsDoNotWasteASlot) {
  MemfdPool pool({.name = "t", .slot_bytes = kSlot, .min_bytes = kSlot / 2, .depth = 1});
  ASSERT_TRUE(pool.Refill().ok());
  auto small = pool.Acquire(4096);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->size(), 4096u);
  EXPECT_EQ(pool.ready(), 1u);
  EXPECT_EQ(pool.hits() + pool.misses(), 0u);
  EXPECT_TRUE(pool.Acquire(kSlot / 2).ok());
  EXPECT_EQ(pool.hits(), 1u);
}

}  // namespace
}  // namespace cordon::ipc
