// Everything that differs between the SQL databases the store runs on lives
// here, so the repositories and migrations read the same on every backend.
#pragma once

#include <chrono>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace soci {
class session;
}

namespace aureo::store::internal {

enum class DialectKind { kSqlite, kPostgres };

struct ConnectionSettings {
  // SQLite: how long a statement waits for another writer's lock.
  std::chrono::milliseconds busy_timeout{5000};
  // PostgreSQL: statements running longer are cancelled (0: no limit).
  std::chrono::milliseconds statement_timeout{0};
};

class Dialect {
 public:
  explicit Dialect(DialectKind kind) : kind_(kind) {}

  [[nodiscard]] DialectKind kind() const { return kind_; }
  [[nodiscard]] std::string_view name() const;

  // Starts a transaction that will write. SQLite takes the write lock up
  // front (BEGIN IMMEDIATE): a deferred transaction that reads first and then
  // writes fails with SQLITE_BUSY_SNAPSHOT, without waiting, whenever another
  // writer committed in between.
  [[nodiscard]] std::string_view beginWrite() const;
  // Starts a read-only transaction that sees one consistent snapshot.
  [[nodiscard]] std::string_view beginRead() const;
  // Appended to a SELECT inside beginWrite() that reads rows it will then
  // update. Empty on SQLite, where the transaction already holds the lock.
  [[nodiscard]] std::string_view forUpdate() const;
  // forUpdate() for a row that is locked to serialize work on it but whose
  // key does not change, so inserts referencing it are not held up.
  [[nodiscard]] std::string_view forNoKeyUpdate() const;

  // Replaces the placeholders a migration script may use with this dialect's
  // spelling. ${AUTO_ID} is a 64-bit integer primary key the database assigns.
  [[nodiscard]] std::string expandMigration(std::string_view sql) const;

  // Per-connection settings, applied whenever the pool (re)opens a session.
  void configureConnection(soci::session& sql, const ConnectionSettings& settings) const;

  // Run first inside each migration's transaction: PostgreSQL serializes
  // migrating processes on an advisory lock and lifts the statement timeout
  // (an index build on a big table may take a while). Empty on SQLite, whose
  // write transaction already excludes other writers.
  [[nodiscard]] std::vector<std::string> migrationPreamble() const;

  // Whether an open session that sat idle in the pool can be used as it is.
  // PostgreSQL: the socket must be open and quiet; a server that shut down
  // or dropped the connection has left it readable (EOF or a FATAL notice).
  [[nodiscard]] bool usable(soci::session& sql) const;
  // Whether the session's connection is gone after a statement failed.
  [[nodiscard]] bool connectionLost(soci::session& sql) const;
  // Whether the failed transaction certainly did not commit and may run
  // again as a whole: serialization failures, deadlocks, and a server that
  // terminated the session (57P01) before the statement finished.
  [[nodiscard]] bool retryable(const std::exception& e) const;

  // Maps an exception thrown by SOCI (or a backend) to the canonical codes of
  // store.h. The message carries the database's own text without the bound
  // values, which SOCI appends to what() and which may be secrets.
  [[nodiscard]] core::Error mapError(const std::exception& e) const;

 private:
  DialectKind kind_;
};

// A libpq URI ("postgres://user:password@host:port/db?options=...") or
// key=value string in the key='value' form SOCI passes to libpq (SOCI does
// not read URIs), with connect_timeout and application_name added unless
// set. kInvalidArgument (naming `field`) if libpq cannot parse it.
core::Result<std::string> postgresConnectString(const std::string& url, std::string_view field,
                                                std::chrono::milliseconds connect_timeout);

}  // namespace aureo::store::internal
