#include "cli/settings.h"

#include <fmt/format.h>
#include <toml++/toml.h>

namespace aureo::cli {

core::Result<FileSettings> loadSettings(const std::filesystem::path& file) {
  FileSettings out;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return out;
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return core::invalidArgument(
        fmt::format("{}:{}: {}", file.string(), e.source().begin.line, e.description()));
  }
  for (const auto& [toml_key, value] : table) {
    const std::string key(toml_key.str());
    const auto line = value.source().begin.line;
    auto bad = [&](std::string_view what) {
      return core::invalidArgument(
          fmt::format("{}:{}: '{}' must be {}", file.string(), line, key, what));
    };
    if (key == "server" || key == "ca_file") {
      const auto* s = value.as_string();
      if (s == nullptr) return bad("a string");
      (key == "server" ? out.server : out.ca_file) = s->get();
    } else if (key == "insecure") {
      const auto* b = value.as_boolean();
      if (b == nullptr) return bad("true or false");
      out.insecure = b->get();
    } else {
      return core::invalidArgument(fmt::format(
          "{}:{}: unknown key '{}' (known: server, ca_file, insecure)", file.string(), line, key));
    }
  }
  return out;
}

core::Result<std::filesystem::path> configDir(const std::string& xdg_config_home,
                                              const std::string& home) {
  // XDG says relative values are to be ignored.
  if (!xdg_config_home.empty() && xdg_config_home.front() == '/') {
    return std::filesystem::path(xdg_config_home) / "aureo-vpn";
  }
  if (home.empty()) {
    return core::failedPrecondition("neither HOME nor XDG_CONFIG_HOME is set");
  }
  return std::filesystem::path(home) / ".config" / "aureo-vpn";
}

core::Result<std::string> normalizeServerUrl(const std::string& url) {
  std::string out = url;
  while (!out.empty() && out.back() == '/') out.pop_back();
  const auto scheme_end = out.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : out.substr(0, scheme_end);
  if ((scheme != "http" && scheme != "https") || out.size() <= scheme_end + 3) {
    return core::invalidArgument(
        fmt::format("server URL '{}' must look like https://host[:port]", url), "server");
  }
  return out;
}

core::Result<std::string> resolveServer(const std::string& flag, const std::string& env,
                                        const FileSettings& file, const std::string& login_server) {
  for (const std::string* s : {&flag, &env, &file.server, &login_server}) {
    if (!s->empty()) return normalizeServerUrl(*s);
  }
  return core::failedPrecondition(
      "no server configured: pass --server URL, set AUREO_URL, or put server = \"URL\" in "
      "~/.config/aureo-vpn/config.toml");
}

}  // namespace aureo::cli
