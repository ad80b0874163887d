#include "ipc/shared_input_pool.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gtest/gtest.h"

namespace cordon::ipc {
namespace {

TEST(SharedInputPoolTest, ReusesAReleasedBufferAndAnnouncesOnce) {
  SharedInputPool pool({});
  auto a = pool.Acquire(100000);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->needs_announce);
  EXPECT_GE(a->data.size(), 100000u);
  std::memset(a->data.data(), 'x', 100000);
  pool.MarkAnnounced(a->buffer_id);
  pool.Release(a->buffer_id, /*reusable=*/true);
  auto b = pool.Acquire(5000);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->buffer_id, a->buffer_id);
  EXPECT_FALSE(b->needs_announce);
  EXPECT_EQ(b->data[0], 'x');  // same pages
  EXPECT_EQ(pool.buffers_created(), 1u);
}

TEST(SharedInputPoolTest, LeasedBuffersAreNotSharedAndCapsHold) {
  SharedInputPool::Options o;
  o.max_buffers = 2;
  o.max_buffer_bytes = 1 << 20;
  o.max_total_bytes = 4 << 20;
  SharedInputPool pool(o);
  auto a = pool.Acquire(1000);
  auto b = pool.Acquire(1000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->buffer_id, b->buffer_id);
  EXPECT_EQ(pool.Acquire(1000).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.Acquire((1 << 20) + 1).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.Acquire(0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SharedInputPoolTest, TotalBytesCapHolds) {
  SharedInputPool::Options o;
  o.max_buffers = 8;
  o.max_buffer_bytes = 1 << 20;
  o.max_total_bytes = 1 << 20;
  SharedInputPool pool(o);
  ASSERT_TRUE(pool.Acquire(1 << 20).ok());
  EXPECT_EQ(pool.Acquire(1).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(SharedInputPoolTest, RetiredBufferIsNeverLeasedAgainAndStillCounts) {
  SharedInputPool::Options o;
  o.max_buffers = 1;
  SharedInputPool pool(o);
  auto a = pool.Acquire(1000);
  ASSERT_TRUE(a.ok());
  pool.Release(a->buffer_id, /*reusable=*/false);
  EXPECT_EQ(pool.free_buffers(), 0u);
  // The plugin may still map the retired buffer, so it still counts against max_buffers.
  EXPECT_EQ(pool.Acquire(1000).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(pool.PeerFd(a->buffer_id).ok());
}

TEST(SharedInputPoolTest, PeerFdIsReadOnlyAndCannotBeMappedWritable) {
  SharedInputPool pool({});
  auto a = pool.Acquire(4096);
  ASSERT_TRUE(a.ok());
  auto fd = pool.PeerFd(a->buffer_id);
  ASSERT_TRUE(fd.ok()) << fd.status();
  char c = 'y';
  EXPECT_LT(::write(fd->get(), &c, 1), 0);
  void* m = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd->get(), 0);
  EXPECT_EQ(m, MAP_FAILED);
}

}  // namespace
}  // namespace cordon::ipc
