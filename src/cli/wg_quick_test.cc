#include "cli/wg_quick.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace aureo::cli {
namespace {

const std::string kConfig =
    "[Interface]\n"
    "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
    "Address = 10.8.0.2/32, fd00:8::2/128\n"
    "DNS = 10.8.0.1, vpn.internal\n"
    "\n"
    "[Peer]\n"
    "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
    "Endpoint = 203.0.113.10:51820\n"
    "AllowedIPs = 0.0.0.0/0, ::/0\n";

std::string valueOf(const std::string& config, const std::string& key) {
  size_t pos = config.find("\n" + key + " = ");
  if (pos == std::string::npos) return {};
  pos += key.size() + 4;
  return config.substr(pos, config.find('\n', pos) - pos);
}

struct Shell {
  int status = -1;
  std::string output;
};

// Runs a hook the way wg-quick does: bash, after replacing %i.
Shell runHook(std::string hook, const std::string& ifname) {
  for (size_t p; (p = hook.find("%i")) != std::string::npos;) hook.replace(p, 2, ifname);
  char path[] = "/tmp/aureo-wgq-hook-XXXXXX";
  const int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << hook << "\n";
  Shell result;
  FILE* p = ::popen(("bash " + std::string(path) + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) result.output.append(buf, n);
  result.status = ::pclose(p);
  std::filesystem::remove(path);
  return result;
}

TEST(AddKillSwitch, PutsTheHooksAtTheEndOfInterfaceAndKeepsEverythingElse) {
  auto out = addKillSwitch(kConfig, {});
  ASSERT_TRUE(out.ok()) << out.error().toString();
  const size_t post_up = out->find("\nPostUp = nft -f - <<< $'");
  const size_t pre_down = out->find("\nPreDown = nft '");
  const size_t peer = out->find("[Peer]");
  ASSERT_NE(post_up, std::string::npos) << *out;
  ASSERT_NE(pre_down, std::string::npos);
  EXPECT_LT(out->find("DNS = 10.8.0.1"), post_up);
  EXPECT_LT(post_up, pre_down);
  EXPECT_LT(pre_down, peer);
  // Removing the two hook lines gives back the original text.
  std::string stripped = *out;
  for (const char* key : {"PostUp", "PreDown"}) {
    const size_t at = stripped.find(std::string("\n") + key + " = ");
    stripped.erase(at, stripped.find('\n', at + 1) - at);
  }
  EXPECT_EQ(stripped, kConfig);
  EXPECT_EQ(out->find('#'), std::string::npos) << "wg-quick would cut the line at '#'";
}

TEST(AddKillSwitch, PostUpExpandsToTablesForTheTunnelEndpointAndDns) {
  auto out = addKillSwitch(kConfig, {});
  ASSERT_TRUE(out.ok());
  std::string hook = valueOf(*out, "PostUp");
  ASSERT_EQ(hook.rfind("nft -f - ", 0), 0u);
  const auto script = runHook("cat" + hook.substr(std::string("nft -f -").size()), "wg-test0");
  ASSERT_EQ(script.status, 0) << script.output;
  const std::string& s = script.output;
  EXPECT_NE(s.find("table inet aureo-wgquick-killswitch {"), std::string::npos) << s;
  EXPECT_NE(s.find("table inet aureo-wgquick-dns {"), std::string::npos);
  EXPECT_NE(s.find("policy drop;"), std::string::npos);
  EXPECT_NE(s.find("oifname \"wg-test0\" accept"), std::string::npos);
  EXPECT_NE(s.find("ip daddr 203.0.113.10 udp dport 51820 accept"), std::string::npos);
  EXPECT_NE(s.find("oifname \"wg-test0\" ip daddr 10.8.0.1 meta l4proto { tcp, udp } th dport "
                   "{ 53, 853 } accept"),
            std::string::npos);
  EXPECT_NE(s.find("meta l4proto { tcp, udp } th dport { 53, 853 } drop"), std::string::npos);
  EXPECT_EQ(s.find("192.168.0.0/16"), std::string::npos) << "LAN stays closed by default";
}

TEST(AddKillSwitch, NftAcceptsTheHooksAsWgQuickRunsThem) {
  auto out = addKillSwitch(kConfig, {true, std::nullopt});
  ASSERT_TRUE(out.ok());
  for (const char* key : {"PostUp", "PreDown"}) {
    std::string hook = valueOf(*out, key);
    ASSERT_EQ(hook.rfind("nft ", 0), 0u) << key;
    // -c: parse and check against the kernel, commit nothing.
    const auto r = runHook("nft -c " + hook.substr(4), "wg-test0");
    EXPECT_EQ(r.status, 0) << key << ": " << r.output << "\n" << hook;
  }
  const auto lan = runHook("cat" + valueOf(*out, "PostUp").substr(8), "wg-test0");
  EXPECT_NE(lan.output.find("192.168.0.0/16"), std::string::npos);
}

TEST(AddKillSwitch, AConfigWithoutDnsGetsTheDefaultResolvers) {
  std::string config = kConfig;
  config.erase(config.find("DNS = "), std::string("DNS = 10.8.0.1, vpn.internal\n").size());
  auto out = addKillSwitch(config, {});
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->find("\nDNS = 1.1.1.1, 1.0.0.1\n"), std::string::npos) << *out;
  const auto s = runHook("cat" + valueOf(*out, "PostUp").substr(8), "wg0");
  EXPECT_NE(s.output.find("ip daddr { 1.1.1.1, 1.0.0.1 }"), std::string::npos) << s.output;
}

TEST(AddKillSwitch, RefusesHostNameEndpointsExistingHooksAndMissingSections) {
  std::string named = kConfig;
  named.replace(named.find("203.0.113.10"), 12, "vpn.example.com");
  auto a = addKillSwitch(named, {});
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("vpn.example.com"), std::string::npos);

