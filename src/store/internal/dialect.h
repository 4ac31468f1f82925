// Everything that differs between the SQL databases the store runs on lives
// here, so the repositories and migrations read the same on every backend.
#pragma once

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include "core/result.h"

namespace soci {
class session;
}

namespace aureo::store::internal {

enum class DialectKind { kSqlite, kPostgres };

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

  // Replaces the placeholders a migration script may use with this dialect's
  // spelling. ${AUTO_ID} is a 64-bit integer primary key the database assigns.
  [[nodiscard]] std::string expandMigration(std::string_view sql) const;

  // Per-connection settings, applied once when the pool opens each session.
  void configureConnection(soci::session& sql, std::chrono::milliseconds busy_timeout) const;

  // Maps an exception thrown by SOCI (or a backend) to the canonical codes of
  // store.h. The message carries the database's own text without the bound
  // values, which SOCI appends to what() and which may be secrets.
  [[nodiscard]] core::Error mapError(const std::exception& e) const;

 private:
  DialectKind kind_;
};

}  // namespace aureo::store::internal
