// Backing up and restoring a SQLite store file, for `aureo-vpn admin backup`.
// Both directions go through SQLite's online backup API, so a backup is one
// consistent snapshot even while servers keep writing, and a restore goes
// through SQLite's own locking and journal instead of replacing the file
// under a connection (which would also mix a stale -wal file into it).
//
// Every function here works on the file directly and is safe to call from
// any thread; each opens and closes its own connections.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"

namespace aureo::store {

// The newest schema version this binary's migrations create.
int64_t latestSchemaVersion();

struct SqliteFileInfo {
  int64_t schema_version = 0;  // MAX(version) of schema_migrations
  int64_t bytes = 0;           // page_count * page_size
};

// Checks a SQLite file is a sound Aureo database: it is a SQLite file,
// `PRAGMA integrity_check` says ok, it has schema_migrations, and its schema
// version is not newer than latestSchemaVersion(). kNotFound for a missing
// file, kInvalidArgument for one that is not an Aureo database, kDataLoss for
// a failed integrity check, kFailedPrecondition for a newer schema.
core::Result<SqliteFileInfo> checkSqliteFile(const std::string& path);

// The pid of another process that has the database open, if any. Every
// connection in WAL mode (the store's mode) holds a shared lock on the
// "dead man switch" byte of the -shm file for as long as it is open; a
// probe for a conflicting write lock there finds it without disturbing it.
// The calling process's own connections are not reported (POSIX locks).
core::Result<std::optional<pid_t>> sqliteHolder(const std::string& path);

// Copies the database at `path` into a new file at `output`: written to a
// temporary file in the same folder, switched to rollback-journal mode so
// the one file is the whole backup, checked with checkSqliteFile, synced and
// renamed over `output`. `busy_timeout` bounds the wait for a lock.
core::Result<SqliteFileInfo> backupSqliteFile(const std::string& path, const std::string& output,
                                              std::chrono::milliseconds busy_timeout);

// Replaces the contents of the database at `path` (created if missing) with
// the backup at `input`, after checkSqliteFile(input) passed, in one write
// transaction of the target; then checks the result. Refuses with
// kFailedPrecondition when another process holds the target open unless
// `force` (its connections then see the restored data on their next read).
core::Result<SqliteFileInfo> restoreSqliteFile(const std::string& input, const std::string& path,
                                               bool force, std::chrono::milliseconds busy_timeout);

}  // namespace aureo::store
