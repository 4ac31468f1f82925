#include "openvpn/supervisor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <variant>

#include "crypto/secret.h"
#include "openvpn/management.h"

namespace aureo::openvpn {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// Byte counts are shed first when the event thread falls behind; client
// events never are, since a lost CONNECT leaves a client waiting.
constexpr size_t kQueueSoftLimit = 4096;

struct GenerationEnded {
  uint64_t generation = 0;
};

struct Queued {
  uint64_t generation = 0;
  std::variant<ManagementEvent, GenerationEnded, DaemonEvent> item;
};

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string envOr(const ClientEvent& ev, std::string_view name) {
  const std::string* v = ev.findEnv(name);
  return v ? *v : std::string();
}

template <typename T>
T envNumber(const ClientEvent& ev, std::string_view name) {
  T out{};
  if (const std::string* v = ev.findEnv(name)) {
    std::from_chars(v->data(), v->data() + v->size(), out);
  }
  return out;
}

// Deny reasons travel inside a quoted management command; anything that
// could break the quoting is replaced rather than failing the denial.
std::string quotable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f || c == '"' || c == '\\') ? '_' : c;
  }
  return out;
}

void wipe(std::string& s) {
  crypto::secureZero(s.data(), s.size());
  s.clear();
}

}  // namespace

struct Supervisor::Impl {
  Impl(SupervisorOptions o, SupervisorCallbacks c, core::Logger& l, const core::Clock& k)
      : options(std::move(o)), cb(std::move(c)), logger(l), clock(k) {}

  // Monitor thread.
  void monitorLoop();
  bool attachManagement(ChildProcess& child, uint64_t gen, milliseconds timeout);
  bool sleepUnlessStopped(milliseconds d) const;

  // Event thread.
  void eventLoop();
  void handle(uint64_t gen, const ManagementEvent& ev);
  void authenticate(uint64_t gen, const ClientEvent& ev);
  void established(uint64_t gen, const ClientEvent& ev);
  void disconnected(uint64_t gen, const ClientEvent& ev);
  void bytecount(uint64_t gen, const ClientBytecountEvent& ev);
  void generationEnded(uint64_t gen);
  std::shared_ptr<ManagementClient> clientFor(uint64_t gen);

  void enqueue(Queued q);
  void daemonEvent(DaemonEvent ev) { enqueue({ev.generation, std::move(ev)}); }
  std::shared_ptr<ManagementClient> currentClient() const {
    std::lock_guard lock(mu);
    return mgmt;
  }

  const SupervisorOptions options;
  const SupervisorCallbacks cb;
  core::Logger& logger;
  const core::Clock& clock;

  std::thread monitor;
  std::thread events;
  int stop_fd = -1;
  std::atomic<bool> stopping{false};
  bool started = false;  // start()/stop() are called from one owner thread
  bool stopped = false;

  mutable std::mutex mu;
  std::condition_variable mgmt_cv;
  uint64_t generation = 0;                     // guarded by mu
  std::optional<pid_t> pid;                    // guarded by mu
  std::shared_ptr<ManagementClient> mgmt;      // guarded by mu
  uint64_t mgmt_generation = 0;                // guarded by mu
  bool connecting = false;                     // guarded by mu
  std::map<uint64_t, ClientSession> sessions;  // guarded by mu; written by the event thread
  uint64_t sessions_generation = 0;            // event thread only

  std::mutex qmu;
  std::condition_variable qcv;
  std::deque<Queued> queue;   // guarded by qmu
  bool queue_closed = false;  // guarded by qmu
};

// ---------------------------------------------------------------- monitor ---

bool Supervisor::Impl::sleepUnlessStopped(milliseconds d) const {
  if (stopping) return false;
  pollfd pfd{stop_fd, POLLIN, 0};
  ::poll(&pfd, 1, static_cast<int>(d.count()));
  return !stopping;
}

