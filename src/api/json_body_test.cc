#include "api/json_body.h"

#include <gtest/gtest.h>

namespace aureo::api {
namespace {

TEST(JsonBodyTest, MalformedBodiesAre400AndSchemaViolationsNameTheField) {
  EXPECT_FALSE(parseObject("{").ok());
  EXPECT_TRUE(parseObject("{").error().field.empty());
  EXPECT_FALSE(parseObject("[]").ok());
  EXPECT_FALSE(parseObject("").ok());
  EXPECT_TRUE(parseObject("", true).ok());
  auto obj = *parseObject(R"({"a":"xy","n":5,"b":true,"big":18446744073709551615,"s":"\u0000"})");
  EXPECT_EQ(requiredString(obj, "missing").error().field, "missing");
  EXPECT_EQ(requiredString(obj, "n").error().field, "n");
  EXPECT_EQ(requiredString(obj, "a", {3, 10}).error().field, "a");
  EXPECT_EQ(*requiredString(obj, "a"), "xy");
  EXPECT_FALSE(requiredString(obj, "s").ok());
  EXPECT_EQ(**optionalInt(obj, "n", 0, 10), 5);
  EXPECT_FALSE(optionalInt(obj, "n", 6, 10).ok());
  EXPECT_FALSE(optionalInt(obj, "big", 0, 100).ok());
  EXPECT_FALSE(optionalInt(obj, "a", 0, 10).ok());
  EXPECT_TRUE(**optionalBool(obj, "b"));
  EXPECT_FALSE(optionalBool(obj, "n").ok());
  EXPECT_FALSE(optionalString(obj, "nope")->has_value());
  EXPECT_TRUE(onlyKeys(obj, {"a", "n", "b", "big", "s"}).ok());
  EXPECT_EQ(onlyKeys(obj, {"a"}).error().code, core::Code::kInvalidArgument);
  EXPECT_EQ(errorResponse(fieldError("x", "bad")).status, 422);
  EXPECT_EQ(errorResponse(core::invalidArgument("bad json")).status, 400);
  EXPECT_EQ(errorResponse(core::notFound("no")).status, 404);
}

TEST(JsonBodyTest, RejectsInvalidUtf8InStrings) {
  auto obj = Json::object();
  obj["s"] = std::string("\xff\xfe");
  EXPECT_FALSE(requiredString(obj, "s").ok());
}

}  // namespace
}  // namespace aureo::api
