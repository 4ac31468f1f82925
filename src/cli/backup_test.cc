#include "cli/backup.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "store/backup.h"
#include "store/store.h"

namespace aureo::cli {
namespace {

namespace fs = std::filesystem;
using core::Code;

bool argvMentions(const Command& c, const std::string& text) {
  return std::any_of(c.argv.begin(), c.argv.end(),
                     [&](const std::string& a) { return a.find(text) != std::string::npos; });
}

std::string envValue(const Command& c, const std::string& name) {
  for (const auto& [k, v] : c.env) {
    if (k == name) return v;
  }
  return "<unset>";
}

TEST(PostgresUrl, SplitsEveryPartAndDecodesThePassword) {
  auto pg = parsePostgresUrl("postgres://aureo:p%40ss%2Fw0rd@db.internal:6543/aureo_prod");
  ASSERT_TRUE(pg.ok()) << pg.error().message;
  EXPECT_EQ(pg->user, "aureo");
  EXPECT_EQ(pg->password, "p@ss/w0rd");
  EXPECT_EQ(pg->host, "db.internal");
  EXPECT_EQ(pg->port, "6543");
  EXPECT_EQ(pg->dbname, "aureo_prod");
  EXPECT_TRUE(pg->env.empty());
}

TEST(PostgresUrl, MapsQueryParametersToLibpqEnvironmentVariables) {
  auto pg = parsePostgresUrl(
      "postgresql://u@[::1]/db?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5");
  ASSERT_TRUE(pg.ok()) << pg.error().message;
  EXPECT_EQ(pg->host, "::1");
  Command c{{}, pg->env};
  EXPECT_EQ(envValue(c, "PGSSLMODE"), "verify-full");
  EXPECT_EQ(envValue(c, "PGSSLROOTCERT"), "/etc/ca.pem");
  EXPECT_EQ(envValue(c, "PGCONNECT_TIMEOUT"), "5");
}

TEST(PostgresUrl, TakesASocketFolderFromTheHostParameter) {
  auto pg = parsePostgresUrl("postgres:///aureo?host=/var/run/postgresql");
  ASSERT_TRUE(pg.ok()) << pg.error().message;
  EXPECT_EQ(pg->host, "/var/run/postgresql");
  EXPECT_EQ(pg->dbname, "aureo");
}

TEST(PostgresUrl, RejectsAUrlWithoutADatabaseOrWithAnUnknownParameter) {
  EXPECT_EQ(parsePostgresUrl("postgres://host").error().code, Code::kInvalidArgument);
  EXPECT_EQ(parsePostgresUrl("postgres://host/").error().code, Code::kInvalidArgument);
  auto unknown = parsePostgresUrl("postgres://host/db?frobnicate=1");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("frobnicate"), std::string::npos);
  EXPECT_EQ(parsePostgresUrl("mysql://host/db").error().code, Code::kInvalidArgument);
}

TEST(PostgresCommands, PasswordTravelsInPgpasswordAndNeverInArgv) {
  auto pg = parsePostgresUrl("postgres://aureo:s3cret-pw@db:5432/aureo?sslmode=require");
  ASSERT_TRUE(pg.ok());
  for (const Command& c : {pgDumpCommand(*pg, "/tmp/x.dump"), pgRestoreCommand(*pg, "/tmp/x.dump"),
                           psqlCommand(*pg, "SELECT 1")}) {
    EXPECT_FALSE(argvMentions(c, "s3cret-pw")) << c.argv[0];
    EXPECT_EQ(envValue(c, "PGPASSWORD"), "s3cret-pw") << c.argv[0];
    EXPECT_EQ(envValue(c, "PGSSLMODE"), "require") << c.argv[0];
    EXPECT_TRUE(argvMentions(c, "--no-password")) << c.argv[0];
  }
  const Command dump = pgDumpCommand(*pg, "/tmp/x.dump");
  EXPECT_EQ(dump.argv[0], "pg_dump");
  EXPECT_TRUE(argvMentions(dump, "--format=custom"));
  const Command restore = pgRestoreCommand(*pg, "/tmp/x.dump");
  EXPECT_EQ(restore.argv[0], "pg_restore");
  for (const char* flag : {"--clean", "--if-exists", "--single-transaction", "--exit-on-error"}) {
    EXPECT_TRUE(argvMentions(restore, flag)) << flag;
  }
  EXPECT_EQ(restore.argv.back(), "/tmp/x.dump");
}

TEST(PostgresCommands, WithoutAPasswordPgpasswordIsLeftToTheEnvironment) {
  auto pg = parsePostgresUrl("postgres://aureo@db/aureo");
  ASSERT_TRUE(pg.ok());
  EXPECT_EQ(envValue(pgDumpCommand(*pg, "f"), "PGPASSWORD"), "<unset>");
}

TEST(RunCommand, CapturesOutputExitCodeAndTheAddedEnvironment) {
  auto r = runCommand({{"sh", "-c", "printf '%s' \"$AUREO_T_VAR\"; echo oops >&2; exit 3"},
                       {{"AUREO_T_VAR", "v1"}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out, "v1");
  EXPECT_EQ(r->err, "oops\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST(RunCommand, AMissingProgramIsNotFound) {
  auto r = runCommand({{"aureo-no-such-program-xyz"}, {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kNotFound);
}

TEST(PostgresBackup, AnUnreachableServerFailsWithPgDumpsReasonOnOneLine) {
  const std::string out = (fs::temp_directory_path() / "aureo-ops-unreachable.dump").string();
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  auto r = createBackup("postgres://aureo:pw@127.0.0.1:1/aureo", out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_EQ(r.error().message.rfind("pg_dump failed: ", 0), 0u) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  // Nor is a temporary file left behind.
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path())) {
    EXPECT_EQ(e.path().filename().string().find(".aureo-ops-unreachable.dump.tmp"),
              std::string::npos);
  }
}

TEST(PostgresRestore, AFileThatIsNotAnArchiveIsRejectedBeforeConnecting) {
  const std::string in = (fs::temp_directory_path() / "aureo-ops-not-archive.dump").string();
  std::ofstream(in) << "not an archive\n";
  auto r = restoreBackup("postgres://aureo:pw@127.0.0.1:1/aureo", in, false);
  fs::remove(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("is not a pg_dump archive"), std::string::npos)
      << r.error().message;
}

// ---- the commands, through run() --------------------------------------------

class BackupCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "aureo_cli_backup_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    env_.home = dir_.string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  int run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    std::vector<const char*> argv{"aureo-vpn"};
    for (const auto& a : args) argv.push_back(a.c_str());
    std::istringstream in;
    return cli::run(static_cast<int>(argv.size()), argv.data(), env_, out_, err_, in);
  }

  std::unique_ptr<store::Store> open(const std::string& file) {
    store::StoreOptions options;
    options.url = "sqlite:" + file;
    options.pool_size = 2;
    options.busy_timeout = std::chrono::seconds(30);
    auto s = store::openStore(options);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }

  // One line on stderr, "aureo-vpn: ..." (commands.h).
  void expectOneLineError(const std::string& needle) {
    const std::string e = err_.str();
    EXPECT_EQ(e.rfind("aureo-vpn: ", 0), 0u) << e;
    EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << e;
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  }

  fs::path dir_;
  Environment env_;
  std::ostringstream out_, err_;
};

TEST_F(BackupCommandTest, CreateThenRestoreRoundTripsTheDatabase) {
  store::User u;
  u.id = "00000000-0000-4000-8000-000000000001";
  u.email = "ann@example.test";
  u.username = "ann";
  u.password_hash = "h";
  {
    auto s = open(path("live.db"));
    ASSERT_TRUE(s->users().create(u).ok());
  }
  ASSERT_EQ(run({"admin", "backup", "create", "--database", "sqlite:" + path("live.db"), "--output",
                 path("b.db")}),
            kExitOk)
      << err_.str();
  EXPECT_NE(out_.str().find("Backed up the sqlite database"), std::string::npos) << out_.str();

  ASSERT_EQ(run({"admin", "backup", "restore", "--database", "sqlite://" + path("new/aureo.db"),
                 "--input", path("b.db"), "--json"}),
            kExitOk)
      << err_.str();
  EXPECT_NE(out_.str().find("\"schema_version\": " + std::to_string(store::latestSchemaVersion())),
            std::string::npos)
      << out_.str();
  auto s = open(path("new/aureo.db"));
  auto got = s->users().get(u.id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->email, u.email);
}

TEST_F(BackupCommandTest, AMissingDatabaseFileIsOneLineAndExitOne) {
  EXPECT_EQ(run({"admin", "backup", "create", "--database", "sqlite:" + path("nope.db"), "--output",
                 path("b.db")}),
            kExitFailure);
  expectOneLineError("does not exist");
  EXPECT_FALSE(fs::exists(path("nope.db")));
}

TEST_F(BackupCommandTest, AFileThatIsNotADatabaseIsOneLineAndExitOne) {
  std::ofstream(path("junk")) << std::string(5000, 'j');
  EXPECT_EQ(run({"admin", "backup", "restore", "--database", "sqlite:" + path("t.db"), "--input",
                 path("junk")}),
            kExitFailure);
  expectOneLineError("not a SQLite database");
  EXPECT_EQ(run({"admin", "backup", "create", "--database", "sqlite:" + path("junk"), "--output",
                 path("b.db")}),
            kExitFailure);
  expectOneLineError("not a SQLite database");
}

TEST_F(BackupCommandTest, AnUnsupportedUrlIsAUsageError) {
  EXPECT_EQ(
      run({"admin", "backup", "create", "--database", "mysql://h/db", "--output", path("b.db")}),
      kExitUsage);
  expectOneLineError("unsupported database URL");
  EXPECT_EQ(
      run({"admin", "backup", "create", "--database", "postgres://h", "--output", path("b.db")}),
      kExitUsage);
  expectOneLineError("names no database");
}

TEST_F(BackupCommandTest, MissingOptionsAreUsageErrors) {
  EXPECT_EQ(run({"admin", "backup", "create", "--output", path("b.db")}), kExitUsage);
  EXPECT_EQ(run({"admin", "backup", "restore", "--database", "sqlite:x.db"}), kExitUsage);
}

TEST_F(BackupCommandTest, HelpSaysTheCommandsBypassTheApi) {
  ASSERT_EQ(run({"admin", "backup", "--help"}), kExitOk);
  EXPECT_NE(out_.str().find("not the REST API"), std::string::npos) << out_.str();
  ASSERT_EQ(run({"admin", "backup", "restore", "--help"}), kExitOk);
  EXPECT_NE(out_.str().find("--force"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace aureo::cli
