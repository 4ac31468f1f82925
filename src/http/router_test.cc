#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/internal/target.h"
#include "http/server.h"

namespace aureo::http {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Handler ok() {
  return [](Request&) -> boost::asio::awaitable<Response> { co_return Response::json(200, "{}"); };
}

TEST(RouterTest, MatchesLiteralSegmentsExactly) {
  Router router;
  router.add("GET", "/api/v1/nodes", ok());
  auto m = router.match("GET", "/api/v1/nodes");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/api/v1/nodes");
  EXPECT_EQ(router.match("GET", "/api/v1/node").handler, nullptr);
  EXPECT_EQ(router.match("GET", "/api/v1/nodes/x").handler, nullptr);
  EXPECT_EQ(router.match("GET", "/api/v1").handler, nullptr);
}

TEST(RouterTest, CapturesPathParameters) {
  Router router;
  router.add("GET", "/api/v1/nodes/{id}/peers/{peer}", ok());
  auto m = router.match("GET", "/api/v1/nodes/n-1/peers/p 2");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/api/v1/nodes/{id}/peers/{peer}");
  EXPECT_EQ(m.params.at("id"), "n-1");
  EXPECT_EQ(m.params.at("peer"), "p 2");
}

TEST(RouterTest, ParameterNeverMatchesAnEmptySegment) {
  Router router;
  router.add("GET", "/nodes/{id}/stats", ok());
  EXPECT_EQ(router.match("GET", "/nodes//stats").handler, nullptr);
}

TEST(RouterTest, IgnoresOneTrailingSlash) {
  Router router;
  router.add("GET", "/health", ok());
  router.add("GET", "/", ok());
  EXPECT_EQ(router.match("GET", "/health/").pattern, "/health");
  EXPECT_EQ(router.match("GET", "/").pattern, "/");
  EXPECT_EQ(router.match("GET", "/health//").handler, nullptr);
}

TEST(RouterTest, LiteralSegmentBeatsParameterWhateverTheOrder) {
  Router router;
  router.add("GET", "/nodes/{id}", ok());
  router.add("GET", "/nodes/best", ok());
  EXPECT_EQ(router.match("GET", "/nodes/best").pattern, "/nodes/best");
  EXPECT_EQ(router.match("GET", "/nodes/other").pattern, "/nodes/{id}");
}

TEST(RouterTest, ReportsAllowedMethodsWhenOnlyTheMethodIsWrong) {
  Router router;
  router.add("GET", "/users/{id}", ok());
  router.add("DELETE", "/users/{id}", ok());
  auto m = router.match("PUT", "/users/7");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.pattern, "/users/{id}");
  EXPECT_THAT(m.allowed, ElementsAre("DELETE", "GET", "HEAD"));
  auto none = router.match("PUT", "/nothing");
  EXPECT_EQ(none.handler, nullptr);
  EXPECT_THAT(none.allowed, IsEmpty());
}

TEST(RouterTest, HeadFallsBackToGetUnlessRegistered) {
  Router router;
  router.add("GET", "/a", ok());
  router.add("GET", "/b", ok());
  router.add("HEAD", "/b/{x}", ok());
  auto a = router.match("HEAD", "/a");
  ASSERT_NE(a.handler, nullptr);
  EXPECT_EQ(a.pattern, "/a");
  EXPECT_EQ(router.match("HEAD", "/b/1").pattern, "/b/{x}");
  EXPECT_EQ(router.match("POST", "/a").handler, nullptr);
}

TEST(RouterTest, MethodsAreCaseSensitive) {
  Router router;
  router.add("GET", "/a", ok());
  EXPECT_EQ(router.match("get", "/a").handler, nullptr);
}

TEST(RouterTest, ListsEveryRoute) {
  Router router;
  router.add("GET", "/a", ok());
  router.add("POST", "/b/{id}", ok());
  EXPECT_THAT(router.routes(), ElementsAre(std::pair<std::string, std::string>("GET", "/a"),
                                           std::pair<std::string, std::string>("POST", "/b/{id}")));
}

TEST(RequestTest, HeaderLookupIgnoresCase) {
  Request req;
  req.headers = {{"content-type", "application/json"}, {"x-a", "1"}};
  EXPECT_EQ(req.header("Content-Type"), "application/json");
  EXPECT_EQ(req.header("X-A"), "1");
  EXPECT_EQ(req.header("missing"), "");
  req.query = {{"page", "2"}};
  EXPECT_EQ(req.queryParam("page"), "2");
  EXPECT_EQ(req.queryParam("size"), std::nullopt);
}

TEST(ResponseTest, ErrorBodyIsEscapedJsonWithCodeMessageAndField) {
  auto r = Response::error(core::invalidArgument("bad \"email\"", "email"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            R"({"error":{"code":"invalid_argument","message":"bad \"email\"","field":"email"}})");
  auto nf = Response::error(404, "not_found", "gone");
  EXPECT_EQ(nf.body, R"({"error":{"code":"not_found","message":"gone"}})");
  EXPECT_EQ(Response::error(core::resourceExhausted("slow down")).status, 429);
}

TEST(TargetTest, DecodesPathAndQuery) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(
      internal::parseTarget("/a%20b/c?x=1&y=hello+world&x=2&flag&e=%C3%A9", &path, &query).ok());
  EXPECT_EQ(path, "/a b/c");
  EXPECT_EQ(query.at("x"), "2");
  EXPECT_EQ(query.at("y"), "hello world");
  EXPECT_EQ(query.at("flag"), "");
  EXPECT_EQ(query.at("e"), "\xC3\xA9");
}

TEST(TargetTest, RejectsBadEscapesNulAndNonOriginForms) {
  std::string path;
  std::map<std::string, std::string> query;
  for (std::string_view bad : {"/a%zz", "/a%4", "/a%00b", "/a?q=%00", "http://example.com/a", "*",
                               "a/b", "/a b", "/a#frag"}) {
    auto status = internal::parseTarget(bad, &path, &query);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(status.error().code, core::Code::kInvalidArgument) << bad;
  }
}

TEST(TargetTest, AcceptsOnlySaneRequestIds) {
  EXPECT_TRUE(internal::isSaneRequestId("3b241101-e2bb-4255-8caf-4136c566a962"));
  EXPECT_TRUE(internal::isSaneRequestId("req_1.2:3"));
  EXPECT_FALSE(internal::isSaneRequestId(""));
  EXPECT_FALSE(internal::isSaneRequestId(std::string(65, 'a')));
  EXPECT_FALSE(internal::isSaneRequestId("a b"));
  EXPECT_FALSE(internal::isSaneRequestId("a\"b"));
}

}  // namespace
}  // namespace aureo::http
