#include "redis/subscriber.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "redis/client.h"
#include "redis/layer.h"
#include "redis/testing/test_server.h"

namespace aureo::redis {
namespace {

using std::chrono::seconds;
using testing::testServer;
using testing::uniquePrefix;

// What a subscriber delivered, with waits that fail the test after a
// generous deadline instead of hanging it.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> messages;
  int subscriptions = 0;

  void add(const std::string& m) {
    std::lock_guard lock(mu);
    messages.push_back(m);
    cv.notify_all();
  }
  void subscribed() {
    std::lock_guard lock(mu);
    ++subscriptions;
    cv.notify_all();
  }
  bool waitFor(size_t n_messages, int n_subscriptions) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, seconds(30), [&] {
      return messages.size() >= n_messages && subscriptions >= n_subscriptions;
    });
  }
};

int killClientsNamed(Client& admin, const std::string& name) {
  auto list = admin.command({"CLIENT", "LIST"});
  if (!list.ok()) return -1;
  int killed = 0;
  std::string_view rest = list->str;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    if (line.find(" name=" + name + " ") == std::string_view::npos) continue;
    const std::string id(line.substr(3, line.find(' ') - 3));
    if (admin.command({"CLIENT", "KILL", "ID", id}).ok()) ++killed;
  }
  return killed;
}

TEST(Subscriber, DeliversMessagesAndResubscribesAfterItsConnectionIsDropped) {
  Inbox inbox;
  ClientOptions options = testServer();
  options.client_name = "aureo-sub-" + core::newUuid().substr(0, 8);
  options.min_backoff = std::chrono::milliseconds(10);
  const std::string channel = uniquePrefix() + "peer-changes";
  Subscriber sub(
      options, channel, [&](const std::string& m) { inbox.add(m); }, [&] { inbox.subscribed(); },
      core::Logger::null(), nullptr);
  sub.start();
  ASSERT_TRUE(inbox.waitFor(0, 1));
  EXPECT_TRUE(sub.subscribed());

  Client client(testServer(), core::Logger::null(), nullptr);
  auto receivers = client.command({"PUBLISH", channel, "node-1"});
  ASSERT_TRUE(receivers.ok());
  EXPECT_EQ(receivers->integer, 1);
  ASSERT_TRUE(inbox.waitFor(1, 1));

  EXPECT_EQ(killClientsNamed(client, options.client_name), 1);
  ASSERT_TRUE(inbox.waitFor(1, 2)) << "subscribed again after the drop";
  ASSERT_TRUE(client.command({"PUBLISH", channel, "node-2"}).ok());
  ASSERT_TRUE(inbox.waitFor(2, 2));
  std::lock_guard lock(inbox.mu);
  EXPECT_EQ(inbox.messages, (std::vector<std::string>{"node-1", "node-2"}));
}

TEST(Subscriber, StopEndsABlockedRead) {
  Inbox inbox;
  Subscriber sub(
      testServer(), uniquePrefix() + "quiet", [&](const std::string& m) { inbox.add(m); },
      [&] { inbox.subscribed(); }, core::Logger::null(), nullptr);
  sub.start();
  ASSERT_TRUE(inbox.waitFor(0, 1));
  sub.stop();  // would hang here if the read were not unblocked
  EXPECT_FALSE(sub.subscribed());
}

TEST(Layer, APeerChangePublishedByOneProcessReachesTheSubscribersOfAnother) {
  const std::string url = "redis://127.0.0.1:" + std::to_string(AUREO_TEST_REDIS_PORT) + "/0";
  const std::string prefix = uniquePrefix();
  auto publisher = Layer::create({url, prefix, std::chrono::milliseconds(2000), "pub"},
                                 core::Logger::null(), nullptr);
  auto control = Layer::create({url, prefix, std::chrono::milliseconds(2000), "sub"},
                               core::Logger::null(), nullptr);
  ASSERT_TRUE(publisher.ok() && control.ok());
  Inbox inbox;
  auto sub = (*control)->subscribePeerChanges([&](const std::string& m) { inbox.add(m); },
                                              [&] { inbox.subscribed(); });
  ASSERT_TRUE(inbox.waitFor(0, 1));
  (*publisher)->publishPeerChange("3f1c0b52-0000-4000-8000-000000000001");
  ASSERT_TRUE(inbox.waitFor(1, 1));
  EXPECT_EQ(inbox.messages.at(0), "3f1c0b52-0000-4000-8000-000000000001");
  EXPECT_EQ((*publisher)->telemetry().fallbacks(Use::kPubSub), 0);
}

TEST(Layer, ABadUrlIsAConfigurationError) {
  LayerOptions options;
  options.url = "redis://host:notaport";
  auto layer = Layer::create(options, core::Logger::null(), nullptr);
  ASSERT_FALSE(layer.ok());
  EXPECT_EQ(layer.error().code, core::Code::kInvalidArgument);
}

}  // namespace
}  // namespace aureo::redis
