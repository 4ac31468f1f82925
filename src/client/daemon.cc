#include "client/daemon.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

namespace aureo::client {
namespace {

void writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string tail(const std::filesystem::path& file, size_t max) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > max) text = text.substr(text.size() - max);
  return text;
}

[[noreturn]] void daemonChild(int report_fd, const std::filesystem::path& log_file,
                              const std::function<int(const ReportReady&)>& body) {
  ::setsid();
  // The second fork: the daemon's parent exits at once, so the daemon is
  // re-parented and the caller only waits for that short-lived middle child.
  const pid_t pid = ::fork();
  if (pid < 0) {
    writeAll(report_fd,
             fmt::format("1cannot fork the daemon: {}", std::system_category().message(errno)));
    ::_exit(1);
  }
  if (pid > 0) ::_exit(0);
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
  }
  ::dup2(log_fd >= 0 ? log_fd : null_fd, STDERR_FILENO);
  if (::chdir("/") != 0) {
    // Harmless: the daemon opens only absolute paths.
  }
  bool reported = false;
  const ReportReady ready = [&](const core::Status& outcome) {
    if (reported) return;
    reported = true;
    writeAll(report_fd, outcome.ok() ? std::string("0") : "1" + outcome.error().message);
    ::close(report_fd);
  };
  const int code = body(ready);
  if (!reported) ready(core::unavailable("the daemon stopped before it was ready"));
  ::_exit(code);
}

}  // namespace

core::Status runDetached(const std::filesystem::path& log_file,
                         const std::function<int(const ReportReady&)>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return core::internalError(fmt::format("pipe: {}", std::system_category().message(errno)));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return core::internalError(fmt::format("fork: {}", std::system_category().message(err)));
  }
  if (pid == 0) {
    ::close(fds[0]);
    daemonChild(fds[1], log_file, body);
  }
  ::close(fds[1]);
  std::string verdict;
  char buf[1024];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    verdict.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (verdict.empty()) {
    return core::unavailable("the daemon exited before it was ready: " + tail(log_file, 2000));
  }
  if (verdict.front() == '0') return {};
  return core::unavailable(verdict.substr(1));
}

}  // namespace aureo::client
