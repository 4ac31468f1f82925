#include "store/internal/dialect.h"

#include <libpq-fe.h>
#include <poll.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <string>

namespace aureo::store::internal {
namespace {

constexpr std::string_view kAutoIdPlaceholder = "${AUTO_ID}";

core::Error sqliteError(const soci::sqlite3_soci_error& e) {
  using core::Code;
  const int code = e.result();  // extended result codes are on (configureConnection)
  std::string message = e.get_error_message();
  switch (code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return {Code::kAlreadyExists, std::move(message), {}};
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_CHECK: return {Code::kInvalidArgument, std::move(message), {}};
    default: break;
  }
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:  // foreign key and the rest: a row the write relies on is missing
      return {Code::kFailedPrecondition, std::move(message), {}};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL: return {Code::kUnavailable, std::move(message), {}};
    case SQLITE_FULL: return {Code::kResourceExhausted, std::move(message), {}};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return {Code::kDataLoss, std::move(message), {}};
    case SQLITE_READONLY:
    case SQLITE_PERM: return {Code::kFailedPrecondition, std::move(message), {}};
    case SQLITE_INTERRUPT: return {Code::kCancelled, std::move(message), {}};
    default: return {Code::kInternal, std::move(message), {}};
  }
}

// PostgreSQL's SQLSTATE codes, by class (the first two characters) where
// the class says enough. Appendix A of the PostgreSQL manual lists them.
core::Error postgresError(const soci::postgresql_soci_error& e) {
  using core::Code;
  const std::string state = e.sqlstate();
  std::string message = e.get_error_message();
  const std::string_view cls = std::string_view(state).substr(0, 2);
  if (state == "23505") return {Code::kAlreadyExists, std::move(message), {}};
  if (state == "23503") return {Code::kFailedPrecondition, std::move(message), {}};
  if (state == "40001" || state == "40P01") return {Code::kAborted, std::move(message), {}};
  if (state == "57014") return {Code::kDeadlineExceeded, std::move(message), {}};  // timeout
  if (state == "53300" || state == "53400") return {Code::kUnavailable, std::move(message), {}};
  if (state == "25006") return {Code::kFailedPrecondition, std::move(message), {}};  // read-only
  if (state == "42501") return {Code::kPermissionDenied, std::move(message), {}};
  if (cls == "23" || cls == "22") return {Code::kInvalidArgument, std::move(message), {}};
  // 08: connection exception; 57P0x: the server is shutting down, crashed or
  // is starting; 58: I/O error on the server.
  if (cls == "08" || cls == "57" || cls == "58")
    return {Code::kUnavailable, std::move(message), {}};
  if (cls == "53") return {Code::kResourceExhausted, std::move(message), {}};
  if (cls == "28") return {Code::kUnavailable, std::move(message), {}};  // bad credentials
  if (cls == "XX" && state != "XX000") return {Code::kDataLoss, std::move(message), {}};
  return {Code::kInternal, std::move(message), {}};
}

PGconn* pgConnection(soci::session& sql) {
  auto* backend = static_cast<soci::postgresql_session_backend*>(sql.get_backend());
  return backend == nullptr ? nullptr : backend->conn_;
}

// Backends without a mapping of their own are classified coarsely by SOCI.
core::Error genericSociError(const soci::soci_error& e) {
  using core::Code;
  std::string message = e.get_error_message();
  switch (e.get_error_category()) {
    case soci::soci_error::connection_error:
    case soci::soci_error::system_error:
    case soci::soci_error::unknown_transaction_state:
      return {Code::kUnavailable, std::move(message), {}};
    case soci::soci_error::constraint_violation:
      return {Code::kFailedPrecondition, std::move(message), {}};
    case soci::soci_error::no_privilege: return {Code::kPermissionDenied, std::move(message), {}};
    default: return {Code::kInternal, std::move(message), {}};
  }
}

}  // namespace

std::string_view Dialect::name() const {
  return kind_ == DialectKind::kSqlite ? "sqlite" : "postgres";
}

std::string_view Dialect::beginWrite() const {
  return kind_ == DialectKind::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN";
}

std::string_view Dialect::beginRead() const {
  return kind_ == DialectKind::kSqlite ? "BEGIN"
                                       : "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
}

std::string_view Dialect::forUpdate() const {
  return kind_ == DialectKind::kSqlite ? "" : " FOR UPDATE";
}

std::string_view Dialect::forNoKeyUpdate() const {
  return kind_ == DialectKind::kSqlite ? "" : " FOR NO KEY UPDATE";
}

std::string Dialect::expandMigration(std::string_view sql) const {
  // SQLite needs exactly "INTEGER PRIMARY KEY" for a rowid alias; AUTOINCREMENT
  // keeps ids of deleted rows from coming back.
  const std::string_view auto_id = kind_ == DialectKind::kSqlite
                                       ? "INTEGER PRIMARY KEY AUTOINCREMENT"
                                       : "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
  std::string out(sql);
  for (size_t pos = out.find(kAutoIdPlaceholder); pos != std::string::npos;
       pos = out.find(kAutoIdPlaceholder, pos + auto_id.size())) {
    out.replace(pos, kAutoIdPlaceholder.size(), auto_id);
  }
  return out;
}

