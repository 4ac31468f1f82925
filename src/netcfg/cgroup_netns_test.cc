// cgroup v2 helpers on the real cgroup filesystem, and the split-tunnel and
// kill-switch exceptions that match on them, inside a fresh network namespace.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "netcfg/cgroup.h"
#include "netcfg/netlink.h"
#include "netcfg/nftables.h"
#include "netcfg/rulesets.h"
#include "netcfg/testing/netns.h"

namespace aureo::netcfg {
namespace {

using testing::runInFreshNetns;

// Removes the cgroup however the test ends.
class CgroupCleanup {
 public:
  explicit CgroupCleanup(const Cgroup* cg) : cg_(cg) {}
  ~CgroupCleanup() {
    if (cg_ != nullptr) (void)cg_->remove();
  }
  CgroupCleanup(const CgroupCleanup&) = delete;
  CgroupCleanup& operator=(const CgroupCleanup&) = delete;

 private:
  const Cgroup* cg_;
};

std::string uniqueName(const char* what) {
  return std::string("aureo-test-") + what + "-" + std::to_string(::getpid());
}

// Forks a child (in the calling thread's network namespace) that waits until
// released, then sends one UDP datagram to 10.9.0.8:9 and exits with 0 or
// the errno. With `cgroup` set, the child is moved there before it sends.
int sendFromChild(const Cgroup* cgroup) {
  int go[2];
  if (::pipe(go) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::close(go[1]);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(100);
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(9);
    sa.sin_addr.s_addr = htonl(0x0a090008);
    const ssize_t n = ::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    ::_exit(n < 0 ? errno : 0);
  }
  ::close(go[0]);
  if (cgroup != nullptr) {
    auto st = cgroup->addProcess(pid);
    EXPECT_TRUE(st.ok()) << st.error().toString();
    auto procs = cgroup->processes();
    EXPECT_TRUE(procs.ok() && procs->size() == 1 && (*procs)[0] == pid);
  }
  (void)::write(go[1], "g", 1);
  ::close(go[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(CgroupTest, CreateNameAndRemove) {
  auto mount = findCgroup2Mount();
  ASSERT_TRUE(mount.ok()) << mount.error().toString();
  const std::string name = uniqueName("life");
  auto cg = Cgroup::create(name + "/app", *mount);
  ASSERT_TRUE(cg.ok()) << cg.error().toString();
  CgroupCleanup cleanup(&*cg);
  EXPECT_EQ(cg->level(), 2);
  EXPECT_EQ(Cgroup::create(name + "/app", *mount).error().code, core::Code::kAlreadyExists);

  struct stat st {};
  ASSERT_EQ(::stat(cg->path().c_str(), &st), 0);
  EXPECT_EQ(*cg->id(), static_cast<uint64_t>(st.st_ino));

  auto match = cg->nftMatch();
  ASSERT_TRUE(match.ok()) << match.error().toString();
  EXPECT_EQ(match->level, 2);
  EXPECT_EQ(std::filesystem::path(kCgroupMount) / match->path, cg->path());

  ASSERT_TRUE(cg->remove().ok());
  EXPECT_FALSE(std::filesystem::exists(cg->path()));
  auto parent = Cgroup::open(name, *mount);
  ASSERT_TRUE(parent.ok());
  EXPECT_TRUE(parent->remove().ok());
  EXPECT_EQ(Cgroup::open(name, *mount).error().code, core::Code::kNotFound);
  EXPECT_EQ(Cgroup::create("../escape", *mount).error().code, core::Code::kInvalidArgument);
  EXPECT_EQ(Cgroup::create("x", "/proc").error().code, core::Code::kFailedPrecondition);
}

TEST(CgroupTest, FindsCgroup2MountInAMountsFile) {
  char tmpl[] = "/tmp/aureo-mounts-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  const std::string text =
      "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n"
      "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  EXPECT_EQ(*findCgroup2Mount(tmpl), std::filesystem::path("/sys/fs/cgroup/unified"));
  ::unlink(tmpl);
}

TEST(CgroupTest, RemoveMovesLeftoverProcessesToTheParent) {
  auto mount = findCgroup2Mount();
  ASSERT_TRUE(mount.ok());
  auto cg = Cgroup::create(uniqueName("procs"), *mount);
  ASSERT_TRUE(cg.ok()) << cg.error().toString();
  CgroupCleanup cleanup(&*cg);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_TRUE(cg->addProcess(child).ok());
  EXPECT_EQ(*cg->processes(), std::vector<pid_t>{child});
  EXPECT_TRUE(cg->remove().ok());
  EXPECT_FALSE(std::filesystem::exists(cg->path()));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST(CgroupTest, ExcludedCgroupBypassesKillSwitchAndGetsSplitTunnelMark) {
  auto mount = findCgroup2Mount();
  ASSERT_TRUE(mount.ok());
  auto cg = Cgroup::create(uniqueName("split"), *mount);
  ASSERT_TRUE(cg.ok()) << cg.error().toString();
  CgroupCleanup cleanup(&*cg);
  auto match = cg->nftMatch();
  ASSERT_TRUE(match.ok()) << match.error().toString();

  runInFreshNetns([&] {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    ASSERT_TRUE(nl->createVeth("ve0", "ve1").ok());
    ASSERT_TRUE(nl->setLinkUp("ve0").ok());
    ASSERT_TRUE(nl->setLinkUp("ve1").ok());
    ASSERT_TRUE(nl->addAddress("ve0", *InterfaceAddress::parse("10.9.0.2/24")).ok());
    auto nft = Nftables::open();
    ASSERT_TRUE(nft.ok());

    KillSwitchSpec ks;
    ks.tunnel_interface = "aureo0";
    ks.endpoints = {{*core::IpAddress::parse("10.9.0.7"), 51820}};
    ks.excluded_cgroup = *match;
    SplitTunnelSpec split;
    split.cgroup = *match;
    split.fwmark = 0x6d6f;
    auto ks_text = killSwitch(ks);
    auto split_text = splitTunnelMark(split);
    ASSERT_TRUE(ks_text.ok() && split_text.ok());
    auto applied = nft->applyRuleset(*ks_text + *split_text);
    ASSERT_TRUE(applied.ok()) << applied.error().toString();

    const std::string socket_match = "socket cgroupv2 level 1 \"" + match->path + "\"";
    auto listing = nft->listTable(TableFamily::kInet, "aureo-split");
    ASSERT_TRUE(listing.ok());
    EXPECT_NE(listing->find(socket_match + " meta mark set 0x00006d6f ct mark set meta mark"),
              std::string::npos)
        << *listing;
    EXPECT_NE(nft->listTable(TableFamily::kInet, "aureo-killswitch")->find(socket_match),
              std::string::npos);

    // The kill switch blocks everyone but the excluded application.
    EXPECT_EQ(sendFromChild(nullptr), EPERM);
    EXPECT_EQ(sendFromChild(&*cg), 0);
  });
}

}  // namespace
}  // namespace aureo::netcfg
