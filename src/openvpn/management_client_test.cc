// The management client against a real `openvpn` daemon. `--dev null` needs
// no tun device and no privileges; `--management-hold` keeps it idle, which
// is all these tests need from it.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "openvpn/management.h"
#include "openvpn/process.h"

namespace aureo::openvpn {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Events {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ManagementEvent> events;

  void add(const ManagementEvent& ev) {
    std::lock_guard lock(mu);
    events.push_back(ev);
    cv.notify_all();
  }
  template <typename T>
  bool waitFor() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, seconds(30), [&] {
      for (const auto& ev : events) {
        if (std::holds_alternative<T>(ev)) return true;
      }
      return false;
    });
  }
};

class ManagementClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aureo-mgmt-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/m.sock";
    auto daemon = ChildProcess::spawn({{"/usr/sbin/openvpn", "--dev", "null", "--management",
                                        socket_, "unix", "--management-hold", "--verb", "1"},
                                       nullptr});
    ASSERT_TRUE(daemon.ok()) << daemon.error().toString();
    daemon_ = std::move(*daemon);
    // The socket appears once the daemon has started; wait for it (bounded).
    for (int i = 0; i < 3000 && !client_; ++i) {
      auto c = ManagementClient::connect(
          socket_, [this](const ManagementEvent& ev) { events_.add(ev); }, {},
          core::Logger::null());
      if (c.ok()) {
        client_ = std::move(*c);
      } else {
        ASSERT_FALSE(daemon_->waitFor(milliseconds(10)).has_value()) << "openvpn exited";
      }
    }
    ASSERT_TRUE(client_) << "openvpn never opened its management socket";
  }

  void TearDown() override {
    client_.reset();
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::string socket_;
  std::unique_ptr<ChildProcess> daemon_;
  Events events_;
  std::unique_ptr<ManagementClient> client_;
};

TEST_F(ManagementClientTest, DeliversTheGreetingAndHoldNotifications) {
  EXPECT_TRUE(events_.waitFor<InfoEvent>());
  EXPECT_TRUE(events_.waitFor<HoldEvent>());
}

TEST_F(ManagementClientTest, CommandsGetTheirOwnReplies) {
  auto version = client_->command("version");
  ASSERT_TRUE(version.ok()) << version.error().toString();
  ASSERT_EQ(version->kind, Reply::Kind::kMultiLine);
  ASSERT_EQ(version->lines.size(), 2u);
  EXPECT_EQ(version->lines[1], "Management Version: 5");

  auto bogus = client_->command("no-such-command");
  ASSERT_TRUE(bogus.ok());
  EXPECT_EQ(bogus->kind, Reply::Kind::kError);
  EXPECT_NE(bogus->message.find("unknown command"), std::string::npos);

  EXPECT_TRUE(client_->setBytecountInterval(1).ok());
  EXPECT_TRUE(client_->holdRelease().ok());
  // Not a server: client-kill is refused, and that surfaces as kAborted.
  auto kill = client_->clientKill(5);
  ASSERT_FALSE(kill.ok());
  EXPECT_EQ(kill.error().code, core::Code::kAborted);
  auto status = client_->status();
  ASSERT_TRUE(status.ok()) << status.error().toString();
  EXPECT_TRUE(status->empty());
}

