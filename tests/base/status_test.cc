#include "base/status.h"

#include <cerrno>
#include <set>

#include <gtest/gtest.h>

#include "base/errno_status.h"

namespace warbler {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  WB_ASSIGN_OR_RETURN(int h, Half(x));
  WB_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = Status::NotFound("conversation x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "not_found: conversation x");
  EXPECT_EQ(s.WithContext("read").message(), "read: conversation x");
}

TEST(StatusTest, Retryable) {
  EXPECT_TRUE(Status::ResourceExhausted("").IsRetryable());
  EXPECT_TRUE(Status::Unavailable("").IsRetryable());
  EXPECT_FALSE(Status::InvalidArgument("").IsRetryable());
  EXPECT_FALSE(Status::Corruption("").IsRetryable());
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(StatusTest, ResultFromOkStatusIsAnError) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
}

TEST(StatusTest, ErrnoMapping) {
  EXPECT_EQ(ErrnoStatus(ENOSPC, "w").code(), StatusCode::kNoSpace);
  EXPECT_EQ(ErrnoStatus(EIO, "w").code(), StatusCode::kIOError);
  EXPECT_EQ(ErrnoStatus(ENOENT, "o").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EACCES, "o").code(), StatusCode::kPermissionDenied);
  EXPECT_NE(ErrnoStatus(EIO, "pwrite f").message().find("pwrite f"), std::string::npos);
}

TEST(StatusTest, CodeNamesAreDistinct) {
  std::set<std::string_view> names;
  for (int c = 0; c <= static_cast<int>(StatusCode::kAborted); ++c) {
    names.insert(StatusCodeName(static_cast<StatusCode>(c)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(StatusCode::kAborted) + 1);
  EXPECT_EQ(names.count("unknown"), 0u);
}

}  // namespace
}  // namespace warbler
