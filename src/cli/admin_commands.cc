// admin backup create|restore: run on the database, not through the API.
#include <fmt/format.h>

#include "cli/backup.h"
#include "cli/internal/context.h"
#include "cli/table.h"

namespace aureo::cli {
namespace {

struct BackupOptions {
  std::string database;
  std::string file;
  bool force = false;
};

Json summaryJson(const BackupSummary& s, const std::string& file) {
  return Json{{"database", s.kind},
              {"file", file},
              {"schema_version", s.schema_version},
              {"bytes", s.bytes}};
}

core::Status create(Context& ctx, const BackupOptions& o) {
  AUREO_ASSIGN_OR_RETURN(BackupSummary s, createBackup(o.database, o.file));
  if (ctx.json()) {
    ctx.printJson(summaryJson(s, o.file));
    return {};
  }
  ctx.out << fmt::format("Backed up the {} database (schema version {}) to {} ({}).\n", s.kind,
                         s.schema_version, o.file, formatBytes(static_cast<uint64_t>(s.bytes)));
  return {};
}

core::Status restore(Context& ctx, const BackupOptions& o) {
  AUREO_ASSIGN_OR_RETURN(BackupSummary s, restoreBackup(o.database, o.file, o.force));
  if (ctx.json()) {
    ctx.printJson(summaryJson(s, o.file));
    return {};
  }
  ctx.out << fmt::format(
      "Restored {} into the {} database (schema version {}). Restart the servers that use it.\n",
      o.file, s.kind, s.schema_version);
  return {};
}

}  // namespace

void addAdminCommands(CLI::App& app, Context& ctx, Action& action) {
  auto* admin = app.add_subcommand("admin", "Operator tasks run on the servers' own host");
  admin->require_subcommand(1);
  auto* backup = admin->add_subcommand(
      "backup",
      "Back up or restore the database. These commands open the database directly (the "
      "SQLite file or a PostgreSQL URL), not the REST API: run them where the database is "
      "reachable, with --database set as in the servers' database.url.");
  backup->require_subcommand(1);
  backup->footer(
      "SQLite: an online, consistent copy taken while the servers keep running, checked with "
      "PRAGMA integrity_check. PostgreSQL: pg_dump -Fc and pg_restore --clean --if-exists "
      "(client tools on PATH; the URL's password goes to them in PGPASSWORD).");

  {
    auto o = std::make_shared<BackupOptions>();
    auto* cmd = backup->add_subcommand(
        "create",
        "Write a backup of the database to a file (opens the database directly, not via the API)");
    cmd->add_option("--database", o->database,
                    "Database URL: sqlite:/var/lib/aureo/aureo.db or postgres://user:pw@host/db")
        ->required();
    cmd->add_option("--output", o->file, "Backup file to write (replaced atomically)")->required();
    cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return create(ctx, *o); }; });
  }
  {
    auto o = std::make_shared<BackupOptions>();
    auto* cmd = backup->add_subcommand("restore",
                                       "Replace the database's contents with a checked backup "
                                       "(opens the database directly, not via "
                                       "the API)");
    cmd->add_option("--database", o->database,
                    "Database URL: sqlite:/var/lib/aureo/aureo.db or postgres://user:pw@host/db")
        ->required();
    cmd->add_option("--input", o->file, "Backup file written by 'admin backup create'")->required();
    cmd->add_flag("--force", o->force, "Restore even while running servers hold the database open");
    cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return restore(ctx, *o); }; });
  }
}

}  // namespace aureo::cli