TEST_F(ManagementClientTest, ConcurrentCommandsEachGetTheMatchingReply) {
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        switch ((t + i) % 3) {
          case 0: {
            auto r = client_->command("version");
            if (!r.ok() || r->kind != Reply::Kind::kMultiLine || r->lines.size() != 2) ++mismatches;
            break;
          }
          case 1: {
            auto r = client_->command("bytecount " + std::to_string(i + 1));
            if (!r.ok() || r->kind != Reply::Kind::kSuccess ||
                r->message != "bytecount interval changed") {
              ++mismatches;
            }
            break;
          }
          default: {
            auto r = client_->command("bogus");
            if (!r.ok() || r->kind != Reply::Kind::kError) ++mismatches;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(ManagementClientTest, DaemonDyingMidCommandFailsTheCommandInsteadOfHanging) {
  ASSERT_TRUE(client_->command("version").ok());
  // A stopped daemon reads nothing and answers nothing: the command is stuck
  // in flight until the daemon dies.
  ASSERT_EQ(::kill(daemon_->pid(), SIGSTOP), 0);
  auto pending =
      std::async(std::launch::async, [&] { return client_->command("version", seconds(600)); });
  daemon_->signalGroup(SIGKILL);
  auto result = pending.get();
  ASSERT_FALSE(result.ok());
  // kUnavailable, not kDeadlineExceeded: the closed socket ended the wait.
  EXPECT_EQ(result.error().code, core::Code::kUnavailable) << result.error().toString();
  EXPECT_TRUE(events_.waitFor<ConnectionClosedEvent>());
  EXPECT_FALSE(client_->connected());
  auto after = client_->command("version");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, core::Code::kUnavailable);
}

TEST_F(ManagementClientTest, TimedOutCommandDoesNotStealTheNextReply) {
  ASSERT_EQ(::kill(daemon_->pid(), SIGSTOP), 0);
  auto late = client_->command("version", milliseconds(200));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, core::Code::kDeadlineExceeded);
  ASSERT_EQ(::kill(daemon_->pid(), SIGCONT), 0);
  // The version reply arrives now and belongs to the abandoned command.
  auto next = client_->command("bytecount 2");
  ASSERT_TRUE(next.ok()) << next.error().toString();
  EXPECT_EQ(next->kind, Reply::Kind::kSuccess);
  EXPECT_EQ(next->message, "bytecount interval changed");
}

TEST_F(ManagementClientTest, CommandFromTheEventHandlerIsRefused) {
  // A second connection whose handler tries to issue a command. OpenVPN
  // serves one management client at a time, so drop the first one.
  client_.reset();
  std::promise<ManagementClient*> self;
  auto self_future = self.get_future().share();
  std::promise<core::Code> seen;
  std::atomic<bool> done{false};
  std::unique_ptr<ManagementClient> second;
  for (int i = 0; i < 3000 && !second; ++i) {
    auto c = ManagementClient::connect(
        socket_,
        [&, self_future](const ManagementEvent& ev) {
          if (!std::holds_alternative<InfoEvent>(ev) || done.exchange(true)) return;
          auto r = self_future.get()->command("version");
          seen.set_value(r.ok() ? core::Code::kOk : r.error().code);
        },
        {}, core::Logger::null());
    if (c.ok()) {
      second = std::move(*c);
    } else {
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  ASSERT_TRUE(second);
  self.set_value(second.get());
  EXPECT_EQ(seen.get_future().get(), core::Code::kFailedPrecondition);
}

TEST_F(ManagementClientTest, ArgumentsThatWouldSpliceCommandsAreRejected) {
  EXPECT_EQ(client_->command("version\nsignal SIGTERM").error().code, core::Code::kInvalidArgument);
  EXPECT_EQ(client_->command("").error().code, core::Code::kInvalidArgument);
  EXPECT_EQ(client_->clientDeny(1, 0, "bad\" reason").error().code, core::Code::kInvalidArgument);
  EXPECT_EQ(client_->clientDeny(1, 0, "ok", "line\nbreak").error().code,
            core::Code::kInvalidArgument);
  EXPECT_EQ(client_->clientKill(1, "HALT now").error().code, core::Code::kInvalidArgument);
  EXPECT_EQ(client_->clientAuth(1, 0, {"push-reset", "END"}).error().code,
            core::Code::kInvalidArgument);
  // The daemon is still answering normally afterwards.
  EXPECT_TRUE(client_->command("version").ok());
}

TEST(ManagementConnectTest, NothingListeningIsUnavailable) {
  auto c = ManagementClient::connect(
      "/tmp/aureo-no-such-socket.sock", [](const ManagementEvent&) {}, {}, core::Logger::null());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, core::Code::kUnavailable);
}

}  // namespace
}  // namespace aureo::openvpn
