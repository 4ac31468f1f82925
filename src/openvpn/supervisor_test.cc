// Supervisor behaviour that needs no privileges: option checks, and restarts
// with back-off of a real openvpn that exits at once on a bad config.
#include "openvpn/supervisor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace aureo::openvpn {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/aureo-sup-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

SupervisorCallbacks allowAll() {
  SupervisorCallbacks cb;
  cb.authenticate = [](const ClientInfo&) { return AuthDecision::accept(); };
  return cb;
}

TEST(SupervisorTest, StartRejectsBadOptions) {
  TempDir dir;
  core::SystemClock clock;
  const std::string config = dir.path() + "/server.conf";
  std::ofstream(config) << "verb 3\n";

  SupervisorOptions good;
  good.config_path = config;
  good.management_socket = dir.path() + "/m.sock";

  {
    Supervisor s(good, {}, core::Logger::null(), clock);
    EXPECT_EQ(s.start().error().code, core::Code::kInvalidArgument);  // no authenticate
  }
  {
    auto o = good;
    o.openvpn_binary = "openvpn";
    Supervisor s(o, allowAll(), core::Logger::null(), clock);
    EXPECT_EQ(s.start().error().code, core::Code::kInvalidArgument);
  }
  {
    auto o = good;
    o.config_path = dir.path() + "/missing.conf";
    Supervisor s(o, allowAll(), core::Logger::null(), clock);
    EXPECT_EQ(s.start().error().code, core::Code::kNotFound);
  }
  {
    auto o = good;
    o.management_socket = "relative.sock";
    Supervisor s(o, allowAll(), core::Logger::null(), clock);
    EXPECT_EQ(s.start().error().code, core::Code::kInvalidArgument);
  }
}

TEST(SupervisorTest, DaemonThatKeepsDyingIsRestartedWithGrowingDelays) {
  TempDir dir;
  core::SystemClock clock;
  const std::string config = dir.path() + "/server.conf";
  std::ofstream(config) << "this-is-not-an-openvpn-option 1\n";

  std::mutex mu;
  std::condition_variable cv;
  std::vector<DaemonEvent> events;
  std::vector<std::string> log_lines;
  core::Logger logger("test", core::LogLevel::kInfo, [&](std::string_view line) {
    std::lock_guard lock(mu);
    log_lines.emplace_back(line);
  });

  SupervisorOptions o;
  o.config_path = config;
  o.management_socket = dir.path() + "/m.sock";
  o.backoff = {milliseconds(50), milliseconds(200), seconds(60)};
  auto cb = allowAll();
  cb.on_daemon_event = [&](const DaemonEvent& ev) {
    std::lock_guard lock(mu);
    events.push_back(ev);
    cv.notify_all();
  };
  Supervisor s(o, cb, logger, clock);
  ASSERT_TRUE(s.start().ok());
  const auto exits = [&] {
    std::vector<DaemonEvent> out;
    for (const auto& ev : events) {
      if (ev.kind == DaemonEvent::Kind::kExited) out.push_back(ev);
    }
    return out;
  };
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(60), [&] { return exits().size() >= 4; }));
  }
  s.stop();

  std::lock_guard lock(mu);
  const auto exited = exits();
  EXPECT_EQ(exited[0].restart_delay, milliseconds(50));
  EXPECT_EQ(exited[1].restart_delay, milliseconds(100));
  EXPECT_EQ(exited[2].restart_delay, milliseconds(200));
  EXPECT_EQ(exited[3].restart_delay, milliseconds(200));
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(exited[i].exit.has_value());
    EXPECT_TRUE(exited[i].exit->exited);
    EXPECT_NE(exited[i].exit->code, 0);
    EXPECT_NE(exited[i].pid, exited[i + 1].pid);
    EXPECT_LT(exited[i].generation, exited[i + 1].generation);
  }
  EXPECT_FALSE(s.daemonPid().has_value());
  // The daemon's own complaint reached the logger.
  bool logged = false;
  for (const auto& line : log_lines) {
    if (line.find("this-is-not-an-openvpn-option") != std::string::npos) logged = true;
  }
  EXPECT_TRUE(logged);
}

}  // namespace
}  // namespace aureo::openvpn