  std::string hooked = kConfig;
  hooked.insert(hooked.find("\n\n[Peer]"), "\nPostUp = echo hi");
  EXPECT_FALSE(addKillSwitch(hooked, {}).ok());
  EXPECT_FALSE(addKillSwitch("[Peer]\nEndpoint = 1.2.3.4:5\n", {}).ok());
  EXPECT_FALSE(addKillSwitch("[Interface]\nAddress = 10.0.0.2/32\n", {}).ok());
}

TEST(AddKillSwitch, RewritesAHostNameEndpointToTheGivenNodeAddress) {
  std::string named = kConfig;
  named.replace(named.find("203.0.113.10"), 12, "de-fra-1.vpn.test");
  auto out = addKillSwitch(named, {false, core::IpAddress::parse("198.51.100.7")});
  ASSERT_TRUE(out.ok()) << out.error().toString();
  EXPECT_NE(out->find("\nEndpoint = 198.51.100.7:51820\n"), std::string::npos) << *out;
  EXPECT_EQ(out->find("vpn.test"), std::string::npos);
  const auto s = runHook("cat" + valueOf(*out, "PostUp").substr(8), "wg0");
  EXPECT_NE(s.output.find("ip daddr 198.51.100.7 udp dport 51820 accept"), std::string::npos)
      << s.output;
}

TEST(SetPrivateKey, ReplacesAPlaceholderOrAddsTheLineAfterTheHeader) {
  std::string placeholder = kConfig;
  placeholder.replace(placeholder.find("yAnz"), 44, "<your private key>");
  auto replaced = setPrivateKey(placeholder, "KEY=");
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(valueOf(*replaced, "PrivateKey"), "KEY=");
  EXPECT_EQ(replaced->find("<your private key>"), std::string::npos);

  auto added = setPrivateKey("[Interface]\nAddress = 10.0.0.2/32\n\n[Peer]\n", "KEY=");
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, "[Interface]\nPrivateKey = KEY=\nAddress = 10.0.0.2/32\n\n[Peer]\n");
}

}  // namespace
}  // namespace aureo::cli
