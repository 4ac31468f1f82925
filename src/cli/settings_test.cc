#include "cli/settings.h"

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace aureo::cli {
namespace {

namespace fs = std::filesystem;

TEST(ResolveServer, FlagBeatsEnvironmentBeatsFileBeatsLastLogin) {
  FileSettings file;
  file.server = "http://file:1";
  EXPECT_EQ(*resolveServer("http://flag:1", "http://env:1", file, "http://login:1"),
            "http://flag:1");
  EXPECT_EQ(*resolveServer("", "http://env:1", file, "http://login:1"), "http://env:1");
  EXPECT_EQ(*resolveServer("", "", file, "http://login:1"), "http://file:1");
  EXPECT_EQ(*resolveServer("", "", FileSettings{}, "http://login:1"), "http://login:1");
}

TEST(ResolveServer, NothingConfiguredSaysHowToConfigure) {
  auto r = resolveServer("", "", FileSettings{}, "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("--server"), std::string::npos);
  EXPECT_NE(r.error().message.find("AUREO_URL"), std::string::npos);
}

TEST(NormalizeServerUrl, DropsTrailingSlashesAndRejectsOtherSchemes) {
  EXPECT_EQ(*normalizeServerUrl("https://vpn.example.com/"), "https://vpn.example.com");
  EXPECT_EQ(*normalizeServerUrl("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  EXPECT_FALSE(normalizeServerUrl("vpn.example.com").ok());
  EXPECT_FALSE(normalizeServerUrl("ftp://vpn.example.com").ok());
  EXPECT_FALSE(normalizeServerUrl("https://").ok());
}

TEST(ConfigDir, PrefersAbsoluteXdgConfigHomeOverHome) {
  EXPECT_EQ(*configDir("/x/cfg", "/home/ann"), fs::path("/x/cfg/aureo-vpn"));
  EXPECT_EQ(*configDir("", "/home/ann"), fs::path("/home/ann/.config/aureo-vpn"));
  EXPECT_EQ(*configDir("relative", "/home/ann"), fs::path("/home/ann/.config/aureo-vpn"));
  EXPECT_FALSE(configDir("", "").ok());
}

class SettingsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "aureo-cli-settings-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& text) {
    std::ofstream(dir_ / "config.toml") << text;
    return dir_ / "config.toml";
  }
  fs::path dir_;
};

TEST_F(SettingsFileTest, MissingFileGivesDefaults) {
  auto s = loadSettings(dir_ / "config.toml");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->server, "");
  EXPECT_FALSE(s->insecure);
}

TEST_F(SettingsFileTest, ReadsServerCaFileAndInsecure) {
  auto s = loadSettings(
      write("server = \"https://vpn.example.com\"\nca_file = \"/etc/ca.pem\"\ninsecure = true\n"));
  ASSERT_TRUE(s.ok()) << s.error().toString();
  EXPECT_EQ(s->server, "https://vpn.example.com");
  EXPECT_EQ(s->ca_file, "/etc/ca.pem");
  EXPECT_TRUE(s->insecure);
}

TEST_F(SettingsFileTest, UnknownKeyOrWrongTypeNamesFileAndLine) {
  auto unknown = loadSettings(write("server = \"http://a\"\nsrever = \"x\"\n"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("config.toml:2"), std::string::npos)
      << unknown.error().message;
  EXPECT_NE(unknown.error().message.find("srever"), std::string::npos);
  auto wrong = loadSettings(write("insecure = \"yes\"\n"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("true or false"), std::string::npos);
  auto broken = loadSettings(write("server = \n"));
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find("config.toml:1"), std::string::npos);
}

}  // namespace
}  // namespace aureo::cli
