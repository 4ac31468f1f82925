#include "openvpn/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace aureo::openvpn {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Lines {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;

  std::function<void(std::string_view)> sink() {
    return [this](std::string_view l) {
      std::lock_guard lock(mu);
      lines.emplace_back(l);
      cv.notify_all();
    };
  }
  // Waits until `n` lines arrived (bounded, so a broken child cannot hang the test).
  std::vector<std::string> waitFor(size_t n) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, seconds(30), [&] { return lines.size() >= n; });
    return lines;
  }
};

// True while the process exists and is not a zombie.
bool isRunning(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return false;
  const auto close = content.rfind(')');
  return close != std::string::npos && close + 2 < content.size() && content[close + 2] != 'Z';
}

TEST(ChildProcessTest, ForwardsOutputLinesAndReportsTheExitCode) {
  Lines out;
  auto child = ChildProcess::spawn(
      {{"/bin/sh", "-c", "echo first; echo second >&2; printf tail; exit 3"}, out.sink()});
  ASSERT_TRUE(child.ok()) << child.error().toString();
  auto status = (*child)->waitFor(seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 3);
  EXPECT_EQ(out.waitFor(3), (std::vector<std::string>{"first", "second", "tail"}));
}

TEST(ChildProcessTest, MissingBinaryIsNotFoundAndLeavesNoChild) {
  auto child = ChildProcess::spawn({{"/nonexistent/openvpn"}, nullptr});
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.error().code, core::Code::kNotFound);
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);  // nothing left to reap
}

TEST(ChildProcessTest, RelativePathIsRejected) {
  EXPECT_EQ(ChildProcess::spawn({{"sh"}, nullptr}).error().code, core::Code::kInvalidArgument);
}

TEST(ChildProcessTest, WaitForTimesOutWhileTheChildRuns) {
  auto child = ChildProcess::spawn({{"/bin/sleep", "1000"}, nullptr});
  ASSERT_TRUE(child.ok());
  EXPECT_FALSE((*child)->waitFor(milliseconds(50)).has_value());
  const auto status = (*child)->terminate(seconds(10));
  EXPECT_FALSE(status.exited);
  EXPECT_EQ(status.signal, SIGTERM);
}

TEST(ChildProcessTest, TerminateEscalatesToSigkillWhenSigtermIsIgnored) {
  Lines out;
  auto child = ChildProcess::spawn(
      {{"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"}, out.sink()});
  ASSERT_TRUE(child.ok());
  ASSERT_EQ(out.waitFor(1).size(), 1u);  // the trap is in place
  const auto status = (*child)->terminate(milliseconds(200));
  EXPECT_FALSE(status.exited);
  EXPECT_EQ(status.signal, SIGKILL);
}

TEST(ChildProcessTest, TerminatingKillsTheWholeProcessGroup) {
  Lines out;
  auto child =
      ChildProcess::spawn({{"/bin/sh", "-c", "/bin/sleep 1000 & echo $!; wait"}, out.sink()});
  ASSERT_TRUE(child.ok());
  const auto lines = out.waitFor(1);
  ASSERT_EQ(lines.size(), 1u);
  const pid_t grandchild = std::stoi(lines[0]);
  ASSERT_TRUE(isRunning(grandchild));
  (*child)->terminate(seconds(10));
  // The orphaned grandchild is reparented and reaped by init; poll (bounded)
  // until it is gone rather than asserting on timing.
  for (int i = 0; i < 3000 && isRunning(grandchild); ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_FALSE(isRunning(grandchild));
}

TEST(ChildProcessTest, DestructorKillsAndReapsARunningChild) {
  pid_t pid = 0;
  {
    auto child = ChildProcess::spawn({{"/bin/sleep", "1000"}, nullptr});
    ASSERT_TRUE(child.ok());
    pid = (*child)->pid();
    EXPECT_TRUE(isRunning(pid));
  }
  EXPECT_FALSE(isRunning(pid));
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);  // already reaped: no zombie
}

TEST(ChildProcessTest, ChildRunsInItsOwnProcessGroup) {
  auto child = ChildProcess::spawn({{"/bin/sleep", "1000"}, nullptr});
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(::getpgid((*child)->pid()), (*child)->pid());
  EXPECT_NE(::getpgid((*child)->pid()), ::getpgrp());
}

}  // namespace
}  // namespace aureo::openvpn
