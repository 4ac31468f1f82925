#include "openvpn/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "core/errno_text.h"

namespace aureo::openvpn {
namespace {

constexpr size_t kMaxOutputLine = 4096;

ExitStatus decode(int wstatus) {
  ExitStatus s;
  if (WIFEXITED(wstatus)) {
    s.exited = true;
    s.code = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    s.signal = WTERMSIG(wstatus);
  }
  return s;
}

int openPidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// Runs in the forked child: only async-signal-safe calls from here to exec.
[[noreturn]] void execChild(char* const* argv, int out_fd, int devnull, int err_fd, pid_t parent) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent is already gone
  ::dup2(devnull, STDIN_FILENO);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(out_fd, STDERR_FILENO);
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);  // NOLINT(concurrency-mt-unsafe): forked child
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  // Every other descriptor the parent holds (sockets, other children's pipes)
  // stays out of the child, except the exec-error pipe, which is close-on-exec.
  const int keep = err_fd;
  if (keep > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
  ::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u);
  ::execv(argv[0], argv);
  const int err = errno;
  [[maybe_unused]] const ssize_t n = ::write(err_fd, &err, sizeof err);
  ::_exit(127);
}

}  // namespace

std::string ExitStatus::toString() const {
  if (exited) return "exited with code " + std::to_string(code);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): glibc >= 2.32 strsignal keeps no shared state
  return std::string("killed by signal ") + std::to_string(signal) + " (" + ::strsignal(signal) +
         ")";
}

struct ChildProcess::Reader {
  int fd = -1;
  int wake = -1;
  std::thread thread;
  ~Reader() {
    if (thread.joinable()) {
      const uint64_t one = 1;
      [[maybe_unused]] const ssize_t n = ::write(wake, &one, sizeof one);
      thread.join();
    }
    if (fd >= 0) ::close(fd);
    if (wake >= 0) ::close(wake);
  }
};

core::Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(SpawnOptions options) {
  if (options.argv.empty() || options.argv[0].empty() || options.argv[0][0] != '/') {
    return core::invalidArgument("argv[0] must be an absolute path");
  }
  std::vector<char*> argv;
  for (auto& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  int err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return core::internalError("pipe2 failed");
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return core::internalError("pipe2 failed");
  }
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // dup2 clears FD_CLOEXEC on the targets (0, 1, 2); err[1] keeps it.
    execChild(argv.data(), out[1], devnull, err[1], parent);
  }
  const int fork_errno = errno;
  ::close(out[1]);
  ::close(err[1]);
  if (devnull >= 0) ::close(devnull);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    return core::internalError(std::string("fork: ") + core::errnoText(fork_errno));
  }
  ::setpgid(pid, pid);  // also done in the child; whichever runs first wins the race

  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  // Reads until exec succeeds (EOF) or the child reports why it failed.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(err[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(err[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    ::close(out[0]);
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    child->pid_ = -1;
    const std::string msg = "exec " + options.argv[0] + ": " + core::errnoText(exec_errno);
    if (exec_errno == ENOENT) return core::notFound(msg);
    if (exec_errno == EACCES) return core::permissionDenied(msg);
    return core::internalError(msg);
  }
  child->pidfd_ = openPidfd(pid);
  child->startReader(out[0], std::move(options.on_output_line));
  return child;
}

void ChildProcess::startReader(int read_fd, std::function<void(std::string_view)> on_line) {
  reader_ = std::make_unique<Reader>();
  reader_->fd = read_fd;
  reader_->wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const int fd = read_fd;
  const int wake = reader_->wake;
  reader_->thread = std::thread([fd, wake, on_line = std::move(on_line)] {
    std::string line;
    bool cut = false;
    char buf[4096];
    for (;;) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {wake, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0 && fds[0].revents == 0) break;
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        const char c = buf[i];
        if (c == '\n') {
          if (on_line) on_line(line);
          line.clear();
          cut = false;
        } else if (line.size() < kMaxOutputLine) {
          line += c;
        } else if (!cut) {
          cut = true;
        }
      }
    }
    if (!line.empty() && on_line) on_line(line);
  });
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) terminate(std::chrono::milliseconds{0});
  if (pidfd_ >= 0) ::close(pidfd_);
  reader_.reset();
}

std::optional<ExitStatus> ChildProcess::waitFor(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  if (pid_ <= 0) return ExitStatus{};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // WNOWAIT leaves the zombie in place: while it exists its pid, which is
    // also the group id, cannot be reused, so killing the group below cannot
    // hit a stranger.
    siginfo_t info{};
    const int r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && info.si_pid == pid_) {
      ::kill(-pid_, SIGKILL);  // whatever the daemon left in its group goes too
      int wstatus = 0;
      while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
      }
      status_ = decode(wstatus);
      return status_;
    }
    if (r < 0 && errno != EINTR) {
      status_ = ExitStatus{};  // not our child any more; nothing left to reap
      return status_;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (pidfd_ >= 0) {
      pollfd pfd{pidfd_, POLLIN, 0};
      ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds{20}));
    }
  }
}

void ChildProcess::signalGroup(int sig) {
  if (pid_ <= 0 || status_) return;
  // The group id is the child's pid, which stays ours until it is reaped.
  if (::kill(-pid_, sig) != 0) ::kill(pid_, sig);
}

ExitStatus ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (status_) return *status_;
  if (grace.count() > 0) {
    signalGroup(SIGTERM);
    if (auto s = waitFor(grace)) return *s;
  }
  signalGroup(SIGKILL);
  return waitFor(std::chrono::hours{1}).value_or(ExitStatus{});
}

}  // namespace aureo::openvpn
