#include "netcfg/resolv.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace aureo::netcfg {
namespace {

namespace fs = std::filesystem;

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string out;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) out.append(buf, in.gcount());
  return out;
}

void writeFile(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

core::IpAddress ip(const char* text) {
  return *core::IpAddress::parse(text);
}

class ResolvConfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aureo-resolv-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    target_ = dir_ / "resolv.conf";
    backup_ = dir_ / "state" / "resolv.backup";
    fs::create_directory(dir_ / "state");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  fs::path target_;
  fs::path backup_;
};

// Odd bytes on purpose: no final newline, a NUL, CRLF, trailing spaces.
const std::string kOriginal =
    std::string("# managed by someone\r\nnameserver 192.168.1.1  \n", 47) +
    std::string("\0options edns0", 14);

TEST_F(ResolvConfTest, InstallWritesNameserversAndRestoreIsByteExact) {
  writeFile(target_, kOriginal);
  ASSERT_EQ(::chmod(target_.c_str(), 0640), 0);
  ResolvConf rc(target_, backup_);
  ASSERT_TRUE(rc.install({ip("1.1.1.1"), ip("2606:4700:4700::1111")}, {"corp.example"}).ok());
  EXPECT_TRUE(rc.hasBackup());
  const std::string installed = readFile(target_);
  EXPECT_NE(installed.find("nameserver 1.1.1.1\nnameserver 2606:4700:4700::1111\n"),
            std::string::npos);
  EXPECT_NE(installed.find("search corp.example\n"), std::string::npos);
  EXPECT_EQ(installed.find("192.168.1.1"), std::string::npos);

  ASSERT_TRUE(rc.restore().ok());
  EXPECT_EQ(readFile(target_), kOriginal);
  struct stat st {};
  ASSERT_EQ(::stat(target_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_FALSE(rc.hasBackup());
  EXPECT_FALSE(fs::exists(backup_));
}

TEST_F(ResolvConfTest, SymlinkComesBackAsTheSameSymlink) {
  const fs::path stub = dir_ / "stub-resolv.conf";
  writeFile(stub, "nameserver 127.0.0.53\n");
  ASSERT_EQ(::symlink("stub-resolv.conf", target_.c_str()), 0);
  ResolvConf rc(target_, backup_);
  ASSERT_TRUE(rc.install({ip("1.1.1.1")}).ok());
  EXPECT_FALSE(fs::is_symlink(target_));
  // The link was replaced, not written through.
  EXPECT_EQ(readFile(stub), "nameserver 127.0.0.53\n");

  ASSERT_TRUE(rc.restore().ok());
  ASSERT_TRUE(fs::is_symlink(target_));
  EXPECT_EQ(fs::read_symlink(target_), fs::path("stub-resolv.conf"));
  EXPECT_EQ(readFile(target_), "nameserver 127.0.0.53\n");
}

TEST_F(ResolvConfTest, AbsentOriginalIsAbsentAgainAfterRestore) {
  ResolvConf rc(target_, backup_);
  ASSERT_TRUE(rc.install({ip("1.0.0.1")}).ok());
  EXPECT_TRUE(fs::exists(target_));
  ASSERT_TRUE(rc.restore().ok());
  EXPECT_FALSE(fs::exists(fs::symlink_status(target_)));
}

TEST_F(ResolvConfTest, AnotherProcessRestoresAfterACrash) {
  writeFile(target_, kOriginal);
  {
    ResolvConf first(target_, backup_);
    ASSERT_TRUE(first.install({ip("1.1.1.1")}).ok());
    // The object goes away without restore(), as a killed client would.
  }
  ResolvConf later(target_, backup_);
  EXPECT_TRUE(later.hasBackup());
  ASSERT_TRUE(later.restore().ok());
  EXPECT_EQ(readFile(target_), kOriginal);
}

TEST_F(ResolvConfTest, SecondInstallKeepsTheFirstBackup) {
  writeFile(target_, kOriginal);
  ResolvConf rc(target_, backup_);
  ASSERT_TRUE(rc.install({ip("1.1.1.1")}).ok());
  // A reconnect after a crash installs again over our own file.
  ASSERT_TRUE(rc.install({ip("9.9.9.9")}).ok());
  EXPECT_NE(readFile(target_).find("nameserver 9.9.9.9"), std::string::npos);
  ASSERT_TRUE(rc.restore().ok());
  EXPECT_EQ(readFile(target_), kOriginal);
}

TEST_F(ResolvConfTest, RestoreWithoutBackupChangesNothing) {
  writeFile(target_, kOriginal);
  ResolvConf rc(target_, backup_);
  EXPECT_FALSE(rc.hasBackup());
  ASSERT_TRUE(rc.restore().ok());
  EXPECT_EQ(readFile(target_), kOriginal);
}

TEST_F(ResolvConfTest, TruncatedBackupIsRefusedAndTargetLeftAlone) {
  writeFile(target_, kOriginal);
  ResolvConf rc(target_, backup_);
  ASSERT_TRUE(rc.install({ip("1.1.1.1")}).ok());
  const std::string backup = readFile(backup_);
  writeFile(backup_, backup.substr(0, backup.size() - 3));
  const std::string installed = readFile(target_);
  auto st = rc.restore();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, core::Code::kDataLoss);
  EXPECT_EQ(readFile(target_), installed);
  EXPECT_TRUE(rc.hasBackup());
}

TEST(RenderResolvConfTest, RejectsEmptyNameserversAndBadSearchDomains) {
  EXPECT_EQ(renderResolvConf({}).error().field, "nameservers");
  EXPECT_EQ(renderResolvConf({ip("1.1.1.1")}, {"evil\nnameserver 6.6.6.6"}).error().field,
            "search_domains");
  auto text = renderResolvConf({ip("1.1.1.1")});
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\nnameserver 1.1.1.1\n"), std::string::npos);
}

}  // namespace
}  // namespace aureo::netcfg
