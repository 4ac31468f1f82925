// A child process in its own process group, with its stdout and stderr read
// line by line, that can be waited for with a timeout and is never left
// behind: the destructor kills the whole group and reaps it, and the child
// gets SIGKILL if the thread that spawned it dies (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace aureo::openvpn {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is an absolute path; no PATH lookup
  // Called for each line of stdout/stderr (without the newline), on a reader
  // thread of this process object. Lines longer than 4 KiB are cut.
  std::function<void(std::string_view line)> on_output_line;
};

// How a child ended, decoded from the wait status.
struct ExitStatus {
  bool exited = false;  // exited normally with `code`
  int code = 0;
  int signal = 0;  // killed by this signal (when !exited)
  [[nodiscard]] std::string toString() const;
};

class ChildProcess {
 public:
  // Forks and execs. kNotFound / kPermissionDenied / kInternal when the exec
  // itself fails (reported through a close-on-exec pipe, so no zombie is left).
  // PR_SET_PDEATHSIG fires when the *calling thread* exits, so spawn from a
  // thread that outlives the child.
  static core::Result<std::unique_ptr<ChildProcess>> spawn(SpawnOptions options);

  // SIGKILLs the group if still running, reaps, joins the reader.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  // A pidfd that turns readable when the child exits (for poll()).
  [[nodiscard]] int pidfd() const { return pidfd_; }

  // Waits up to `timeout` for the child to exit and reaps it. nullopt while
  // it still runs. After it has been reaped, returns the same status again.
  // Call from one thread at a time.
  std::optional<ExitStatus> waitFor(std::chrono::milliseconds timeout);
  // Sends `sig` to the whole process group. No-op once reaped.
  void signalGroup(int sig);
  // SIGTERM to the group, then SIGKILL after `grace`; always reaps.
  ExitStatus terminate(std::chrono::milliseconds grace);

 private:
  ChildProcess() = default;
  void startReader(int read_fd, std::function<void(std::string_view)> on_line);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<ExitStatus> status_;
  struct Reader;
  std::unique_ptr<Reader> reader_;
};

}  // namespace aureo::openvpn
