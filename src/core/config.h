// Configuration: a schema of options, each settable (lowest to highest
// precedence) by its default, a TOML file (--config FILE), an AUREO_*
// environment variable, and optionally a command-line flag. Everything is
// validated at start-up and an error names the bad key and where it came from.
//
// A key "database.url" is the TOML entry `url` under `[database]`, the
// environment variable AUREO_DATABASE_URL, and whatever flag the option names.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace aureo::core {

enum class ConfigType { kString, kInt, kBool, kDuration };

struct ConfigOption {
  std::string key;
  ConfigType type = ConfigType::kString;
  std::string default_value;  // textual, parsed like any other source
  std::string help;
  std::string flag;  // e.g. "--listen"; empty when there is no flag
  // Extra check on the textual value; returns an error message or nullopt.
  std::function<std::optional<std::string>(const std::string&)> validate;
};

using ConfigSchema = std::vector<ConfigOption>;

class Config {
 public:
  [[nodiscard]] const std::string& getString(const std::string& key) const;
  [[nodiscard]] int64_t getInt(const std::string& key) const;
  [[nodiscard]] bool getBool(const std::string& key) const;
  [[nodiscard]] std::chrono::seconds getDuration(const std::string& key) const;
  [[nodiscard]] bool has(const std::string& key) const { return values_.count(key) != 0; }
  // Overrides a value after loading (used by apps to derive settings).
  void set(const std::string& key, std::string value) { values_[key] = std::move(value); }

 private:
  friend Result<Config> loadConfig(const ConfigSchema&, const struct ConfigSources&);
  std::map<std::string, std::string> values_;
};

struct ConfigSources {
  std::string file_path;                     // empty: no file
  std::map<std::string, std::string> env;    // the process environment (AUREO_* used)
  std::map<std::string, std::string> flags;  // flag name ("--listen") -> value
};

Result<Config> loadConfig(const ConfigSchema& schema, const ConfigSources& sources);

// "90", "90s", "15m", "2h", "7d" -> seconds.
std::optional<std::chrono::seconds> parseDuration(std::string_view text);

// The environment variable for a key: "database.url" -> "AUREO_DATABASE_URL".
std::string envNameFor(const std::string& key);

struct CommandLine {
  ConfigSources sources;
  bool help = false;
  std::vector<std::string> positional;
};

// Parses "--flag value", "--flag=value", "--config FILE", "-h"/"--help".
// Flags not in the schema are an error. Reads the environment via environ.
Result<CommandLine> parseCommandLine(const ConfigSchema& schema, int argc, const char* const* argv);

// A --help text listing every option with its flag, env variable and default.
std::string helpText(const std::string& program, const std::string& summary,
                     const ConfigSchema& schema);

}  // namespace aureo::core
