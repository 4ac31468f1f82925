#include "store/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

#include "store/internal/migrations.h"

namespace aureo::store {
namespace {

namespace fs = std::filesystem;

std::string errnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// os_unix.c: the -shm lock bytes start at (22 + SQLITE_SHM_NLOCK) * 4 = 120;
// the dead man switch follows the eight WAL locks. Part of SQLite's file
// format (the locks must agree between every process using the file).
constexpr off_t kShmDeadManSwitch = 120 + 8;

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, SqliteCloser>;

struct StatementFinalizer {
  void operator()(sqlite3_stmt* st) const { sqlite3_finalize(st); }
};

// Removes the temporary backup file (and a journal SQLite may have left)
// unless the backup succeeded.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (keep_) return;
    std::error_code ec;
    fs::remove(path_, ec);
    fs::remove(path_ + "-journal", ec);
  }
  [[nodiscard]] const std::string& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

// One line: SQLite's own text, with what we were doing.
core::Error sqliteError(sqlite3* db, int rc, const std::string& what) {
  const int primary = rc & 0xff;
  std::string message = what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (primary) {
    case SQLITE_NOTADB: return core::invalidArgument(what + ": not a SQLite database");
    case SQLITE_CORRUPT: return core::Error{core::Code::kDataLoss, message, {}};
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return core::unavailable(message);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL: return core::unavailable(message);
    default: return core::internalError(message);
  }
}

core::Status requireFile(const std::string& path, const char* what) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return core::notFound(std::string(what) + " " + path + " does not exist");
  }
  if (!fs::is_regular_file(status)) {
    return core::invalidArgument(std::string(what) + " " + path + " is not a regular file");
  }
  return core::okStatus();
}

core::Result<Connection> open(const std::string& path, int flags,
                              std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) return sqliteError(db.get(), rc, "cannot open " + path);
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout.count()));
  return db;
}

// The first column of every row, as text.
core::Result<std::vector<std::string>> column(sqlite3* db, const std::string& sql,
                                              const std::string& what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, StatementFinalizer> st(raw);
  if (rc != SQLITE_OK) return sqliteError(db, rc, what);
  std::vector<std::string> out;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(st.get(), 0);
    out.emplace_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
  }
  if (rc != SQLITE_DONE) return sqliteError(db, rc, what);
  return out;
}

core::Result<int64_t> integer(sqlite3* db, const std::string& sql, const std::string& what) {
  AUREO_ASSIGN_OR_RETURN(auto rows, column(db, sql, what));
  if (rows.size() != 1) return core::internalError(what + ": expected one row");
  return static_cast<int64_t>(std::stoll(rows[0]));
}

core::Result<SqliteFileInfo> check(sqlite3* db, const std::string& path) {
  AUREO_ASSIGN_OR_RETURN(auto integrity,
                         column(db, "PRAGMA integrity_check", "cannot read " + path));
  if (integrity.size() != 1 || integrity[0] != "ok") {
    return core::Error{core::Code::kDataLoss,
                       "integrity check of " + path + " failed: " +
                           (integrity.empty() ? std::string("no answer") : integrity[0]),
                       {}};
  }
  AUREO_ASSIGN_OR_RETURN(
      int64_t has_migrations,
      integer(db,
              "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = "
              "'schema_migrations'",
              "cannot read " + path));
  if (has_migrations == 0) {
    return core::invalidArgument(path + " is not an Aureo VPN database (no schema_migrations)");
  }
  SqliteFileInfo info;
  AUREO_ASSIGN_OR_RETURN(info.schema_version,
                         integer(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                                 "cannot read the schema version of " + path));
  if (info.schema_version > latestSchemaVersion()) {
    return core::failedPrecondition(
        path + " has schema version " + std::to_string(info.schema_version) +
        ", newer than this binary's " + std::to_string(latestSchemaVersion()) +
        "; use the release that wrote it");
  }
  AUREO_ASSIGN_OR_RETURN(int64_t pages, integer(db, "PRAGMA page_count", "cannot read " + path));
  AUREO_ASSIGN_OR_RETURN(int64_t page_size, integer(db, "PRAGMA page_size", "cannot read " + path));
  info.bytes = pages * page_size;
  return info;
}

// Copies all of src into dest in one step, so the copy is one snapshot of the
// source (one read transaction) and one write transaction on dest. A step
// that copies part of the database restarts whenever another connection
// writes the source, and under steady writes would never finish.
core::Status copy(sqlite3* dest, sqlite3* src, const std::string& what,
                  std::chrono::milliseconds busy_timeout) {
  sqlite3_backup* backup = sqlite3_backup_init(dest, "main", src, "main");
  if (backup == nullptr) return sqliteError(dest, sqlite3_errcode(dest), what);
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout;
  int rc = SQLITE_OK;
  for (;;) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc == SQLITE_DONE) break;
    const int primary = rc & 0xff;
    // The source lock is not covered by any busy handler; wait here.
    if ((primary == SQLITE_BUSY || primary == SQLITE_LOCKED) &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    break;
  }
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return sqliteError(dest, rc, what);
  return core::okStatus();
}

core::Status syncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return core::unavailable("cannot open " + path + ": " + errnoText(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return core::unavailable("cannot sync " + path + ": " + errnoText(saved));
  return core::okStatus();
}

}  // namespace