bool Supervisor::Impl::attachManagement(ChildProcess& child, uint64_t gen, milliseconds timeout) {
  {
    std::lock_guard lock(mu);
    connecting = true;
  }
  const auto deadline = Steady::now() + timeout;
  bool attached = false;
  while (!stopping && Steady::now() < deadline) {
    if (child.waitFor(milliseconds(0))) break;
    auto c = ManagementClient::connect(
        options.management_socket,
        [this, gen](const ManagementEvent& ev) {
          enqueue({gen, ev});
        },
        {options.command_timeout, {}}, logger);
    if (!c.ok()) {
      sleepUnlessStopped(milliseconds(50));
      continue;
    }
    std::shared_ptr<ManagementClient> client = std::move(*c);
    {
      std::lock_guard lock(mu);
      mgmt = client;
      mgmt_generation = gen;
      connecting = false;
    }
    mgmt_cv.notify_all();
    daemonEvent({DaemonEvent::Kind::kManagementConnected, gen, child.pid(), {}, {}, {}});
    if (auto st = client->setBytecountInterval(options.bytecount_interval_seconds); !st.ok()) {
      logger.warn("openvpn bytecount setup failed", {{"error", st.error().message}});
    }
    if (auto st = client->holdRelease(); !st.ok()) {
      logger.warn("openvpn hold release failed", {{"error", st.error().message}});
    }
    attached = true;
    break;
  }
  {
    std::lock_guard lock(mu);
    connecting = false;
  }
  mgmt_cv.notify_all();
  return attached;
}

