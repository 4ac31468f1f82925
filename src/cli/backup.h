// `aureo-vpn admin backup create|restore`: database backups taken on the
// database itself, not through the REST API. SQLite goes through SQLite's
// online backup API (store/backup.h); PostgreSQL through pg_dump -Fc and
// pg_restore, with the password handed over in PGPASSWORD, never in argv.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace aureo::cli {

// A postgres:// URL taken apart for the PostgreSQL client tools.
struct PgConnection {
  std::string host;  // name, address, or a socket folder (from ?host=)
  std::string port;
  std::string user;
  std::string password;  // percent-decoded; empty: libpq's own sources (~/.pgpass, env)
  std::string dbname;
  // Query parameters as the libpq environment variables they map to, e.g.
  // sslmode=require -> PGSSLMODE=require.
  std::vector<std::pair<std::string, std::string>> env;
};

// kInvalidArgument (one line) for a URL that is not postgres:// or
// postgresql://, names no database, or has a parameter libpq cannot take
// from the environment.
core::Result<PgConnection> parsePostgresUrl(std::string_view url);

// A process to start: argv[0] is looked up on PATH; env is added to (and
// overrides) the inherited environment.
struct Command {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
};

Command pgDumpCommand(const PgConnection& pg, const std::string& output);
Command pgRestoreCommand(const PgConnection& pg, const std::string& input);
// psql running one query, printing bare values one per line.
Command psqlCommand(const PgConnection& pg, const std::string& query);

struct CommandOutput {
  int exit_code = 0;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

// Runs the command to completion with stdin from /dev/null, capturing its
// output. kNotFound when the program is not installed.
core::Result<CommandOutput> runCommand(const Command& command);

struct BackupSummary {
  std::string kind;  // "sqlite" or "postgres"
  int64_t schema_version = 0;
  int64_t bytes = 0;  // of the backup file
};

// Writes a backup of the database at `url` to `output` (a temporary file
// renamed into place once it is complete and checked).
core::Result<BackupSummary> createBackup(const std::string& url, const std::string& output);

// Checks the backup at `input` and restores it into the database at `url`.
// Refuses a database that running servers hold open unless `force`.
core::Result<BackupSummary> restoreBackup(const std::string& url, const std::string& input,
                                          bool force);

}  // namespace aureo::cli
