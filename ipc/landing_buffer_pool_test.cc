#include "ipc/landing_buffer_pool.h"

#include <cstring>
#include <memory>

#include "gtest/gtest.h"

namespace cordon::ipc {
namespace {

TEST(LandingBufferPoolTest, ReusesTheSmallestFreeBlockThatFits) {
  auto pool = LandingBufferPool::Create({});
  char* small_data;
  char* big_data;
  {
    auto small = pool->Acquire(1000);
    auto big = pool->Acquire(1 << 20);
    ASSERT_TRUE(small.ok() && big.ok());
    EXPECT_GE((*small)->capacity(), 1000u);
    EXPECT_GE((*big)->capacity(), 1u << 20);
    std::memset((*big)->data(), 'x', 1 << 20);  // writable
    small_data = (*small)->data();
    big_data = (*big)->data();
  }
  EXPECT_EQ(pool->free_blocks(), 2u);
  auto a = pool->Acquire(2000);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->data(), small_data);
  auto b = pool->Acquire(100000);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->data(), big_data);
  EXPECT_EQ(pool->blocks_created(), 2u);
  EXPECT_FALSE(pool->Acquire(0).ok());
}

TEST(LandingBufferPoolTest, KeepsNoMoreThanItsCaps) {
  auto pool = LandingBufferPool::Create({.max_free_blocks = 1, .max_free_bytes = 1 << 20});
  {
    auto a = pool->Acquire(4096);
    auto b = pool->Acquire(4096);
    auto huge = pool->Acquire(2 << 20);  // over max_free_bytes on its own
    ASSERT_TRUE(a.ok() && b.ok() && huge.ok());
  }
  EXPECT_EQ(pool->free_blocks(), 1u);
  EXPECT_EQ(pool->blocks_created(), 3u);
}

TEST(LandingBufferPoolTest, ABlockMayOutliveItsPool) {
  std::shared_ptr<LandingBufferPool::Block> block;
  {
    auto pool = LandingBufferPool::Create({});
    auto b = pool->Acquire(4096);
    ASSERT_TRUE(b.ok());
    block = std::move(*b);
  }
  std::memset(block->data(), 'y', 4096);
  block.reset();  // unmapped, nothing to return to
}

}  // namespace
}  // namespace cordon::ipc
