// SQLite backup and restore: what a backup holds, what restore refuses, and
// that the store reads a restored database through its own repositories.
#include "store/backup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.h"
#include "store/store.h"

namespace aureo::store {
namespace {

namespace fs = std::filesystem;
using core::Code;
constexpr auto kBusy = std::chrono::seconds(30);  // the machine is shared and noisy

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "aureo_backup_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::unique_ptr<Store> open(const std::string& file) {
    StoreOptions options;
    options.url = "sqlite:" + file;
    options.pool_size = 4;
    options.busy_timeout = kBusy;
    auto store = openStore(options);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(*store) : nullptr;
  }

  static User user(const std::string& name) {
    User u;
    u.id = core::newUuid();
    u.email = name + "@example.test";
    u.username = name;
    u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    u.created_at = u.updated_at = SystemTime{std::chrono::milliseconds{1'700'000'000'000}};
    return u;
  }

  static void exec(const std::string& file, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    const std::string text = message != nullptr ? message : "";
    sqlite3_free(message);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << text;
  }

  static void writeFile(const std::string& file, const std::string& contents) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << contents;
  }

  static std::string readFile(const std::string& file) {
    std::string out(static_cast<size_t>(fs::file_size(file)), '\0');
    std::ifstream(file, std::ios::binary)
        .read(out.data(), static_cast<std::streamsize>(out.size()));
    return out;
  }

  fs::path dir_;
};

TEST_F(BackupTest, RestoredBackupHoldsEveryRowAndTheStoreReadsIt) {
  const std::string live = path("live.db");
  std::vector<User> users;
  {
    auto store = open(live);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 20; ++i) {
      users.push_back(user("u" + std::to_string(i)));
      ASSERT_TRUE(store->users().create(users.back()).ok());
    }
    // The store keeps its connections open while the backup runs.
    auto info = backupSqliteFile(live, path("backup.db"), kBusy);
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(info->schema_version, latestSchemaVersion());
    EXPECT_GT(info->bytes, 0);
  }

  auto restored = restoreSqliteFile(path("backup.db"), path("restored/aureo.db"), false, kBusy);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->schema_version, latestSchemaVersion());

  auto store = open(path("restored/aureo.db"));
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->users().count().value(), 20);
  for (const User& u : users) {
    auto got = store->users().get(u.id);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->email, u.email);
    EXPECT_EQ(got->password_hash, u.password_hash);
  }
  auto applied = store->appliedMigrations();
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(applied->back(), latestSchemaVersion());
}

TEST_F(BackupTest, BackupIsOneSelfContainedFileInRollbackJournalMode) {
  const std::string live = path("live.db");
  auto store = open(live);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->users().create(user("solo")).ok());
  ASSERT_TRUE(backupSqliteFile(live, path("b.db"), kBusy).ok());

  EXPECT_FALSE(fs::exists(path("b.db-wal")));
  EXPECT_FALSE(fs::exists(path("b.db-journal")));
  // Header bytes 18 and 19 are the write/read format versions: 1 is the
  // rollback journal, 2 is WAL (which would need a -wal file alongside).
  const std::string bytes = readFile(path("b.db"));
  ASSERT_GT(bytes.size(), 100u);
  EXPECT_EQ(bytes[18], 1);
  EXPECT_EQ(bytes[19], 1);
  // No temporary file is left next to it.
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }
}

TEST_F(BackupTest, BackupTakenWhileAnotherConnectionWritesHasEveryCommittedRow) {
  const std::string live = path("live.db");
  auto store = open(live);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(store->users().create(user("pre" + std::to_string(i))).ok());

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<std::string> committed;
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      User u = user("w" + std::to_string(i));
      if (store->users().create(u).ok()) {
        std::lock_guard lock(mu);
        committed.insert(u.id);
      }
    }
  });
  // Rows committed before the backup starts must all be in it.
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (committed.size() >= 50) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::set<std::string> before;
  {
    std::lock_guard lock(mu);
    before = committed;
  }
  auto info = backupSqliteFile(live, path("b.db"), kBusy);
  stop = true;
  writer.join();
  ASSERT_TRUE(info.ok()) << info.error().message;

  ASSERT_TRUE(restoreSqliteFile(path("b.db"), path("r.db"), false, kBusy).ok());
  auto restored = open(path("r.db"));
  ASSERT_NE(restored, nullptr);
  for (const std::string& id : before) EXPECT_TRUE(restored->users().get(id).ok()) << id;
  const int64_t count = restored->users().count().value();
  EXPECT_GE(count, 200 + static_cast<int64_t>(before.size()));
  EXPECT_LE(count, 200 + static_cast<int64_t>(committed.size()));
}

TEST_F(BackupTest, RestoreReplacesTheContentsOfAnExistingDatabase) {
  const std::string live = path("live.db");
  User kept = user("kept");
  User later = user("later");
  {
    auto store = open(live);
    ASSERT_TRUE(store->users().create(kept).ok());
    ASSERT_TRUE(backupSqliteFile(live, path("b.db"), kBusy).ok());
    ASSERT_TRUE(store->users().create(later).ok());
  }
  auto restored = restoreSqliteFile(path("b.db"), live, false, kBusy);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  auto store = open(live);
  EXPECT_TRUE(store->users().get(kept.id).ok());
  EXPECT_EQ(store->users().get(later.id).error().code, Code::kNotFound);
}

