#include "redis/client.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "redis/testing/test_server.h"

namespace aureo::redis {
namespace {

using testing::deadServer;
using testing::testServer;
using testing::uniquePrefix;

TEST(ParseUrl, ReadsHostPortDatabaseAndCredentials) {
  auto e = parseUrl("redis://10.0.0.5:6380/2");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->host, "10.0.0.5");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 2);
  EXPECT_TRUE(e->password.empty());

  e = parseUrl("redis://cache.internal");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "cache.internal");
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0);

  e = parseUrl("redis://app:s%40cret@[::1]:7000/1");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 7000);
  EXPECT_EQ(e->user, "app");
  EXPECT_EQ(e->password, "s@cret");
  EXPECT_EQ(e->redacted(), "redis://app:***@[::1]:7000/1");
}

TEST(ParseUrl, RejectsWhatItCannotConnectTo) {
  for (const char* bad :
       {"", "http://h:1", "redis://", "redis://h:0", "redis://h:70000", "redis://h:1/x",
        "redis://pw@h", "redis://[::1", "redis://:p%4@h", "rediss://h"}) {
    EXPECT_FALSE(parseUrl(bad).ok()) << bad;
  }
}

TEST(Client, RunsCommandsAgainstTheServer) {
  Client client(testServer(), core::Logger::null(), nullptr);
  ASSERT_TRUE(client.healthy());
  const std::string key = uniquePrefix() + "k";
  auto set = client.command({"SET", key, std::string("a\0b", 3), "PX", "60000"});
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->type, Reply::Type::kStatus);
  auto get = client.command({"GET", key});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->str, std::string("a\0b", 3));
  auto missing = client.command({"GET", key + "-missing"});
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->isNil());
  auto wrong = client.command({"INCR", key});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, core::Code::kFailedPrecondition);
  EXPECT_TRUE(client.healthy()) << "an error reply is no connection failure";
}

TEST(Client, WithoutAServerFailsFastAsUnavailable) {
  Client client(deadServer(), core::Logger::null(), nullptr);
  EXPECT_FALSE(client.healthy());
  auto r = client.command({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::Code::kUnavailable);
}

TEST(Client, EvalLoadsAScriptTheServerDoesNotKnow) {
  Client client(testServer(), core::Logger::null(), nullptr);
  // A script unique to this run, so no other test has cached it.
  const std::string tag = uniquePrefix();
  Script script("return ARGV[1] .. '" + tag + "'");
  auto exists = client.command({"SCRIPT", "EXISTS", script.sha1});
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(exists->elements.at(0).integer, 0);
  auto r = client.eval(script, {}, {"x"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->str, "x" + tag);
  exists = client.command({"SCRIPT", "EXISTS", script.sha1});
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(exists->elements.at(0).integer, 1) << "EVAL caches it for the next EVALSHA";
  r = client.eval(script, {}, {"y"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->str, "y" + tag);
}

TEST(Client, ReconnectsAfterTheServerDropsItsConnections) {
  ClientOptions options = testServer();
  options.client_name = "aureo-test-" + core::newUuid().substr(0, 8);
  options.connections = 2;
  options.min_backoff = std::chrono::milliseconds(10);
  Client client(options, core::Logger::null(), nullptr);
  ASSERT_TRUE(client.healthy());
  Client admin(testServer(), core::Logger::null(), nullptr);
  // Drop exactly this client's connections, found by name.
  auto list = admin.command({"CLIENT", "LIST", "TYPE", "normal"});
  ASSERT_TRUE(list.ok());
  int killed = 0;
  std::string_view rest = list->str;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    if (line.find(" name=" + options.client_name + " ") == std::string_view::npos) continue;
    const std::string id(line.substr(3, line.find(' ') - 3));  // "id=N ..."
    ASSERT_TRUE(admin.command({"CLIENT", "KILL", "ID", id}).ok());
    ++killed;
  }
  EXPECT_EQ(killed, 2);
  // The next command notices the dead connection and reports it.
  auto r = client.command({"PING"});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::Code::kUnavailable);
  // The client's own thread reconnects; commands then work again.
  for (int i = 0; i < 3000 && !client.healthy(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(client.healthy());
  for (int i = 0; i < 4; ++i) {
    auto pong = client.command({"PING"});
    ASSERT_TRUE(pong.ok()) << pong.error().message;
    EXPECT_EQ(pong->str, "PONG");
  }
}

}  // namespace
}  // namespace aureo::redis
