// aureo-wg: the Aureo WireGuard engine as a network interface, command-line
// compatible with wireguard-go:
//
//   aureo-wg [-f|--foreground] [--workers N] INTERFACE-NAME
//
// It creates the TUN interface, serves the UAPI on
// /var/run/wireguard/INTERFACE-NAME.sock and is configured with wg(8). Unless
// told to stay in the foreground it detaches, and the parent exits 0 only once
// the interface and the socket are ready. LOG_LEVEL=debug|verbose|info|error|
// silent picks the log level (default info; a detached daemon logs to stderr
// only when LOG_LEVEL is set, as wireguard-go does). SIGINT/SIGTERM, or the
// interface being deleted, stop it and remove the socket; SIGUSR1 logs the
// drop counters and I/O counters (at info level). Wiring only: the
// work is in src/wireguard.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/log.h"
#include "wireguard/keys.h"
#include "wireguard/linux_device.h"
#include "wireguard/tun.h"
#include "wireguard/uapi.h"

namespace {

using aureo::core::LogLevel;

constexpr int kExitSetupFailed = 1;
constexpr int kExitUsage = 2;

struct Args {
  bool foreground = false;
  size_t workers = 0;
  std::string interface_name;
};

void usage(const char* argv0) {
  std::fprintf(stderr, "Usage: %s [-f/--foreground] [--workers N] INTERFACE-NAME\n", argv0);
}

std::optional<Args> parseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-f" || a == "--foreground") {
      args.foreground = true;
    } else if (a == "--workers" && i + 1 < argc) {
      char* end = nullptr;
      const unsigned long n = std::strtoul(argv[++i], &end, 10);
      if (end == nullptr || *end != '\0' || n == 0 || n > 256) return std::nullopt;
      args.workers = n;
    } else if (!a.empty() && a[0] == '-') {
      return std::nullopt;
    } else if (args.interface_name.empty()) {
      args.interface_name = a;
    } else {
      return std::nullopt;
    }
  }
  if (args.interface_name.empty()) return std::nullopt;
  return args;
}

struct LogChoice {
  bool silent = false;
  bool explicitly_set = false;
  LogLevel level = LogLevel::kInfo;
};

LogChoice logChoiceFromEnv() {
  LogChoice c;
  const char* env = std::getenv("LOG_LEVEL");  // NOLINT(concurrency-mt-unsafe): at startup
  if (env == nullptr || *env == '\0') return c;
  c.explicitly_set = true;
  const std::string_view v = env;
  if (v == "verbose") {
    c.level = LogLevel::kDebug;
  } else if (v == "silent") {
    c.silent = true;
  } else if (!aureo::core::parseLogLevel(v, &c.level)) {
    std::fprintf(stderr, "aureo-wg: ignoring unknown LOG_LEVEL=%s\n", env);
  }
  return c;
}

void redirect(int fd, int flags) {
  const int null_fd = ::open("/dev/null", flags | O_CLOEXEC);
  if (null_fd < 0) return;
  ::dup2(null_fd, fd);
  ::close(null_fd);
}

// Forks; the parent waits on a pipe for the child's verdict and exits with
// it. Returns the write end of that pipe in the child (or -1 when running in
// the foreground).
int detach(bool foreground) {
  if (foreground) return -1;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("aureo-wg: pipe");
    std::exit(kExitSetupFailed);  // NOLINT(concurrency-mt-unsafe): before any thread starts
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("aureo-wg: fork");
    std::exit(kExitSetupFailed);  // NOLINT(concurrency-mt-unsafe): before any thread starts
  }
  if (pid > 0) {
    ::close(fds[1]);
    char verdict = 1;
    ssize_t n;
    do {
      n = ::read(fds[0], &verdict, 1);
    } while (n < 0 && errno == EINTR);
    std::_Exit(n == 1 && verdict == 0 ? 0 : kExitSetupFailed);
  }
  ::close(fds[0]);
  ::setsid();
  return fds[1];
}

void reportReady(int ready_fd, bool keep_stderr) {
  if (ready_fd < 0) return;
  const char ok = 0;
  [[maybe_unused]] const ssize_t n = ::write(ready_fd, &ok, 1);
  ::close(ready_fd);
  redirect(STDIN_FILENO, O_RDONLY);
  redirect(STDOUT_FILENO, O_WRONLY);
  if (!keep_stderr) redirect(STDERR_FILENO, O_WRONLY);
}

