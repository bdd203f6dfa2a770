// OneShot (base/one_shot.h): the value or error reaches the waiter whether
// it is set before the wait, while the waiter sleeps, or races with it.
#include "base/one_shot.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace warbler {
namespace {

TEST(OneShotTest, SetBeforeWait) {
  OneShot<std::string> s;
  s.Setter()(Status::Ok(), "value");
  auto r = s.Wait();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "value");
}

TEST(OneShotTest, SetWhileTheWaiterSleeps) {
  OneShot<int> s;
  auto set = s.Setter();
  std::thread t([set] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    set(Status::Ok(), 42);
  });
  auto r = s.Wait();
  t.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
}

TEST(OneShotTest, AnErrorReachesTheWaiter) {
  OneShot<int> s;
  std::thread t([set = s.Setter()] { set(Status::Unavailable("gone"), 0); });
  auto r = s.Wait();
  t.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST(OneShotTest, ManyRacingHandOffs) {
  // Completers and waiters on different threads, in both orders, the
  // completer's copy of the state outliving the waiter's.
  constexpr int kRounds = 20000;
  std::vector<std::function<void(const Status&, int)>> setters(kRounds);
  std::vector<OneShot<int>> shots(kRounds);
  for (int i = 0; i < kRounds; ++i) setters[i] = shots[i].Setter();
  std::thread completer([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (i % 7 == 0) std::this_thread::yield();
      setters[i](Status::Ok(), i);
      setters[i] = nullptr;
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    auto r = shots[i].Wait();
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(*r, i);
  }
  completer.join();
}

}  // namespace
}  // namespace warbler
