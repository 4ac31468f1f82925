#include "core/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

extern char** environ;

namespace aureo::core {
namespace {

const ConfigOption* findOption(const ConfigSchema& schema, const std::string& key) {
  for (const auto& o : schema) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

std::optional<int64_t> parseInt(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> parseBool(std::string_view s) {
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return std::nullopt;
}

std::string_view typeName(ConfigType t) {
  switch (t) {
    case ConfigType::kString: return "a string";
    case ConfigType::kInt: return "an integer";
    case ConfigType::kBool: return "a boolean";
    case ConfigType::kDuration: return "a duration (e.g. 30s, 15m, 2h, 7d)";
  }
  return "a value";
}

// Checks a textual value against the option's type and validator.
std::optional<std::string> check(const ConfigOption& o, const std::string& v) {
  bool ok = true;
  switch (o.type) {
    case ConfigType::kString: break;
    case ConfigType::kInt: ok = parseInt(v).has_value(); break;
    case ConfigType::kBool: ok = parseBool(v).has_value(); break;
    case ConfigType::kDuration: ok = parseDuration(v).has_value(); break;
  }
  if (!ok) return "must be " + std::string(typeName(o.type)) + ", got \"" + v + "\"";
  if (o.validate) return o.validate(v);
  return std::nullopt;
}

Status flattenToml(const toml::table& table, const std::string& prefix, const ConfigSchema& schema,
                   const std::string& file, std::map<std::string, std::string>& out) {
  for (const auto& [k, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = node.as_table()) {
      AUREO_RETURN_IF_ERROR(flattenToml(*sub, key, schema, file, out));
      continue;
    }
    const ConfigOption* opt = findOption(schema, key);
    if (!opt) return invalidArgument("unknown key '" + key + "' in " + file, key);
    std::string text;
    if (const auto* s = node.as_string()) {
      text = s->get();
    } else if (const auto* i = node.as_integer()) {
      text = std::to_string(i->get());
    } else if (const auto* b = node.as_boolean()) {
      text = b->get() ? "true" : "false";
    } else {
      return invalidArgument(
          "key '" + key + "' in " + file + " must be " + std::string(typeName(opt->type)), key);
    }
    out[key] = std::move(text);
  }
  return okStatus();
}

}  // namespace

std::optional<std::chrono::seconds> parseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t mult = 1;
  switch (text.back()) {
    case 's':
      mult = 1;
      text.remove_suffix(1);
      break;
    case 'm':
      mult = 60;
      text.remove_suffix(1);
      break;
    case 'h':
      mult = 3600;
      text.remove_suffix(1);
      break;
    case 'd':
      mult = 86400;
      text.remove_suffix(1);
      break;
    default: break;
  }
  auto n = parseInt(text);
  if (!n || *n < 0 || *n > (int64_t{1} << 40)) return std::nullopt;
  return std::chrono::seconds{*n * mult};
}

std::string envNameFor(const std::string& key) {
  std::string out = "AUREO_";
  for (char c : key) {
    out.push_back(c == '.' || c == '-'
                      ? '_'
                      : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

const std::string& Config::getString(const std::string& key) const {
  return values_.at(key);
}
int64_t Config::getInt(const std::string& key) const {
  return parseInt(values_.at(key)).value_or(0);
}
bool Config::getBool(const std::string& key) const {
  return parseBool(values_.at(key)).value_or(false);
}
std::chrono::seconds Config::getDuration(const std::string& key) const {
  return parseDuration(values_.at(key)).value_or(std::chrono::seconds{0});
}

Result<Config> loadConfig(const ConfigSchema& schema, const ConfigSources& sources) {
  Config cfg;
  std::map<std::string, std::string> origin;
  for (const auto& o : schema) {
    cfg.values_[o.key] = o.default_value;
    origin[o.key] = "default";
  }
  if (!sources.file_path.empty()) {
    toml::table table;
    try {
      table = toml::parse_file(sources.file_path);
    } catch (const toml::parse_error& e) {
      std::ostringstream msg;
      msg << "cannot parse " << sources.file_path << ": " << e.description() << " at line "
          << e.source().begin.line;
      return invalidArgument(msg.str());
    }
    std::map<std::string, std::string> from_file;
    AUREO_RETURN_IF_ERROR(flattenToml(table, "", schema, sources.file_path, from_file));
    for (auto& [k, v] : from_file) {
      cfg.values_[k] = std::move(v);
      origin[k] = sources.file_path;
    }
  }
  for (const auto& o : schema) {
    const std::string env = envNameFor(o.key);
    if (auto it = sources.env.find(env); it != sources.env.end()) {
      cfg.values_[o.key] = it->second;
      origin[o.key] = "environment variable " + env;
    }
    if (!o.flag.empty()) {
      if (auto it = sources.flags.find(o.flag); it != sources.flags.end()) {
        cfg.values_[o.key] = it->second;
        origin[o.key] = "flag " + o.flag;
      }
    }
  }
  for (const auto& o : schema) {
    if (auto err = check(o, cfg.values_[o.key])) {
      return invalidArgument(
          "invalid value for '" + o.key + "' (from " + origin[o.key] + "): " + *err, o.key);
    }
  }
  return cfg;
}

Result<CommandLine> parseCommandLine(const ConfigSchema& schema, int argc,
                                     const char* const* argv) {
  CommandLine cl;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (!kv.starts_with("AUREO_")) continue;
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    cl.sources.env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      cl.help = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      cl.positional.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const bool is_config = name == "--config";
    const ConfigOption* opt = nullptr;
    if (!is_config) {
      auto it = std::find_if(schema.begin(), schema.end(),
                             [&](const ConfigOption& o) { return o.flag == name; });
      if (it == schema.end())
        return invalidArgument("unknown flag " + name + " (see --help)", name);
      opt = &*it;
    }
    if (!value) {
      if (opt && opt->type == ConfigType::kBool &&
          (i + 1 >= argc || std::string_view(argv[i + 1]).starts_with("--"))) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return invalidArgument("flag " + name + " needs a value", name);
      }
    }
    if (is_config) {
      cl.sources.file_path = *value;
    } else {
      cl.sources.flags[name] = *value;
    }
  }
  return cl;
}

std::string helpText(const std::string& program, const std::string& summary,
                     const ConfigSchema& schema) {
  std::ostringstream out;
  out << "Usage: " << program << " [--config FILE] [flags]\n\n" << summary << "\n\n";
  out << "Every setting can come from the TOML file, an environment variable, or a flag\n"
         "(flags win over the environment, which wins over the file).\n\n";
  out << "  --config FILE\n      TOML configuration file\n";
  for (const auto& o : schema) {
    out << "  ";
    if (!o.flag.empty()) out << o.flag << " VALUE  ";
    out << "[" << o.key << "] $" << envNameFor(o.key);
    if (!o.default_value.empty()) out << "  (default: " << o.default_value << ")";
    out << "\n      " << o.help << "\n";
  }
  out << "  -h, --help\n      Show this help\n";
  return out.str();
}

}  // namespace aureo::core
