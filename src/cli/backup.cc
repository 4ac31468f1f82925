#include "cli/backup.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <map>
#include <system_error>

#include "store/backup.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX names it nowhere else

namespace aureo::cli {
namespace {

namespace fs = std::filesystem;

std::string errnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

constexpr auto kBusyTimeout = std::chrono::seconds(30);

// libpq connection parameters that have an environment variable (the libpq
// manual, "Environment Variables"); host, port, user, dbname and password
// are handled apart.
const std::map<std::string, std::string, std::less<>>& pgEnvNames() {
  static const std::map<std::string, std::string, std::less<>> kNames = {
      {"sslmode", "PGSSLMODE"},
      {"sslrootcert", "PGSSLROOTCERT"},
      {"sslcert", "PGSSLCERT"},
      {"sslkey", "PGSSLKEY"},
      {"sslcrl", "PGSSLCRL"},
      {"sslcompression", "PGSSLCOMPRESSION"},
      {"requiressl", "PGREQUIRESSL"},
      {"gssencmode", "PGGSSENCMODE"},
      {"krbsrvname", "PGKRBSRVNAME"},
      {"connect_timeout", "PGCONNECT_TIMEOUT"},
      {"application_name", "PGAPPNAME"},
      {"options", "PGOPTIONS"},
      {"target_session_attrs", "PGTARGETSESSIONATTRS"},
      {"client_encoding", "PGCLIENTENCODING"},
      {"hostaddr", "PGHOSTADDR"},
      {"service", "PGSERVICE"},
  };
  return kNames;
}

std::string firstLine(std::string_view text) {
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
  return std::string(text.substr(0, text.find('\n')));
}

core::Error toolFailed(const std::string& tool, const CommandOutput& out) {
  std::string why = firstLine(out.err);
  if (why.empty()) why = "exit code " + std::to_string(out.exit_code);
  return core::unavailable(tool + " failed: " + why);
}

std::vector<std::string> connectionArgs(const PgConnection& pg) {
  std::vector<std::string> args{"--no-password"};  // never prompt; a missing password fails
  if (!pg.host.empty()) args.insert(args.end(), {"--host", pg.host});
  if (!pg.port.empty()) args.insert(args.end(), {"--port", pg.port});
  if (!pg.user.empty()) args.insert(args.end(), {"--username", pg.user});
  args.insert(args.end(), {"--dbname", pg.dbname});
  return args;
}

std::vector<std::pair<std::string, std::string>> connectionEnv(const PgConnection& pg) {
  auto env = pg.env;
  if (!pg.password.empty()) env.emplace_back("PGPASSWORD", pg.password);
  return env;
}

core::Result<std::string> sqlitePath(std::string_view url) {
  std::string path(url.substr(7));
  if (path.starts_with("//")) path.erase(0, 2);  // sqlite:///abs/path
  if (path.empty()) return core::invalidArgument("the sqlite: URL names no file", "usage");
  return path;
}

// The schema version in a pg_dump archive: the largest version in the
// schema_migrations data. kInvalidArgument when the archive is unreadable or
// holds no such table.
core::Result<int64_t> archiveSchemaVersion(const std::string& archive) {
  AUREO_ASSIGN_OR_RETURN(CommandOutput list, runCommand({{"pg_restore", "--list", archive}, {}}));
  if (list.exit_code != 0) {
    return core::invalidArgument(archive + " is not a pg_dump archive: " + firstLine(list.err));
  }
  AUREO_ASSIGN_OR_RETURN(CommandOutput data,
                         runCommand({{"pg_restore", "--data-only", "--table", "schema_migrations",
                                      "--file", "-", archive},
                                     {}}));
  if (data.exit_code != 0) return toolFailed("pg_restore", data);
  bool in_copy = false;
  bool found = false;
  int64_t version = 0;
  std::string_view rest = data.out;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    if (!in_copy) {
      if (line.starts_with("COPY ") && line.find("schema_migrations") != std::string_view::npos) {
        in_copy = found = true;
      }
      continue;
    }
    if (line == "\\.") {
      in_copy = false;
      continue;
    }
    int64_t v = 0;
    const std::string_view field = line.substr(0, line.find('\t'));
    const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
    if (ec != std::errc() || ptr != field.data() + field.size()) {
      return core::invalidArgument(archive + " has a malformed schema_migrations row");
    }
    version = std::max(version, v);
  }
  if (!found) {
    return core::invalidArgument(
        archive + " is not a backup of an Aureo VPN database (no schema_migrations)");
  }
  return version;
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

// The folder a new output file goes into; it must exist.
core::Result<fs::path> outputFolder(const std::string& output) {
  std::error_code ec;
  if (fs::is_directory(output, ec)) {
    return core::invalidArgument("output " + output + " is a directory; name a file");
  }
  const fs::path out(output);
  fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) {
    return core::notFound("output folder " + dir.string() + " does not exist");
  }
  return dir;
}

core::Result<BackupSummary> createPostgres(const std::string& url, const std::string& output) {
  AUREO_ASSIGN_OR_RETURN(PgConnection pg, parsePostgresUrl(url));
  AUREO_ASSIGN_OR_RETURN(fs::path dir, outputFolder(output));
  std::string temp = (dir / ("." + fs::path(output).filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    return core::unavailable("cannot create a file in " + dir.string() + ": " + errnoText(errno));
  }
  ::close(fd);
  struct Remove {
    std::string path;
    bool keep = false;
    ~Remove() {
      std::error_code ec;
      if (!keep) fs::remove(path, ec);
    }
  } remove{temp};

  AUREO_ASSIGN_OR_RETURN(CommandOutput dump, runCommand(pgDumpCommand(pg, temp)));
  if (dump.exit_code != 0) return toolFailed("pg_dump", dump);
  BackupSummary summary{"postgres", 0, 0};
  AUREO_ASSIGN_OR_RETURN(summary.schema_version, archiveSchemaVersion(temp));
  std::error_code ec;
  summary.bytes = static_cast<int64_t>(fs::file_size(temp, ec));
  AUREO_RETURN_IF_ERROR(syncPath(temp, O_RDONLY));
  if (::rename(temp.c_str(), output.c_str()) != 0) {
    return core::unavailable("cannot rename " + temp + " to " + output + ": " + errnoText(errno));
  }
  remove.keep = true;
  AUREO_RETURN_IF_ERROR(syncPath(dir.string(), O_RDONLY | O_DIRECTORY));
  return summary;
}

core::Result<BackupSummary> restorePostgres(const std::string& url, const std::string& input,
                                            bool force) {
  AUREO_ASSIGN_OR_RETURN(PgConnection pg, parsePostgresUrl(url));
  std::error_code ec;
  if (!fs::is_regular_file(input, ec)) {
    return core::notFound("backup file " + input + " does not exist");
  }
  BackupSummary summary{"postgres", 0, static_cast<int64_t>(fs::file_size(input, ec))};
  AUREO_ASSIGN_OR_RETURN(summary.schema_version, archiveSchemaVersion(input));
  if (summary.schema_version > store::latestSchemaVersion()) {
    return core::failedPrecondition(
        "backup " + input + " has schema version " + std::to_string(summary.schema_version) +
        ", newer than this binary's " + std::to_string(store::latestSchemaVersion()) +
        "; use the release that wrote it");
  }
  if (!force) {
    AUREO_ASSIGN_OR_RETURN(
        CommandOutput others,
        runCommand(psqlCommand(pg,
                               "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND pid <> pg_backend_pid() AND backend_type "
                               "= 'client backend'")));
    if (others.exit_code != 0) return toolFailed("psql", others);
    const std::string count = firstLine(others.out);
    if (count != "0") {
      return core::failedPrecondition(count + " other connection(s) are open on database " +
                                      pg.dbname +
                                      "; stop the servers using it first, or pass --force");
    }
  }
  // pg_restore --clean drops only what the archive holds: tables a newer
  // migration added would survive next to an older schema_migrations, and
  // the servers would then fail re-applying that migration.
  AUREO_ASSIGN_OR_RETURN(
      CommandOutput has_table,
      runCommand(psqlCommand(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL")));
  if (has_table.exit_code != 0) return toolFailed("psql", has_table);
  if (firstLine(has_table.out) == "t") {
    AUREO_ASSIGN_OR_RETURN(
        CommandOutput current,
        runCommand(psqlCommand(pg, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations")));
    if (current.exit_code != 0) return toolFailed("psql", current);
    const std::string now = firstLine(current.out);
    int64_t now_version = 0;
    std::from_chars(now.data(), now.data() + now.size(), now_version);
    if (now_version > summary.schema_version) {
      return core::failedPrecondition(
          "database " + pg.dbname + " has schema version " + now + ", newer than the backup's " +
          std::to_string(summary.schema_version) +
          "; restore into an empty database (drop and create it) instead");
    }
  }
  Command restore = pgRestoreCommand(pg, input);
  AUREO_ASSIGN_OR_RETURN(CommandOutput out, runCommand(restore));
  if (out.exit_code != 0) return toolFailed("pg_restore", out);
  AUREO_ASSIGN_OR_RETURN(
      CommandOutput version,
      runCommand(psqlCommand(pg, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations")));
  if (version.exit_code != 0) return toolFailed("psql", version);
  if (firstLine(version.out) != std::to_string(summary.schema_version)) {
    return core::Error{core::Code::kDataLoss,
                       "the restored database reports schema version " + firstLine(version.out) +
                           ", the backup " + std::to_string(summary.schema_version),
                       {}};
  }
  return summary;
}

}  // namespace

core::Result<PgConnection> parsePostgresUrl(std::string_view url) {
  if (!url.starts_with("postgres://") && !url.starts_with("postgresql://")) {
    return core::invalidArgument("not a postgres:// URL", "usage");
  }
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return core::invalidArgument("malformed database URL", "usage");
  const boost::urls::url_view& u = *parsed;
  PgConnection pg;
  pg.user = u.user();
  pg.password = u.password();
  pg.host = u.host();
  if (u.host_type() == boost::urls::host_type::ipv6) {
    pg.host = u.host_address();  // without the brackets
  }
  pg.port = u.port();
  std::string path = u.path();
  if (path.starts_with("/")) path.erase(0, 1);
  pg.dbname = path;
  for (const auto& param : u.params()) {
    const std::string key = param.key;
    if (key == "host") {
      pg.host = param.value;
    } else if (key == "port") {
      pg.port = param.value;
    } else if (key == "user") {
      pg.user = param.value;
    } else if (key == "dbname") {
      pg.dbname = param.value;
    } else if (key == "password") {
      pg.password = param.value;
    } else if (auto it = pgEnvNames().find(key); it != pgEnvNames().end()) {
      pg.env.emplace_back(it->second, param.value);
    } else {
      return core::invalidArgument("unsupported parameter '" + key + "' in the database URL",
                                   "usage");
    }
  }
  if (pg.dbname.empty() || pg.dbname.find('/') != std::string::npos) {
    return core::invalidArgument("the database URL names no database, e.g. postgres://host/aureo",
                                 "usage");
  }
  return pg;
}

Command pgDumpCommand(const PgConnection& pg, const std::string& output) {
  Command c{{"pg_dump", "--format=custom", "--file", output}, connectionEnv(pg)};
  auto args = connectionArgs(pg);
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  return c;
}

Command pgRestoreCommand(const PgConnection& pg, const std::string& input) {
  // One transaction: a restore that fails half way leaves the database as it
  // was. --no-owner: the objects belong to the restoring role, so a backup
  // restores into another cluster whose role names differ.
  Command c{{"pg_restore", "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
             "--no-owner"},
            connectionEnv(pg)};
  auto args = connectionArgs(pg);
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.argv.push_back(input);
  return c;
}

Command psqlCommand(const PgConnection& pg, const std::string& query) {
  Command c{{"psql", "--no-psqlrc", "--tuples-only", "--no-align", "--quiet", "--set",
             "ON_ERROR_STOP=1", "--command", query},
            connectionEnv(pg)};
  auto args = connectionArgs(pg);
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  return c;
}

core::Result<CommandOutput> runCommand(const Command& command) {
  if (command.argv.empty()) return core::invalidArgument("empty command");
  // The child's environment: ours, with the command's variables replacing
  // any of the same name.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [key, value] : command.env) replaced = replaced || key == name;
    if (!replaced) env_strings.emplace_back(entry);
  }
  for (const auto& [key, value] : command.env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = command.argv;
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  std::array<int, 2> out_pipe{-1, -1};
  std::array<int, 2> err_pipe{-1, -1};
  if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0 || ::pipe2(err_pipe.data(), O_CLOEXEC) != 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return core::unavailable(std::string("cannot create a pipe: ") + errnoText(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    if (rc == ENOENT) {
      return core::notFound(command.argv[0] +
                            " is not installed (the PostgreSQL client tools are needed)");
    }
    return core::unavailable("cannot start " + command.argv[0] + ": " + errnoText(rc));
  }

  CommandOutput result;
  std::array<pollfd, 2> fds{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open_fds = 2;
  std::array<char, 8192> buffer{};
  while (open_fds > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        sinks[i]->append(buffer.data(), static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const auto& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

core::Result<BackupSummary> createBackup(const std::string& url, const std::string& output) {
  if (url.starts_with("sqlite:")) {
    AUREO_ASSIGN_OR_RETURN(std::string path, sqlitePath(url));
    AUREO_ASSIGN_OR_RETURN(store::SqliteFileInfo info,
                           store::backupSqliteFile(path, output, kBusyTimeout));
    return BackupSummary{"sqlite", info.schema_version, info.bytes};
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return createPostgres(url, output);
  }
  return core::invalidArgument(
      "unsupported database URL; expected sqlite:/path/to/file.db or postgres://user@host/db",
      "usage");
}

core::Result<BackupSummary> restoreBackup(const std::string& url, const std::string& input,
                                          bool force) {
  if (url.starts_with("sqlite:")) {
    AUREO_ASSIGN_OR_RETURN(std::string path, sqlitePath(url));
    AUREO_ASSIGN_OR_RETURN(store::SqliteFileInfo info,
                           store::restoreSqliteFile(input, path, force, kBusyTimeout));
    return BackupSummary{"sqlite", info.schema_version, info.bytes};
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return restorePostgres(url, input, force);
  }
  return core::invalidArgument(
      "unsupported database URL; expected sqlite:/path/to/file.db or postgres://user@host/db",
      "usage");
}

}  // namespace aureo::cli
