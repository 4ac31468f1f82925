// End to end with the real daemon and the real client, as root.
//
// Two network namespaces joined by a veth pair: the server namespace runs the
// supervisor (this test process enters it, so every thread and child the
// supervisor creates lives there) and the client namespace runs the stock
// `openvpn` client with the rendered profile. Nothing here touches the host's
// own network. Every process is started through ChildProcess, which kills its
// whole group and reaps it, and the namespaces are deleted in TearDown.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "openvpn/pki.h"
#include "openvpn/process.h"
#include "openvpn/server_config.h"
#include "openvpn/supervisor.h"

namespace aureo::openvpn {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kIp = "/bin/ip";
constexpr const char* kOpenvpn = "/usr/sbin/openvpn";
// RFC 2544 benchmarking addresses for the veth link, a private tunnel subnet;
// both exist only inside the two namespaces.
constexpr const char* kServerLinkIp = "198.18.0.1";
constexpr const char* kClientLinkIp = "198.18.0.2";
constexpr const char* kTunnelSubnet = "10.213.0.0/24";
constexpr const char* kServerTunnelIp = "10.213.0.1";
constexpr const char* kGoodPassword = "good-session-token";
constexpr auto kWait = seconds(90);  // upper bound for any condition below

// Runs a command to completion and returns its exit code (-1 if killed).
int run(std::vector<std::string> argv, std::string* output = nullptr) {
  std::mutex mu;
  std::string text;
  auto child = ChildProcess::spawn({std::move(argv), [&](std::string_view line) {
                                      std::lock_guard lock(mu);
                                      text.append(line).append("\n");
                                    }});
  if (!child.ok()) return -1;
  auto status = (*child)->waitFor(seconds(60));
  if (!status) status = (*child)->terminate(milliseconds(0));
  child->reset();
  if (output) *output = text;
  return status->exited ? status->code : -1;
}

// Collects what the supervisor reports and lets the test wait for it.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ClientInfo> auth_requests;
  std::vector<ClientSession> established;
  std::vector<ClientSession> disconnected;
  std::vector<ClientSession> bytecounts;
  std::vector<DaemonEvent> daemon;

  SupervisorCallbacks callbacks() {
    SupervisorCallbacks cb;
    cb.authenticate = [this](const ClientInfo& info) {
      record(auth_requests, info);
      if (info.username == "alice" && info.password == kGoodPassword) {
        return AuthDecision::accept();
      }
      return AuthDecision::deny("bad credential for " + info.username, "session not valid");
    };
    cb.on_established = [this](const ClientSession& s) { record(established, s); };
    cb.on_disconnected = [this](const ClientSession& s) { record(disconnected, s); };
    cb.on_bytecount = [this](const ClientSession& s) { record(bytecounts, s); };
    cb.on_daemon_event = [this](const DaemonEvent& ev) { record(daemon, ev); };
    return cb;
  }

  template <typename T>
  void record(std::vector<T>& into, const T& value) {
    std::lock_guard lock(mu);
    T copy = value;
    if constexpr (std::is_same_v<T, ClientInfo>)
      copy.password = copy.password == kGoodPassword ? "good" : "bad";
    into.push_back(std::move(copy));
    cv.notify_all();
  }

  template <typename Pred>
  bool waitUntil(Pred pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWait, pred);
  }
};

class OpenVpnNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "this test needs root (network namespaces, tun)";
    const std::string tag = std::to_string(::getpid());
    server_ns_ = "aureo-ovs-" + tag;
    client_ns_ = "aureo-ovc-" + tag;
    const std::string veth_s = "aov" + tag + "s";
    const std::string veth_c = "aov" + tag + "c";
    ASSERT_EQ(run({kIp, "netns", "add", server_ns_}), 0);
    ASSERT_EQ(run({kIp, "netns", "add", client_ns_}), 0);
    ASSERT_EQ(run({kIp, "link", "add", veth_s, "netns", server_ns_, "type", "veth", "peer", "name",
                   veth_c, "netns", client_ns_}),
              0);
    for (const auto& [ns, dev, ip] : {std::tuple{server_ns_, veth_s, kServerLinkIp},
                                      std::tuple{client_ns_, veth_c, kClientLinkIp}}) {
      ASSERT_EQ(run({kIp, "-n", ns, "addr", "add", std::string(ip) + "/30", "dev", dev}), 0);
      ASSERT_EQ(run({kIp, "-n", ns, "link", "set", dev, "up"}), 0);
      ASSERT_EQ(run({kIp, "-n", ns, "link", "set", "lo", "up"}), 0);
    }

    // This thread (and so the supervisor's threads and the daemon) moves into
    // the server namespace; TearDown moves it back.
    original_ns_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(original_ns_, 0);
    const int server_fd = ::open(("/run/netns/" + server_ns_).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(server_fd, 0);
    ASSERT_EQ(::setns(server_fd, CLONE_NEWNET), 0);
    ::close(server_fd);
    in_server_ns_ = true;

    char tmpl[] = "/tmp/aureo-ovpn-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    writePki();
  }

  void TearDown() override {
    supervisor_.reset();
    vpn_client_.reset();
    if (in_server_ns_) {
      EXPECT_EQ(::setns(original_ns_, CLONE_NEWNET), 0);
    }
    if (original_ns_ >= 0) ::close(original_ns_);
    // Deleting a namespace also removes the veth pair and the tun devices.
    if (!server_ns_.empty()) run({kIp, "netns", "del", server_ns_});
    if (!client_ns_.empty()) run({kIp, "netns", "del", client_ns_});
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void writePki() {
    auto ca = createCertificateAuthority({}, clock_.now());
    ASSERT_TRUE(ca.ok()) << ca.error().toString();
    ServerCertOptions options;
    options.common_name = "node-test";
    options.ip_addresses = {*core::IpAddress::parse(kServerLinkIp)};
    auto server = issueServerCertificate(*ca, options, clock_.now());
    ASSERT_TRUE(server.ok()) << server.error().toString();
    const std::string tls_crypt = generateTlsCryptKey();

    ServerConfig config;
    config.tunnel_v4 = *core::Cidr::parse(kTunnelSubnet);
    config.listen_address = core::IpAddress::parse(kServerLinkIp);
    config.management_socket = dir_ + "/mgmt.sock";
    config.dns_servers = {*core::IpAddress::parse("1.1.1.1")};
    config.ca_pem = ca->identity.cert_pem;
    config.cert_pem = server->cert_pem;
    config.key_pem = server->key_pem;
    config.tls_crypt_key = tls_crypt;
    // Short keepalive so the client notices a killed server within seconds.
    config.keepalive_interval = 1;
    config.keepalive_timeout = 4;
    auto text = renderServerConfig(config);
    ASSERT_TRUE(text.ok()) << text.error().toString();
    std::ofstream(dir_ + "/server.conf") << *text;
    ::chmod((dir_ + "/server.conf").c_str(), 0600);

    profile_.remotes = {{kServerLinkIp, 0, Transport::kUdp}};
    profile_.ca_pem = ca->identity.cert_pem;
    profile_.tls_crypt_key = tls_crypt;
    profile_.server_common_name = "node-test";
  }

  void startSupervisor() {
    SupervisorOptions options;
    options.config_path = dir_ + "/server.conf";
    options.management_socket = dir_ + "/mgmt.sock";
    options.bytecount_interval_seconds = 1;
    options.stop_grace = seconds(5);
    supervisor_ = std::make_unique<Supervisor>(options, recorder_.callbacks(), logger_, clock_);
    ASSERT_TRUE(supervisor_->start().ok());
  }

  void startClient(const std::string& username, const std::string& password) {
    auto profile = profile_;
    profile.inline_credentials = ClientCredentials{username, password};
    auto text = renderClientProfile(profile);
    ASSERT_TRUE(text.ok()) << text.error().toString();
    const std::string path = dir_ + "/client-" + username + ".ovpn";
    std::ofstream(path) << *text;
    auto child = ChildProcess::spawn({{kIp, "netns", "exec", client_ns_, kOpenvpn, "--config", path,
                                       "--connect-retry", "1", "1", "--verb", "3"},
                                      [this](std::string_view line) {
                                        std::lock_guard lock(client_log_mu_);
                                        client_log_.append(line).append("\n");
                                      }});
    ASSERT_TRUE(child.ok()) << child.error().toString();
    vpn_client_ = std::move(*child);
  }

  bool pingServerFromClient() {
    for (int attempt = 0; attempt < 30; ++attempt) {
      if (run({kIp, "netns", "exec", client_ns_, "/usr/bin/ping", "-c", "1", "-W", "1",
               kServerTunnelIp}) == 0) {
        return true;
      }
    }
    return false;
  }

  std::string serverLog() {
    std::lock_guard lock(server_log_mu_);
    return server_log_;
  }

  // Waits (bounded) until the daemon has logged `text`.
  bool waitForServerLog(std::string_view text) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (serverLog().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  std::string clientLog() {
    std::lock_guard lock(client_log_mu_);
    return client_log_;
  }

  size_t establishedCount() {
    std::lock_guard lock(recorder_.mu);
    return recorder_.established.size();
  }

  core::SystemClock clock_;
  // Supervisor and daemon logs, shown when an assertion fails.
  core::Logger logger_{"openvpn-test", core::LogLevel::kDebug, [this](std::string_view line) {
                         std::lock_guard lock(server_log_mu_);
                         server_log_.append(line).append("\n");
                       }};
  std::mutex server_log_mu_;
  std::string server_log_;
  std::string server_ns_;
  std::string client_ns_;
  int original_ns_ = -1;
  bool in_server_ns_ = false;
  std::string dir_;
  ClientProfile profile_;
  Recorder recorder_;
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<ChildProcess> vpn_client_;
  std::mutex client_log_mu_;
  std::string client_log_;
};

TEST_F(OpenVpnNetnsTest, GoodCredentialConnectsReachesTheServerAndCountsBytes) {
  startSupervisor();
  startClient("alice", kGoodPassword);
  ASSERT_TRUE(recorder_.waitUntil([&] { return !recorder_.established.empty(); })) << clientLog();
  {
    std::lock_guard lock(recorder_.mu);
    ASSERT_FALSE(recorder_.auth_requests.empty());
    const auto& auth = recorder_.auth_requests.front();
    EXPECT_EQ(auth.username, "alice");
    EXPECT_EQ(auth.password, "good");
    EXPECT_EQ(auth.untrusted_ip, kClientLinkIp);
    EXPECT_EQ(auth.platform, "linux");
    EXPECT_FALSE(auth.reauth);
    const auto& s = recorder_.established.front();
    EXPECT_EQ(s.username, "alice");
    EXPECT_EQ(s.common_name, "alice");
    EXPECT_EQ(s.virtual_address, "10.213.0.2");
    EXPECT_EQ(s.real_address.rfind(std::string(kClientLinkIp) + ":", 0), 0u) << s.real_address;
  }
  EXPECT_TRUE(pingServerFromClient()) << clientLog();

  const auto clients = supervisor_->clients();
  ASSERT_EQ(clients.size(), 1u);
  EXPECT_EQ(clients[0].username, "alice");
  // Byte counts arrive every second and grow with the pings.
  EXPECT_TRUE(recorder_.waitUntil([&] {
    for (const auto& b : recorder_.bytecounts) {
      if (b.username == "alice" && b.bytes_received > 0 && b.bytes_sent > 0) return true;
    }
    return false;
  }));
  EXPECT_NE(clientLog().find("Initialization Sequence Completed"), std::string::npos);
}

TEST_F(OpenVpnNetnsTest, WrongCredentialIsRefused) {
  startSupervisor();
  startClient("alice", "stolen-or-expired-token");
  // AUTH_FAILED makes the stock client exit on its own.
  const auto status = vpn_client_->waitFor(kWait);
  ASSERT_TRUE(status.has_value()) << clientLog();
  EXPECT_NE(clientLog().find("AUTH_FAILED"), std::string::npos) << clientLog();
  std::lock_guard lock(recorder_.mu);
  ASSERT_FALSE(recorder_.auth_requests.empty());
  EXPECT_EQ(recorder_.auth_requests.front().password, "bad");
  EXPECT_TRUE(recorder_.established.empty());
  EXPECT_TRUE(supervisor_->clients().empty());
}

TEST_F(OpenVpnNetnsTest, KickDisconnectsTheClient) {
  startSupervisor();
  startClient("alice", kGoodPassword);
  ASSERT_TRUE(recorder_.waitUntil([&] { return !recorder_.established.empty(); })) << clientLog();
  auto kicked = supervisor_->kickUser("alice");
  ASSERT_TRUE(kicked.ok()) << kicked.error().toString();
  EXPECT_EQ(*kicked, 1);
  ASSERT_TRUE(recorder_.waitUntil([&] { return !recorder_.disconnected.empty(); }));
  {
    std::lock_guard lock(recorder_.mu);
    EXPECT_EQ(recorder_.disconnected.front().username, "alice");
  }
  // HALT: the client exits instead of reconnecting.
  ASSERT_TRUE(vpn_client_->waitFor(kWait).has_value()) << clientLog();
  EXPECT_NE(clientLog().find("Halt command was pushed by server"), std::string::npos);
  EXPECT_TRUE(supervisor_->clients().empty());
  EXPECT_EQ(supervisor_->kickUser("alice").valueOr(-1), 0);
  EXPECT_EQ(supervisor_->kickClient(12345).error().code, core::Code::kNotFound);
}

TEST_F(OpenVpnNetnsTest, KilledDaemonIsRestartedAndTheClientReconnects) {
  startSupervisor();
  startClient("alice", kGoodPassword);
  ASSERT_TRUE(recorder_.waitUntil([&] { return !recorder_.established.empty(); })) << clientLog();
  // Only kill once the client has its pushed options (ping-restart among
  // them): killed earlier, the client waits a minute for a push reply.
  ASSERT_TRUE(pingServerFromClient()) << clientLog();
  const auto first_pid = supervisor_->daemonPid();
  ASSERT_TRUE(first_pid.has_value());
  ASSERT_EQ(::kill(*first_pid, SIGKILL), 0);

  // The death is noticed, the session is reported gone, a new daemon starts,
  // and the client (ping-restart, connect-retry 1) logs in again by itself.
  ASSERT_TRUE(recorder_.waitUntil([&] {
    for (const auto& ev : recorder_.daemon) {
      if (ev.kind == DaemonEvent::Kind::kExited && ev.pid == *first_pid && ev.exit &&
          ev.exit->signal == SIGKILL) {
        return true;
      }
    }
    return false;
  }));
  ASSERT_TRUE(recorder_.waitUntil([&] { return !recorder_.disconnected.empty(); }));
  ASSERT_TRUE(recorder_.waitUntil([&] { return recorder_.established.size() >= 2; }))
      << clientLog() << serverLog();
  const auto second_pid = supervisor_->daemonPid();
  ASSERT_TRUE(second_pid.has_value());
  EXPECT_NE(*second_pid, *first_pid);
  EXPECT_NE(::kill(*first_pid, 0), 0);  // the killed daemon was reaped, not left a zombie
  EXPECT_TRUE(pingServerFromClient()) << clientLog();
  std::lock_guard lock(recorder_.mu);
  EXPECT_GE(recorder_.auth_requests.size(), 2u);
}

TEST_F(OpenVpnNetnsTest, StopTerminatesAndReapsTheDaemon) {
  startSupervisor();
  ASSERT_TRUE(recorder_.waitUntil([&] {
    for (const auto& ev : recorder_.daemon) {
      if (ev.kind == DaemonEvent::Kind::kManagementConnected) return true;
    }
    return false;
  }));
  // SIGTERM is handled by the daemon's event loop, which runs once it is up.
  ASSERT_TRUE(waitForServerLog("Initialization Sequence Completed")) << serverLog();
  const auto pid = supervisor_->daemonPid();
  ASSERT_TRUE(pid.has_value());
  supervisor_->stop();
  EXPECT_FALSE(supervisor_->daemonPid().has_value());
  EXPECT_NE(::kill(*pid, 0), 0);
  std::lock_guard lock(recorder_.mu);
  ASSERT_FALSE(recorder_.daemon.empty());
  const auto& last = recorder_.daemon.back();
  EXPECT_EQ(last.kind, DaemonEvent::Kind::kExited);
  ASSERT_TRUE(last.exit.has_value());
  // SIGTERM was enough: openvpn exits cleanly on it.
  EXPECT_TRUE(last.exit->exited) << last.exit->toString() << "\n" << serverLog();
}

}  // namespace
}  // namespace aureo::openvpn
