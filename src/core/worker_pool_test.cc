#include "core/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace aureo::core {
namespace {

TEST(WorkerPoolTest, RefusesWorkBeyondQueueCapacityAndDrainsOnDestruction) {
  std::promise<void> started;
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::atomic<int> done{0};
  {
    WorkerPool pool(1, 2);
    ASSERT_TRUE(pool.submit([&] {
      started.set_value();
      open.wait();
      ++done;
    }));
    started.get_future().wait();  // the only worker is now busy
    EXPECT_TRUE(pool.submit([&] { ++done; }));
    EXPECT_TRUE(pool.submit([&] { ++done; }));
    EXPECT_FALSE(pool.submit([&] { ++done; }));
    EXPECT_EQ(pool.queued(), 2u);
    gate.set_value();
  }
  EXPECT_EQ(done.load(), 3);
}

}  // namespace
}  // namespace aureo::core
