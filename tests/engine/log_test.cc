#include "engine/log/log.h"

#include <gtest/gtest.h>

#include "io/mem_fs.h"
#include "tests/engine/log_test_util.h"

namespace warbler::engine {
namespace {

TEST(LogTest, CreatesPartitionsAndReopensWithSameUuid) {
  auto fs = io::NewMemFileSystem();
  LogOpenOptions o;
  o.partitions = 3;
  o.log = testing::SmallLog();
  StoreUuid uuid;
  {
    auto log = Log::Open(fs.get(), "/store", o);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_EQ((*log)->partition_count(), 3u);
    for (uint32_t p = 0; p < 3; ++p) {
      ASSERT_TRUE((*log)->partition(p)->Append({testing::Msg("p" + std::to_string(p))}).ok());
    }
    uuid = (*log)->uuid();
    // A second opener is refused while the first holds the lock.
    auto second = Log::Open(fs.get(), "/store", o);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), StatusCode::kBusy);
  }
  auto log = Log::Open(fs.get(), "/store", o);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->uuid(), uuid);
  EXPECT_EQ(testing::ReadAllBodies((*log)->partition(2)), std::vector<std::string>{"p2"});
}

TEST(LogTest, PartitionCountMismatchAndMissingStoreAreClearErrors) {
  auto fs = io::NewMemFileSystem();
  LogOpenOptions o;
  o.partitions = 2;
  o.log = testing::SmallLog();
  { ASSERT_TRUE(Log::Open(fs.get(), "/s", o).ok()); }
  o.partitions = 4;
  auto wrong = Log::Open(fs.get(), "/s", o);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("2 partitions"), std::string::npos);
  o.create_if_missing = false;
  EXPECT_EQ(Log::Open(fs.get(), "/nothing", o).status().code(), StatusCode::kNotFound);
  o.partitions = 0;
  EXPECT_EQ(Log::Open(fs.get(), "/s", o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace warbler::engine