void Supervisor::Impl::monitorLoop() {
  RestartBackoff backoff(options.backoff);
  std::vector<std::string> argv = {options.openvpn_binary, "--config", options.config_path};
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());

  while (!stopping) {
    // A daemon killed with SIGKILL leaves its socket file behind.
    ::unlink(options.management_socket.c_str());
    auto spawned = ChildProcess::spawn({argv, [this](std::string_view line) {
                                          logger.info("openvpn", {{"line", line}});
                                        }});
    if (!spawned.ok()) {
      const auto delay = backoff.nextDelay(Steady::duration{0});
      logger.error("cannot start openvpn", {{"error", spawned.error().message}});
      daemonEvent({DaemonEvent::Kind::kSpawnFailed, 0, -1, {}, delay, spawned.error().message});
      if (!sleepUnlessStopped(delay)) break;
      continue;
    }
    std::unique_ptr<ChildProcess> child = std::move(*spawned);
    const auto started_at = Steady::now();
    uint64_t gen = 0;
    {
      std::lock_guard lock(mu);
      gen = ++generation;
      pid = child->pid();
      mgmt.reset();
    }
    logger.info("openvpn started", {{"pid", child->pid()}, {"generation", gen}});
    daemonEvent({DaemonEvent::Kind::kStarted, gen, child->pid(), {}, {}, {}});

    bool attached = attachManagement(*child, gen, options.management_connect_timeout);
    if (!attached && !stopping && !child->waitFor(milliseconds(0))) {
      logger.error("openvpn never opened its management socket; restarting it",
                   {{"socket", options.management_socket}});
    }
    while (attached && !stopping) {
      pollfd fds[2] = {{child->pidfd(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
      ::poll(fds, 2, 1000);
      if (stopping || child->waitFor(milliseconds(0))) break;
      auto current = currentClient();
      if (!current || !current->connected()) {
        // The daemon lives but the socket closed: attach again.
        {
          std::lock_guard lock(mu);
          mgmt.reset();
          connecting = true;  // events already queued wait for the new connection
        }
        current.reset();
        attachManagement(*child, gen, milliseconds(1000));
      }
    }

    const ExitStatus status = child->terminate(stopping ? options.stop_grace : milliseconds(0));
    const pid_t old_pid = child->pid();
    std::shared_ptr<ManagementClient> old_client;
    {
      std::lock_guard lock(mu);
      old_client = std::move(mgmt);
      pid.reset();
    }
    mgmt_cv.notify_all();
    old_client.reset();  // joins its reader; the socket is dead anyway
    child.reset();
    enqueue({gen, GenerationEnded{gen}});
    if (stopping) {
      logger.info("openvpn stopped", {{"pid", old_pid}, {"status", status.toString()}});
      daemonEvent({DaemonEvent::Kind::kExited, gen, old_pid, status, milliseconds(0), "stopped"});
      break;
    }
    const auto delay = backoff.nextDelay(Steady::now() - started_at);
    logger.warn("openvpn exited; restarting",
                {{"pid", old_pid}, {"status", status.toString()}, {"delay_ms", delay.count()}});
    daemonEvent({DaemonEvent::Kind::kExited, gen, old_pid, status, delay, {}});
    if (!sleepUnlessStopped(delay)) break;
  }
}

// ------------------------------------------------------------------ events ---

void Supervisor::Impl::enqueue(Queued q) {
  {
    std::lock_guard lock(qmu);
    if (queue_closed) return;
    if (queue.size() >= kQueueSoftLimit) {
      const auto* ev = std::get_if<ManagementEvent>(&q.item);
      if (ev && std::holds_alternative<ClientBytecountEvent>(*ev)) return;
    }
    queue.push_back(std::move(q));
  }
  qcv.notify_one();
}

void Supervisor::Impl::eventLoop() {
  for (;;) {
    Queued q;
    {
      std::unique_lock lock(qmu);
      qcv.wait(lock, [&] { return !queue.empty() || queue_closed; });
      if (queue.empty()) return;
      q = std::move(queue.front());
      queue.pop_front();
    }
    std::visit(Overloaded{
                   [&](const ManagementEvent& ev) { handle(q.generation, ev); },
                   [&](const GenerationEnded& g) { generationEnded(g.generation); },
                   [&](const DaemonEvent& ev) {
                     if (ev.kind == DaemonEvent::Kind::kStarted) {
                       sessions_generation = ev.generation;
                     }
                     if (cb.on_daemon_event) cb.on_daemon_event(ev);
                   },
               },
               q.item);
    // The login's password rode along in the event's environment.
    if (auto* ev = std::get_if<ManagementEvent>(&q.item)) {
      if (auto* client = std::get_if<ClientEvent>(ev)) {
        for (auto& [name, value] : client->env) {
          if (name == "password") wipe(value);
        }
      }
    }
  }
}

std::shared_ptr<ManagementClient> Supervisor::Impl::clientFor(uint64_t gen) {
  // Events can arrive a moment before the monitor has published the client
  // that read them; wait for it (bounded) rather than drop a login.
  std::unique_lock lock(mu);
  mgmt_cv.wait_for(lock, options.command_timeout, [&] {
    return generation != gen || (mgmt && mgmt_generation == gen) || !connecting;
  });
  if (generation == gen && mgmt_generation == gen) return mgmt;
  return nullptr;
}

void Supervisor::Impl::handle(uint64_t gen, const ManagementEvent& ev) {
  std::visit(Overloaded{
                 [&](const ClientEvent& e) {
                   switch (e.kind) {
                     case ClientEventKind::kConnect:
                     case ClientEventKind::kReauth: authenticate(gen, e); break;
                     case ClientEventKind::kEstablished: established(gen, e); break;
                     case ClientEventKind::kDisconnect: disconnected(gen, e); break;
                     case ClientEventKind::kCrResponse: break;  // no challenge/response in use
                   }
                 },
                 [&](const ClientBytecountEvent& e) { bytecount(gen, e); },
                 [&](const HoldEvent&) {
                   // Also after an internal restart (SIGHUP/SIGUSR1) of the daemon.
                   if (auto c = clientFor(gen)) {
                     if (auto st = c->holdRelease(); !st.ok()) {
                       logger.warn("openvpn hold release failed", {{"error", st.error().message}});
                     }
                   }
                 },
                 [&](const NotificationEvent& e) {
                   if (e.type == "FATAL") logger.error("openvpn fatal", {{"message", e.payload}});
                 },
                 [](const auto&) {},
             },
             ev);
}

void Supervisor::Impl::authenticate(uint64_t gen, const ClientEvent& ev) {
  if (!ev.kid) return;
  auto client = clientFor(gen);
  if (!client) return;  // that daemon is gone; its clients went with it
  ClientInfo info;
  info.cid = ev.cid;
  info.kid = *ev.kid;
  info.reauth = ev.kind == ClientEventKind::kReauth;
  info.username = envOr(ev, "username");
  info.password = envOr(ev, "password");
  info.common_name = envOr(ev, "common_name");
  info.untrusted_ip = envOr(ev, "untrusted_ip");
  info.untrusted_port = envNumber<uint16_t>(ev, "untrusted_port");
  info.platform = envOr(ev, "IV_PLAT");
  info.client_version = envOr(ev, "IV_VER");
  info.gui_version = envOr(ev, "IV_GUI_VER");

  AuthDecision decision;
  if (ev.env_truncated) {
    decision = AuthDecision::deny("incomplete client data from openvpn");
  } else if (info.username.empty() || info.password.empty()) {
    decision = AuthDecision::deny("no credentials", "credentials required");
  } else {
    try {
      decision = cb.authenticate(info);
    } catch (const std::exception& e) {
      decision = AuthDecision::deny(std::string("authentication failed: ") + e.what());
    }
  }
  wipe(info.password);

  core::Status st;
  if (decision.allow) {
    st = decision.client_config.empty()
             ? client->clientAuthNt(info.cid, info.kid)
             : client->clientAuth(info.cid, info.kid, decision.client_config);
  } else {
    const std::string reason = decision.reason.empty() ? "denied" : quotable(decision.reason);
    st = client->clientDeny(info.cid, info.kid, reason, quotable(decision.client_reason));
  }
  logger.info(decision.allow ? "openvpn client allowed" : "openvpn client denied",
              {{"cid", info.cid},
               {"username", info.username},
               {"reauth", info.reauth},
               {"reason", decision.reason}});
  if (!st.ok()) {
    logger.warn("openvpn auth reply failed", {{"cid", info.cid}, {"error", st.error().message}});
  }
}

void Supervisor::Impl::established(uint64_t gen, const ClientEvent& ev) {
  if (gen != sessions_generation) return;
  ClientSession s;
  s.cid = ev.cid;
  s.username = envOr(ev, "username");
  s.common_name = envOr(ev, "common_name");
  const std::string ip = envOr(ev, "trusted_ip");
  const std::string port = envOr(ev, "trusted_port");
  s.real_address = ip.find(':') != std::string::npos ? "[" + ip + "]:" + port : ip + ":" + port;
  s.virtual_address = envOr(ev, "ifconfig_pool_remote_ip");
  s.virtual_ipv6_address = envOr(ev, "ifconfig_pool_remote_ip6");
  const auto since = envNumber<int64_t>(ev, "time_unix");
  s.connected_since = since > 0 ? core::fromUnixSeconds(since) : clock.now();
  {
    std::lock_guard lock(mu);
    sessions[s.cid] = s;
  }
  logger.info("openvpn client connected",
              {{"cid", s.cid}, {"username", s.username}, {"virtual_address", s.virtual_address}});
  if (cb.on_established) cb.on_established(s);
}

void Supervisor::Impl::disconnected(uint64_t gen, const ClientEvent& ev) {
  if (gen != sessions_generation) return;
  ClientSession s;
  {
    std::lock_guard lock(mu);
    auto it = sessions.find(ev.cid);
    if (it == sessions.end()) return;  // never established (denied, or timed out in TLS)
    s = std::move(it->second);
    sessions.erase(it);
  }
  if (ev.findEnv("bytes_received")) s.bytes_received = envNumber<uint64_t>(ev, "bytes_received");
  if (ev.findEnv("bytes_sent")) s.bytes_sent = envNumber<uint64_t>(ev, "bytes_sent");
  logger.info("openvpn client disconnected", {{"cid", s.cid},
                                              {"username", s.username},
                                              {"bytes_received", s.bytes_received},
                                              {"bytes_sent", s.bytes_sent}});
  if (cb.on_disconnected) cb.on_disconnected(s);
}

void Supervisor::Impl::bytecount(uint64_t gen, const ClientBytecountEvent& ev) {
  if (gen != sessions_generation) return;
  ClientSession s;
  {
    std::lock_guard lock(mu);
    auto it = sessions.find(ev.cid);
    if (it == sessions.end()) return;
    it->second.bytes_received = ev.bytes_received;
    it->second.bytes_sent = ev.bytes_sent;
    s = it->second;
  }
  if (cb.on_bytecount) cb.on_bytecount(s);
}

void Supervisor::Impl::generationEnded(uint64_t gen) {
  if (gen != sessions_generation) return;
  std::map<uint64_t, ClientSession> gone;
  {
    std::lock_guard lock(mu);
    gone.swap(sessions);
  }
  sessions_generation = 0;
  for (const auto& [cid, s] : gone) {
    logger.info("openvpn client lost with the daemon", {{"cid", cid}, {"username", s.username}});
    if (cb.on_disconnected) cb.on_disconnected(s);
  }
}

// ------------------------------------------------------------------ public ---

Supervisor::Supervisor(SupervisorOptions options, SupervisorCallbacks callbacks,
                       core::Logger& logger, const core::Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(callbacks), logger, clock)) {}

Supervisor::~Supervisor() {
  stop();
}

core::Status Supervisor::start() {
  Impl& d = *impl_;
  if (d.started) return core::failedPrecondition("supervisor already started");
  if (!d.cb.authenticate) return core::invalidArgument("an authenticate callback is required");
  if (d.options.openvpn_binary.empty() || d.options.openvpn_binary[0] != '/') {
    return core::invalidArgument("openvpn_binary must be an absolute path", "openvpn_binary");
  }
  if (::access(d.options.openvpn_binary.c_str(), X_OK) != 0) {
    return core::notFound("cannot execute " + d.options.openvpn_binary);
  }
  if (::access(d.options.config_path.c_str(), R_OK) != 0) {
    return core::notFound("cannot read config " + d.options.config_path);
  }
  if (d.options.management_socket.empty() || d.options.management_socket[0] != '/' ||
      d.options.management_socket.size() > 107) {
    return core::invalidArgument("management_socket must be an absolute path under 108 bytes",
                                 "management_socket");
  }
  if (d.options.bytecount_interval_seconds < 1) {
    return core::invalidArgument("bytecount interval must be at least 1 s");
  }
  d.stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (d.stop_fd < 0) return core::internalError("eventfd failed");
  d.started = true;
  d.events = std::thread([&d] { d.eventLoop(); });
  // The monitor thread spawns the daemon, so it must outlive it: the
  // daemon's PR_SET_PDEATHSIG fires when this thread exits.
  d.monitor = std::thread([&d] { d.monitorLoop(); });
  return core::okStatus();
}

void Supervisor::stop() {
  Impl& d = *impl_;
  if (!d.started || d.stopped) return;
  d.stopped = true;
  d.stopping = true;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(d.stop_fd, &one, sizeof one);
  if (d.monitor.joinable()) d.monitor.join();
  {
    std::lock_guard lock(d.qmu);
    d.queue_closed = true;  // the event thread drains what is queued, then exits
  }
  d.qcv.notify_all();
  if (d.events.joinable()) d.events.join();
  ::close(d.stop_fd);
  d.stop_fd = -1;
}

core::Status Supervisor::kickClient(uint64_t cid) {
  auto client = impl_->currentClient();
  if (!client) return core::notFound("no openvpn daemon is running");
  auto st = client->clientKill(cid, impl_->options.kick_message);
  if (!st.ok() && st.error().code == core::Code::kAborted) {
    return core::notFound("openvpn has no client " + std::to_string(cid));
  }
  return st;
}

core::Result<int> Supervisor::kickUser(std::string_view username) {
  std::vector<uint64_t> cids;
  for (const auto& s : clients()) {
    if (s.username == username) cids.push_back(s.cid);
  }
  int kicked = 0;
  for (uint64_t cid : cids) {
    auto st = kickClient(cid);
    if (st.ok()) {
      ++kicked;
    } else if (st.error().code != core::Code::kNotFound) {
      return std::move(st).error();
    }
  }
  return kicked;
}

std::vector<ClientSession> Supervisor::clients() const {
  std::lock_guard lock(impl_->mu);
  std::vector<ClientSession> out;
  out.reserve(impl_->sessions.size());
  for (const auto& [cid, s] : impl_->sessions) out.push_back(s);
  return out;
}

std::optional<pid_t> Supervisor::daemonPid() const {
  std::lock_guard lock(impl_->mu);
  return impl_->pid;
}

}  // namespace aureo::openvpn
