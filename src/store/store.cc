// openStore: parses the URL, opens the connection pool, configures each
// connection for its dialect, applies migrations and wires the repositories.
#include "store/store.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "store/internal/db.h"
#include "store/internal/dialect.h"
#include "store/internal/migrations.h"
#include "store/internal/pool.h"
#include "store/internal/repositories.h"

namespace aureo::store {
namespace {

using internal::ConnectionPool;
using internal::ConnectionSettings;
using internal::Db;
using internal::Dialect;
using internal::DialectKind;

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<Db> db)
      : db_(std::move(db)),
        users_(internal::makeUserRepository(*db_)),
        nodes_(internal::makeNodeRepository(*db_)),
        sessions_(internal::makeSessionRepository(*db_)),
        refresh_tokens_(internal::makeRefreshTokenRepository(*db_)),
        audit_(internal::makeAuditRepository(*db_)),
        stats_(internal::makeStatsRepository(*db_)),
        ip_allocations_(internal::makeIpAllocationRepository(*db_)),
        leases_(internal::makeLeaseRepository(*db_)),
        node_credentials_(internal::makeNodeCredentialRepository(*db_)),
        devices_(internal::makeDeviceRepository(*db_)),
        usage_(internal::makeUsageRepository(*db_)),
        secrets_(internal::makeSecretRepository(*db_)) {}

  UserRepository& users() override { return *users_; }
  NodeRepository& nodes() override { return *nodes_; }
  SessionRepository& sessions() override { return *sessions_; }
  RefreshTokenRepository& refreshTokens() override { return *refresh_tokens_; }
  AuditRepository& audit() override { return *audit_; }
  StatsRepository& stats() override { return *stats_; }
  IpAllocationRepository& ipAllocations() override { return *ip_allocations_; }
  LeaseRepository& leases() override { return *leases_; }
  NodeCredentialRepository& nodeCredentials() override { return *node_credentials_; }
  DeviceRepository& devices() override { return *devices_; }
  UsageRepository& usage() override { return *usage_; }
  SecretRepository& secrets() override { return *secrets_; }

  Status ping() override {
    return db_->run("store.ping", [](soci::session& sql) -> Status {
      int one = 0;
      sql << "SELECT 1", soci::into(one);
      if (one != 1) return core::internalError("SELECT 1 returned " + std::to_string(one));
      return core::okStatus();
    });
  }

  Result<std::vector<int64_t>> appliedMigrations() override {
    return db_->run("store.applied_migrations",
                    [](soci::session& sql) -> Result<std::vector<int64_t>> {
                      std::vector<int64_t> out;
                      long long version = 0;
                      soci::statement st =
                          (sql.prepare << "SELECT version FROM schema_migrations ORDER BY version",
                           soci::into(version));
                      st.execute(false);
                      while (st.fetch()) out.push_back(version);
                      return out;
                    });
  }

 private:
  std::unique_ptr<Db> db_;
  std::unique_ptr<UserRepository> users_;
  std::unique_ptr<NodeRepository> nodes_;
  std::unique_ptr<SessionRepository> sessions_;
  std::unique_ptr<RefreshTokenRepository> refresh_tokens_;
  std::unique_ptr<AuditRepository> audit_;
  std::unique_ptr<StatsRepository> stats_;
  std::unique_ptr<IpAllocationRepository> ip_allocations_;
  std::unique_ptr<LeaseRepository> leases_;
  std::unique_ptr<NodeCredentialRepository> node_credentials_;
  std::unique_ptr<DeviceRepository> devices_;
  std::unique_ptr<UsageRepository> usage_;
  std::unique_ptr<SecretRepository> secrets_;
};

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

ConnectionSettings connectionSettings(const StoreOptions& options) {
  ConnectionSettings settings;
  settings.busy_timeout = options.busy_timeout;
  settings.statement_timeout = options.statement_timeout;
  return settings;
}

// Applies migrations on the primary and wires the repositories.
Result<std::unique_ptr<Store>> finishOpen(std::unique_ptr<ConnectionPool> primary,
                                          std::unique_ptr<ConnectionPool> replica, Dialect dialect,
                                          const StoreOptions& options) {
  internal::DbOptions db_options;
  db_options.acquire_timeout = options.acquire_timeout;
  if (dialect.kind() == DialectKind::kSqlite) {
    // A holder may wait busy_timeout on the file lock for each statement;
    // callers queued behind it giving up sooner would only turn a wait
    // into an error.
    db_options.acquire_timeout = std::max(options.acquire_timeout, options.busy_timeout);
  }
  auto db = std::make_unique<Db>(std::move(primary), std::move(replica), dialect, db_options,
                                 options.observer);
  const auto now_ms = internal::toMillis(std::chrono::system_clock::now());
  AUREO_RETURN_IF_ERROR(db->run("store.migrate", [&](soci::session& sql) {
    return internal::applyMigrations(sql, dialect, now_ms);
  }));
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(db)));
}

