#include "core/config.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>

namespace aureo::core {
namespace {

ConfigSchema schema() {
  return {
      {"server.listen", ConfigType::kString, "127.0.0.1:8080", "listen address", "--listen",
       nullptr},
      {"database.url", ConfigType::kString, "sqlite:data/aureo.db", "database", "--database",
       [](const std::string& v) -> std::optional<std::string> {
         if (v.starts_with("sqlite:") || v.starts_with("postgres://")) return std::nullopt;
         return "must start with sqlite: or postgres://";
       }},
      {"server.max_connections", ConfigType::kInt, "1024", "cap", "", nullptr},
      {"server.tls", ConfigType::kBool, "false", "tls", "--tls", nullptr},
      {"auth.access_ttl", ConfigType::kDuration, "15m", "ttl", "", nullptr},
  };
}

std::string writeFile(const std::string& text) {
  char name[] = "/tmp/aureo-config-XXXXXX";
  int fd = mkstemp(name);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

TEST(ConfigTest, DefaultsFileEnvFlagsInPrecedenceOrder) {
  const auto path = writeFile(
      "[server]\nlisten = \"0.0.0.0:1\"\nmax_connections = 10\n[auth]\naccess_ttl = \"30s\"\n");
  ConfigSources src;
  src.file_path = path;
  src.env["AUREO_SERVER_MAX_CONNECTIONS"] = "20";
  src.flags["--listen"] = "127.0.0.1:9";
  auto cfg = loadConfig(schema(), src);
  ASSERT_TRUE(cfg.ok()) << cfg.error().toString();
  EXPECT_EQ(cfg->getString("server.listen"), "127.0.0.1:9");
  EXPECT_EQ(cfg->getInt("server.max_connections"), 20);
  EXPECT_EQ(cfg->getDuration("auth.access_ttl").count(), 30);
  EXPECT_EQ(cfg->getString("database.url"), "sqlite:data/aureo.db");
  EXPECT_FALSE(cfg->getBool("server.tls"));
  std::remove(path.c_str());
}

TEST(ConfigTest, ErrorsNameTheBadKey) {
  const auto path = writeFile("[server]\nlistn = \"x\"\n");
  ConfigSources src;
  src.file_path = path;
  auto cfg = loadConfig(schema(), src);
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message.find("server.listn"), std::string::npos);
  std::remove(path.c_str());

  ConfigSources env;
  env.env["AUREO_SERVER_MAX_CONNECTIONS"] = "many";
  cfg = loadConfig(schema(), env);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().field, "server.max_connections");
  EXPECT_NE(cfg.error().message.find("AUREO_SERVER_MAX_CONNECTIONS"), std::string::npos);

  ConfigSources flag;
  flag.flags["--database"] = "mysql://x";
  cfg = loadConfig(schema(), flag);
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message.find("database.url"), std::string::npos);
}

TEST(ConfigTest, RejectsUnparsableTomlWithLine) {
  const auto path = writeFile("[server\nlisten=");
  ConfigSources src;
  src.file_path = path;
  auto cfg = loadConfig(schema(), src);
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().message.find("line"), std::string::npos);
  std::remove(path.c_str());
  src.file_path = "/nonexistent/aureo.toml";
  EXPECT_FALSE(loadConfig(schema(), src).ok());
}

TEST(ConfigTest, ParsesCommandLine) {
  const char* argv[] = {"prog",  "--listen=1.2.3.4:5", "--database", "sqlite:x.db",
                        "--tls", "--config",           "f.toml",     "pos"};
  auto cl = parseCommandLine(schema(), 8, argv);
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->sources.flags.at("--listen"), "1.2.3.4:5");
  EXPECT_EQ(cl->sources.flags.at("--database"), "sqlite:x.db");
  EXPECT_EQ(cl->sources.flags.at("--tls"), "true");
  EXPECT_EQ(cl->sources.file_path, "f.toml");
  EXPECT_EQ(cl->positional.size(), 1u);
  const char* bad[] = {"prog", "--nope", "1"};
  EXPECT_FALSE(parseCommandLine(schema(), 3, bad).ok());
  const char* missing[] = {"prog", "--listen"};
  EXPECT_FALSE(parseCommandLine(schema(), 2, missing).ok());
}

TEST(ConfigTest, HelpListsEveryOption) {
  const auto help = helpText("aureo-gateway", "The gateway.", schema());
  for (const auto& o : schema()) {
    EXPECT_NE(help.find(o.key), std::string::npos);
    EXPECT_NE(help.find(envNameFor(o.key)), std::string::npos);
  }
  EXPECT_NE(help.find("--listen"), std::string::npos);
}

TEST(ConfigTest, ParsesDurations) {
  EXPECT_EQ(parseDuration("90")->count(), 90);
  EXPECT_EQ(parseDuration("15m")->count(), 900);
  EXPECT_EQ(parseDuration("7d")->count(), 7 * 86400);
  EXPECT_FALSE(parseDuration("m"));
  EXPECT_FALSE(parseDuration("-5s"));
  EXPECT_FALSE(parseDuration("5w"));
}

}  // namespace
}  // namespace aureo::core