TEST_F(BackupTest, BackupOfAMissingDatabaseIsNotFoundAndCreatesNothing) {
  auto info = backupSqliteFile(path("absent.db"), path("b.db"), kBusy);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Code::kNotFound);
  EXPECT_NE(info.error().message.find("does not exist"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("absent.db")));
  EXPECT_FALSE(fs::exists(path("b.db")));
}

TEST_F(BackupTest, BackupIntoAMissingFolderFails) {
  auto store = open(path("live.db"));
  auto info = backupSqliteFile(path("live.db"), path("no/such/dir/b.db"), kBusy);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, Code::kNotFound);
}

TEST_F(BackupTest, RestoreRejectsAFileThatIsNotADatabaseAndLeavesTheTargetAlone) {
  const std::string live = path("live.db");
  User u = user("stays");
  {
    auto store = open(live);
    ASSERT_TRUE(store->users().create(u).ok());
  }
  writeFile(path("junk.db"), std::string(8192, 'x'));
  auto r = restoreSqliteFile(path("junk.db"), live, false, kBusy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("not a SQLite database"), std::string::npos)
      << r.error().message;
  auto store = open(live);
  EXPECT_TRUE(store->users().get(u.id).ok());
}

TEST_F(BackupTest, RestoreRejectsAMissingBackup) {
  auto r = restoreSqliteFile(path("absent.db"), path("t.db"), false, kBusy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  EXPECT_FALSE(fs::exists(path("t.db")));
}

TEST_F(BackupTest, RestoreRejectsASqliteFileThatIsNotAnAureoDatabase) {
  exec(path("other.db"), "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);");
  auto r = restoreSqliteFile(path("other.db"), path("t.db"), false, kBusy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("not an Aureo VPN database"), std::string::npos);
}

TEST_F(BackupTest, RestoreRejectsABackupWithANewerSchema) {
  { open(path("live.db")); }
  ASSERT_TRUE(backupSqliteFile(path("live.db"), path("b.db"), kBusy).ok());
  exec(path("b.db"), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (" +
                         std::to_string(latestSchemaVersion() + 1) + ", 'future', 0);");
  auto r = restoreSqliteFile(path("b.db"), path("t.db"), false, kBusy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("newer than this binary"), std::string::npos);
}

TEST_F(BackupTest, RestoreRejectsACorruptBackup) {
  {
    auto store = open(path("live.db"));
    for (int i = 0; i < 300; ++i)
      ASSERT_TRUE(store->users().create(user("c" + std::to_string(i))).ok());
  }
  ASSERT_TRUE(backupSqliteFile(path("live.db"), path("b.db"), kBusy).ok());
  std::string bytes = readFile(path("b.db"));
  ASSERT_GT(bytes.size(), 6u * 4096u);
  // Scribble over the middle of the file, past page 1 (the schema), so the
  // file still opens but b-tree pages no longer make sense.
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 8192; ++i) bytes[i] = '\x5a';
  writeFile(path("b.db"), bytes);
  auto r = restoreSqliteFile(path("b.db"), path("t.db"), false, kBusy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kDataLoss) << r.error().message;
}

// A child process keeps the database open the way a server does.
class Holder {
 public:
  explicit Holder(const std::string& file) {
    int ready[2];
    EXPECT_EQ(pipe(ready), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      sqlite3* db = nullptr;
      if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) _exit(3);
      if (sqlite3_exec(db, "SELECT COUNT(*) FROM users", nullptr, nullptr, nullptr) != SQLITE_OK) {
        _exit(4);
      }
      const char byte = 1;
      if (write(ready[1], &byte, 1) != 1) _exit(5);
      pause();  // until the parent kills it
      _exit(0);
    }
    close(ready[1]);
    char byte = 0;
    EXPECT_EQ(read(ready[0], &byte, 1), 1);
    close(ready[0]);
  }
  ~Holder() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

TEST_F(BackupTest, RestoreRefusesADatabaseAnotherProcessHoldsUnlessForced) {
  const std::string live = path("live.db");
  User before = user("before");
  User after = user("after");
  {
    auto store = open(live);
    ASSERT_TRUE(store->users().create(before).ok());
    ASSERT_TRUE(backupSqliteFile(live, path("b.db"), kBusy).ok());
    ASSERT_TRUE(store->users().create(after).ok());
  }
  auto none = sqliteHolder(live);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  Holder holder(live);
  auto held = sqliteHolder(live);
  ASSERT_TRUE(held.ok()) << held.error().message;
  ASSERT_TRUE(held->has_value());
  EXPECT_EQ(**held, holder.pid());

  auto refused = restoreSqliteFile(path("b.db"), live, false, kBusy);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Code::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("pid " + std::to_string(holder.pid())), std::string::npos)
      << refused.error().message;
  {
    auto store = open(live);
    EXPECT_TRUE(store->users().get(after.id).ok()) << "a refused restore changed the database";
  }

  auto forced = restoreSqliteFile(path("b.db"), live, true, kBusy);
  ASSERT_TRUE(forced.ok()) << forced.error().message;
  auto store = open(live);
  EXPECT_TRUE(store->users().get(before.id).ok());
  EXPECT_EQ(store->users().get(after.id).error().code, Code::kNotFound);
}

}  // namespace
}  // namespace aureo::store