// One line for the drop counters ("reason=count,..." for every non-zero
// one) and one for the I/O counters.
void logCounters(aureo::wireguard::LinuxDevice& device, aureo::core::Logger& log) {
  using aureo::wireguard::DropReason;
  const aureo::wireguard::DropCounters drops = device.device().drops();
  std::string text;
  for (size_t i = 0; i < drops.counts.size(); ++i) {
    if (drops.counts[i] == 0) continue;
    if (!text.empty()) text += ',';
    text += aureo::wireguard::dropReasonName(static_cast<DropReason>(i));
    text += '=';
    text += std::to_string(drops.counts[i]);
  }
  log.info("drop counters", {{"drops", text}, {"total", drops.total()}});
  const aureo::wireguard::LinuxDeviceStats io = device.ioStats();
  log.info("io counters", {{"tun_frames_read", io.tun_frames_read},
                           {"tun_segments", io.tun_segments},
                           {"tun_frames_written", io.tun_frames_written},
                           {"tun_packets_written", io.tun_packets_written},
                           {"udp_datagrams_received", io.udp_datagrams_received},
                           {"udp_datagrams_sent", io.udp_datagrams_sent},
                           {"handshakes_queued", io.handshakes_queued}});
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Args> args = parseArgs(argc, argv);
  if (!args) {
    usage(argv[0]);
    return kExitUsage;
  }
  if (auto s = aureo::wireguard::validateInterfaceName(args->interface_name); !s.ok()) {
    std::fprintf(stderr, "aureo-wg: %s\n", s.error().message.c_str());
    return kExitUsage;
  }
  const LogChoice log_choice = logChoiceFromEnv();
  const int ready_fd = detach(args->foreground);

  // Every thread started from here on inherits this mask, so the signals
  // wait for sigwait() below on the main thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<aureo::core::Logger> own_log;
  if (!log_choice.silent)
    own_log = std::make_unique<aureo::core::Logger>("aureo-wg", log_choice.level);
  aureo::core::Logger& log = own_log ? *own_log : aureo::core::Logger::null();
  aureo::core::SystemClock clock;

  aureo::wireguard::LinuxDeviceOptions options;
  options.interface_name = args->interface_name;
  options.workers = args->workers;
  // Process-directed, so the main thread's sigwait() sees it.
  options.on_interface_gone = [] { ::kill(::getpid(), SIGTERM); };
  auto device = aureo::wireguard::LinuxDevice::create(options, clock, log);
  if (!device.ok()) {
    log.error("cannot create the interface",
              {{"interface", args->interface_name}, {"error", device.error().message}});
    return kExitSetupFailed;
  }
  (*device)->device().subscribeHandshakes([&log](const aureo::wireguard::HandshakeEvent& e) {
    log.info("handshake completed",
             {{"peer", aureo::wireguard::toBase64(e.peer.span())},
              {"initiator", e.initiator},
              {"endpoint", e.endpoint ? e.endpoint->toString() : std::string()}});
  });
  auto uapi = aureo::wireguard::UapiServer::start(args->interface_name, (*device)->uapi(), log);
  if (!uapi.ok()) {
    log.error("cannot start the UAPI socket",
              {{"interface", args->interface_name}, {"error", uapi.error().message}});
    return kExitSetupFailed;
  }
  log.info("device started", {{"interface", args->interface_name},
                              {"uapi", (*uapi)->socketPath()},
                              {"pid", static_cast<int64_t>(::getpid())}});
  reportReady(ready_fd, log_choice.explicitly_set && !log_choice.silent);

  int sig = 0;
  for (;;) {
    if (sigwait(&signals, &sig) != 0 || sig == SIGHUP) continue;
    if (sig != SIGUSR1) break;
    logCounters(**device, log);
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe): glibc >= 2.32 strsignal keeps no shared state
  log.info("shutting down", {{"signal", std::string(strsignal(sig))},
                             {"interface_gone", (*device)->interfaceGone()}});
  uapi->reset();    // removes the socket file first: wg stops seeing the device
  device->reset();  // then the threads stop and the TUN queues close
  return 0;
}