std::vector<std::string> Dialect::migrationPreamble() const {
  if (kind_ == DialectKind::kSqlite) return {};
  // The key is an arbitrary constant shared by every Aureo process: "aureo" in ASCII.
  return {"SET LOCAL statement_timeout = 0", "SELECT pg_advisory_xact_lock(448345731439)"};
}

bool Dialect::usable(soci::session& sql) const {
  if (sql.get_backend() == nullptr) return false;
  if (kind_ == DialectKind::kSqlite) return true;
  PGconn* conn = pgConnection(sql);
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return false;
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) return false;  // a transaction was left open
  // An idle connection receives nothing (no LISTEN is used): anything
  // readable is the server's goodbye or EOF.
  pollfd pfd{PQsocket(conn), POLLIN, 0};
  return poll(&pfd, 1, 0) == 0;
}

bool Dialect::connectionLost(soci::session& sql) const {
  if (sql.get_backend() == nullptr) return true;
  if (kind_ == DialectKind::kSqlite) return false;
  PGconn* conn = pgConnection(sql);
  return conn == nullptr || PQstatus(conn) != CONNECTION_OK;
}

bool Dialect::retryable(const std::exception& e) const {
  if (kind_ != DialectKind::kPostgres) return false;
  const auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&e);
  if (pg == nullptr) return false;
  const std::string state = pg->sqlstate();
  return state == "40001" || state == "40P01" || state == "57P01";
}

void Dialect::configureConnection(soci::session& sql, const ConnectionSettings& settings) const {
  if (kind_ == DialectKind::kPostgres) {
    // Values are integers we format, not text from outside.
    sql << "SET statement_timeout = " + std::to_string(settings.statement_timeout.count());
    // Times are BIGINT milliseconds, so no setting touches their meaning;
    // UTC keeps server-side logs comparable.
    sql << "SET TIME ZONE 'UTC'";
    // libpq prints notices to stderr; "already exists, skipping" and the
    // like are expected and not worth a line in the service's output.
    sql << "SET client_min_messages = warning";
    return;
  }
  auto* backend = static_cast<soci::sqlite3_session_backend*>(sql.get_backend());
  // Without extended codes a UNIQUE violation and a FOREIGN KEY violation
  // both read SQLITE_CONSTRAINT.
  sqlite_api::sqlite3_extended_result_codes(backend->conn_, 1);
  // PRAGMA takes no bound parameters; the value is an integer we format, not
  // text from outside.
  sql << "PRAGMA busy_timeout = " + std::to_string(settings.busy_timeout.count());
  std::string mode;
  sql << "PRAGMA journal_mode = WAL", soci::into(mode);
  if (mode != "wal") {
    throw soci::soci_error("cannot switch the database to WAL mode (journal_mode=" + mode + ")");
  }
  sql << "PRAGMA synchronous = FULL";
  sql << "PRAGMA foreign_keys = ON";
}

// A libpq URI or key=value string turned into key='value' form, with a
// connect timeout and an application name unless the caller set them.
// kInvalidArgument (naming `field`) if libpq cannot parse it.
core::Result<std::string> postgresConnectString(const std::string& url, std::string_view field,
                                                std::chrono::milliseconds connect_timeout) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string why = parse_error != nullptr ? parse_error : "out of memory";
    PQfreemem(parse_error);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return core::invalidArgument("malformed PostgreSQL URL: " + why, std::string(field));
  }
  std::string out;
  bool has_timeout = false;
  bool has_name = false;
  for (const PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    has_timeout = has_timeout || key == "connect_timeout";
    has_name = has_name || key == "application_name";
    std::string value;
    for (const char* c = o->val; *c != '\0'; ++c) {
      if (*c == '\\' || *c == '\'') value.push_back('\\');
      value.push_back(*c);
    }
    out += std::string(key) + "='" + value + "' ";
  }
  PQconninfoFree(parsed);
  if (!has_timeout) {
    // libpq counts whole seconds and treats 1 as 2.
    const auto seconds = std::max<int64_t>(
        2, std::chrono::duration_cast<std::chrono::seconds>(connect_timeout).count());
    out += "connect_timeout=" + std::to_string(seconds) + " ";
  }
  if (!has_name) out += "application_name=aureo ";
  return out;
}

core::Error Dialect::mapError(const std::exception& e) const {
  if (const auto* sqlite = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
    return sqliteError(*sqlite);
  }
  if (const auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&e)) {
    return postgresError(*pg);
  }
  if (const auto* soci_error = dynamic_cast<const soci::soci_error*>(&e)) {
    return genericSociError(*soci_error);
  }
  return core::internalError(e.what());
}

}  // namespace aureo::store::internal
