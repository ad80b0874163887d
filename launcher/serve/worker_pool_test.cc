#include "launcher/serve/worker_pool.h"

#include <atomic>
#include <future>
#include <vector>

#include "gtest/gtest.h"

namespace cordon::serve {
namespace {

TEST(WorkerPoolTest, RunsEveryTask) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(2);
    for (int i = 0; i < 100; ++i) pool.Run([&] { done.fetch_add(1); });
  }
  EXPECT_EQ(done.load(), 100);
}

TEST(WorkerPoolTest, ABlockedTaskNeverHoldsUpTheNext) {
  WorkerPool pool(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::promise<void>> started(8);
  // Eight tasks that block until released: each must have its own worker, or this deadlocks.
  for (auto& s : started) {
    pool.Run([&s, released] {
      s.set_value();
      released.wait();
    });
  }
  for (auto& s : started) s.get_future().wait();
  std::promise<void> ran;
  pool.Run([&] { ran.set_value(); });
  ran.get_future().wait();
  release.set_value();
}

}  // namespace
}  // namespace cordon::serve