Result<std::unique_ptr<Store>> openSqlite(std::string path, const StoreOptions& options) {
  if (startsWith(path, "//")) path.erase(0, 2);  // sqlite:///abs/path
  if (path.empty()) return core::invalidArgument("sqlite URL has no file path", "url");
  if (path == ":memory:") {
    // Each pooled connection would get its own empty database.
    return core::invalidArgument("in-memory SQLite is not supported; use a file", "url");
  }
  if (path.find('"') != std::string::npos) {
    return core::invalidArgument("sqlite file path must not contain '\"'", "url");
  }
  const std::filesystem::path file(path);
  if (file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      return core::unavailable("cannot create directory " + file.parent_path().string() + ": " +
                               ec.message());
    }
  }

  const Dialect dialect(DialectKind::kSqlite);
  const std::string connect = "db=\"" + path + "\"";
  const ConnectionSettings settings = connectionSettings(options);
  auto pool = std::make_unique<ConnectionPool>(
      "primary", static_cast<size_t>(options.pool_size),
      [dialect, connect, settings](soci::session& sql) {
        sql.open(soci::sqlite3, connect);
        dialect.configureConnection(sql, settings);
      },
      [dialect](soci::session& sql) { return dialect.usable(sql); });
  try {
    pool->openAll();
  } catch (const std::exception& e) {
    core::Error error = dialect.mapError(e);
    error.message = "cannot open " + path + ": " + error.message;
    return error;
  }
  return finishOpen(std::move(pool), nullptr, dialect, options);
}

Result<std::unique_ptr<ConnectionPool>> openPostgresPool(const std::string& name,
                                                         const std::string& url,
                                                         std::string_view field,
                                                         const StoreOptions& options) {
  const Dialect dialect(DialectKind::kPostgres);
  AUREO_ASSIGN_OR_RETURN(const std::string connect,
                         internal::postgresConnectString(url, field, options.acquire_timeout));
  const ConnectionSettings settings = connectionSettings(options);
  auto pool = std::make_unique<ConnectionPool>(
      name, static_cast<size_t>(options.pool_size),
      [dialect, connect, settings](soci::session& sql) {
        sql.open(soci::postgresql, connect);
        dialect.configureConnection(sql, settings);
      },
      [dialect](soci::session& sql) { return dialect.usable(sql); });
  try {
    pool->openAll();
  } catch (const std::exception& e) {
    // What libpq says about a failed connection names host and port, never
    // the password.
    return core::unavailable("cannot connect to the " + name +
                             " PostgreSQL database: " + dialect.mapError(e).message);
  }
  return pool;
}

Result<std::unique_ptr<Store>> openPostgres(const StoreOptions& options) {
  AUREO_ASSIGN_OR_RETURN(auto primary, openPostgresPool("primary", options.url, "url", options));
  std::unique_ptr<ConnectionPool> replica;
  if (!options.replica_url.empty()) {
    AUREO_ASSIGN_OR_RETURN(
        replica, openPostgresPool("replica", options.replica_url, "replica_url", options));
  }
  return finishOpen(std::move(primary), std::move(replica), Dialect(DialectKind::kPostgres),
                    options);
}

}  // namespace

Result<std::unique_ptr<Store>> openStore(const StoreOptions& options) {
  if (options.pool_size < 1) {
    return core::invalidArgument("pool_size must be at least 1", "pool_size");
  }
  if (options.busy_timeout.count() < 0) {
    return core::invalidArgument("busy_timeout must not be negative", "busy_timeout");
  }
  if (options.statement_timeout.count() < 0) {
    return core::invalidArgument("statement_timeout must not be negative", "statement_timeout");
  }
  if (options.acquire_timeout.count() <= 0) {
    return core::invalidArgument("acquire_timeout must be positive", "acquire_timeout");
  }
  const std::string_view url = options.url;
  const auto is_postgres = [](std::string_view u) {
    return startsWith(u, "postgres://") || startsWith(u, "postgresql://");
  };
  if (!options.replica_url.empty() && !is_postgres(options.replica_url)) {
    return core::invalidArgument("replica_url must be a postgres:// URL", "replica_url");
  }
  if (startsWith(url, "sqlite:")) {
    if (!options.replica_url.empty()) {
      return core::invalidArgument("a read replica needs a PostgreSQL primary", "replica_url");
    }
    return openSqlite(std::string(url.substr(7)), options);
  }
  if (is_postgres(url)) return openPostgres(options);
  return core::invalidArgument(
      "unsupported database URL; expected sqlite:/path/to/file.db or postgres://...", "url");
}

}  // namespace aureo::store