int64_t latestSchemaVersion() {
  const auto& all = internal::migrations();
  return all.empty() ? 0 : all.back().version;
}

core::Result<SqliteFileInfo> checkSqliteFile(const std::string& path) {
  AUREO_RETURN_IF_ERROR(requireFile(path, "file"));
  AUREO_ASSIGN_OR_RETURN(Connection db,
                         open(path, SQLITE_OPEN_READONLY, std::chrono::milliseconds(5000)));
  return check(db.get(), path);
}

core::Result<std::optional<pid_t>> sqliteHolder(const std::string& path) {
  const std::string shm = path + "-shm";
  const int fd = ::open(shm.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<pid_t>();  // nobody has it open in WAL mode
    return core::unavailable("cannot open " + shm + ": " + errnoText(errno));
  }
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = kShmDeadManSwitch;
  probe.l_len = 1;
  const int rc = ::fcntl(fd, F_GETLK, &probe);
  const int saved = errno;
  ::close(fd);
  if (rc != 0)
    return core::unavailable("cannot probe the locks of " + shm + ": " + errnoText(saved));
  if (probe.l_type == F_UNLCK) return std::optional<pid_t>();
  return std::optional<pid_t>(probe.l_pid);
}

core::Result<SqliteFileInfo> backupSqliteFile(const std::string& path, const std::string& output,
                                              std::chrono::milliseconds busy_timeout) {
  AUREO_RETURN_IF_ERROR(requireFile(path, "database file"));
  std::error_code ec;
  if (fs::is_directory(output, ec)) {
    return core::invalidArgument("output " + output + " is a directory; name a file");
  }
  const fs::path out_path(output);
  const fs::path dir = out_path.has_parent_path() ? out_path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) {
    return core::notFound("output folder " + dir.string() + " does not exist");
  }

  // Never open the live file writable: a read-write open of a database in
  // WAL mode is what a reader needs anyway, but no CREATE, so a typo in the
  // path cannot leave an empty database behind.
  AUREO_ASSIGN_OR_RETURN(Connection src, open(path, SQLITE_OPEN_READWRITE, busy_timeout));

  std::string pattern = (dir / ("." + out_path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) {
    return core::unavailable("cannot create a file in " + dir.string() + ": " + errnoText(errno));
  }
  ::close(fd);
  TempFile temp(pattern);

  {
    AUREO_ASSIGN_OR_RETURN(Connection dest, open(temp.path(), SQLITE_OPEN_READWRITE, busy_timeout));
    AUREO_RETURN_IF_ERROR(copy(dest.get(), src.get(), "cannot back up " + path, busy_timeout));
    src.reset();
    // The copy keeps the source's WAL flag in its header; a backup must be
    // one self-contained file.
    AUREO_ASSIGN_OR_RETURN(auto mode, column(dest.get(), "PRAGMA journal_mode = DELETE",
                                             "cannot finish the backup file"));
    if (mode.size() != 1 || mode[0] != "delete") {
      return core::internalError("cannot switch the backup file to rollback-journal mode");
    }
  }
  // Checked as the closed file it will be, on its own.
  AUREO_ASSIGN_OR_RETURN(SqliteFileInfo info, checkSqliteFile(temp.path()));
  AUREO_RETURN_IF_ERROR(syncPath(temp.path(), O_RDONLY));
  if (::rename(temp.path().c_str(), output.c_str()) != 0) {
    return core::unavailable("cannot rename " + temp.path() + " to " + output + ": " +
                             errnoText(errno));
  }
  temp.keep();
  // The rename is durable only once the folder is synced.
  AUREO_RETURN_IF_ERROR(syncPath(dir.string(), O_RDONLY | O_DIRECTORY));
  return info;
}

core::Result<SqliteFileInfo> restoreSqliteFile(const std::string& input, const std::string& path,
                                               bool force, std::chrono::milliseconds busy_timeout) {
  AUREO_RETURN_IF_ERROR(requireFile(input, "backup file"));
  AUREO_ASSIGN_OR_RETURN(Connection src, open(input, SQLITE_OPEN_READONLY, busy_timeout));
  auto backup_info = check(src.get(), input);
  if (!backup_info.ok()) {
    return core::Error{backup_info.error().code,
                       "backup " + input + " rejected: " + backup_info.error().message,
                       {}};
  }

  std::error_code ec;
  if (fs::exists(path, ec)) {
    AUREO_RETURN_IF_ERROR(requireFile(path, "database"));
    if (!force) {
      AUREO_ASSIGN_OR_RETURN(auto holder, sqliteHolder(path));
      if (holder) {
        return core::failedPrecondition("database " + path + " is open in a running process (pid " +
                                        std::to_string(*holder) +
                                        "); stop the servers using it first, or pass --force");
      }
    }
  } else {
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) {
      fs::create_directories(parent, ec);
      if (ec) {
        return core::unavailable("cannot create folder " + parent.string() + ": " + ec.message());
      }
    }
  }

  AUREO_ASSIGN_OR_RETURN(Connection dest,
                         open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, busy_timeout));
  AUREO_RETURN_IF_ERROR(copy(dest.get(), src.get(), "cannot restore into " + path, busy_timeout));
  src.reset();
  auto restored = check(dest.get(), path);
  if (!restored.ok()) {
    return core::Error{restored.error().code,
                       "restored database failed its check: " + restored.error().message,
                       {}};
  }
  return *restored;
}

}  // namespace aureo::store
