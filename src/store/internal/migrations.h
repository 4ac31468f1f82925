// The versioned schema, embedded in the library and applied at open.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace soci {
class session;
}

namespace aureo::store::internal {

class Dialect;

struct Migration {
  int64_t version;
  std::string name;
  std::string sql;  // statements separated by ';', with Dialect placeholders
};

// Every migration, ascending by version. Versions are never reused or edited
// once released; a change to the schema is a new entry.
const std::vector<Migration>& migrations();

// Splits a script on the ';' that end statements (not those inside quotes).
std::vector<std::string> splitStatements(std::string_view script);

// Applies each migration missing from schema_migrations, one transaction
// each. Several processes opening one database at once is safe: the check
// for a version runs inside the write transaction. Database errors throw;
// kFailedPrecondition if the database has a version this binary lacks.
core::Status applyMigrations(soci::session& sql, const Dialect& dialect, int64_t now_ms);

}  // namespace aureo::store::internal
