#include "core/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace aureo::core {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return invalidArgument("odd", "x");
  return x / 2;
}

Result<int> quarter(int x) {
  AUREO_ASSIGN_OR_RETURN(int h, half(x));
  AUREO_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Status checkEven(int x) {
  AUREO_RETURN_IF_ERROR(half(x));
  return okStatus();
}

TEST(ResultTest, CarriesValueOrError) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(r.error().field, "x");
  EXPECT_TRUE(checkEven(4).ok());
  EXPECT_FALSE(checkEven(5).ok());
}

TEST(ResultTest, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  auto p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(ResultTest, MapsCodesToHttpStatuses) {
  EXPECT_EQ(httpStatus(Code::kInvalidArgument), 400);
  EXPECT_EQ(httpStatus(Code::kUnauthenticated), 401);
  EXPECT_EQ(httpStatus(Code::kPermissionDenied), 403);
  EXPECT_EQ(httpStatus(Code::kNotFound), 404);
  EXPECT_EQ(httpStatus(Code::kAlreadyExists), 409);
  EXPECT_EQ(httpStatus(Code::kOutOfRange), 422);
  EXPECT_EQ(httpStatus(Code::kResourceExhausted), 429);
  EXPECT_EQ(httpStatus(Code::kUnavailable), 503);
  EXPECT_EQ(httpStatus(Code::kInternal), 500);
  EXPECT_EQ(codeName(Code::kAlreadyExists), "already_exists");
}

TEST(ResultTest, RetryableOnlyForTransientCodes) {
  EXPECT_TRUE(unavailable("db down").retryable());
  EXPECT_TRUE((Error{Code::kAborted, "serialization", {}}).retryable());
  EXPECT_FALSE(failedPrecondition("no").retryable());
  EXPECT_FALSE(alreadyExists("dup").retryable());
}

}  // namespace
}  // namespace aureo::core
