// config generate: a wg-quick config or a self-contained .ovpn profile for the
// signed-in user, to a file or stdout (WireGuard also as a terminal QR code or
// a PNG; an .ovpn profile is too large for a QR code).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "cli/internal/context.h"
#include "cli/qr.h"
#include "cli/wg_quick.h"
#include "core/ids.h"
#include "crypto/x25519.h"

namespace aureo::cli {
namespace {

struct GenerateOptions {
  std::string node;
  std::string country;
  std::string city;
  std::string protocol = "wireguard";
  std::string output;
  bool qr = false;
  std::string qr_png;
  bool kill_switch = false;
  bool allow_lan = false;
};

// Configs carry a private key: owner-only, even when the file existed before.
core::Status writePrivateFile(const std::string& path, const std::string& data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return core::unavailable(
        fmt::format("cannot write {}: {}", path, std::system_category().message(errno)));
  if (::fchmod(fd, 0600) != 0) {
    const auto e = core::unavailable(
        fmt::format("cannot chmod {}: {}", path, std::system_category().message(errno)));
    ::close(fd);
    return e;
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const auto e = core::unavailable(
          fmt::format("cannot write {}: {}", path, std::system_category().message(errno)));
      ::close(fd);
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    return core::unavailable(
        fmt::format("cannot write {}: {}", path, std::system_category().message(errno)));
  }
  return {};
}

core::Status generate(Context& ctx, const GenerateOptions& o) {
  const bool wireguard = o.protocol == "wireguard";
  if (!wireguard && (o.kill_switch || o.allow_lan)) {
    return usageError("--kill-switch and --allow-lan apply to WireGuard configs");
  }
  if (!wireguard && (o.qr || !o.qr_png.empty())) {
    return usageError(
        "--qr and --qr-png apply to WireGuard configs (an .ovpn profile is too "
        "large for a QR code; use --output)");
  }
  if (o.allow_lan && !o.kill_switch) return usageError("--allow-lan needs --kill-switch");

  Json body{{"protocol", o.protocol}};
  if (!o.node.empty()) {
    std::string id = o.node;
    if (!core::isUuid(id)) {
      AUREO_ASSIGN_OR_RETURN(Json n, ctx.findNode(o.node));
      id = n.value("id", "");
    }
    body["node_id"] = id;
  }
  if (!o.country.empty()) body["country"] = o.country;
  if (!o.city.empty()) body["city"] = o.city;
  // The key pair is made here, so the private key never crosses the network.
  crypto::KeyPairBase64 keys;
  if (wireguard) {
    keys = crypto::generateX25519KeyPair();
    body["client_public_key"] = keys.public_key;
  }

  AUREO_ASSIGN_OR_RETURN(ApiClient * api, ctx.api());
  AUREO_ASSIGN_OR_RETURN(Json r, api->call("POST", "/api/v1/sessions", body));
  auto config_it = r.find("config");
  if (config_it == r.end() || !config_it->is_string() || config_it->get<std::string>().empty()) {
    return core::unavailable("the server's answer holds no config");
  }
  std::string config = config_it->get<std::string>();
  if (wireguard && !r.contains("private_key")) {
    AUREO_ASSIGN_OR_RETURN(config, setPrivateKey(config, keys.private_key));
  }
  if (o.kill_switch) {
    // Configs name the node by host name; the rules need its address.
    const auto public_ip =
        core::IpAddress::parse(r.value("node", Json::object()).value("public_ip", ""));
    AUREO_ASSIGN_OR_RETURN(config,
                           addKillSwitch(config, KillSwitchOptions{o.allow_lan, public_ip}));
  }

  if (!o.output.empty()) AUREO_RETURN_IF_ERROR(writePrivateFile(o.output, config));
  if (!o.qr_png.empty() || o.qr) {
    AUREO_ASSIGN_OR_RETURN(QrMatrix qr, encodeQr(config));
    if (!o.qr_png.empty()) {
      AUREO_ASSIGN_OR_RETURN(std::string png, renderQrPng(qr));
      AUREO_RETURN_IF_ERROR(writePrivateFile(o.qr_png, png));
    }
    if (o.qr && !ctx.json()) {
      ctx.out << renderQrTerminal(qr, TerminalQrOptions{2, ctx.env.stdout_is_tty});
    }
  }

  const Json session = r.value("session", Json::object());
  if (ctx.json()) {
    Json shown = r;
    shown["config"] = config;
    ctx.printJson(shown);
  } else if (!o.output.empty() || !o.qr_png.empty()) {
    for (const auto* file : {&o.output, &o.qr_png}) {
      if (!file->empty()) ctx.out << fmt::format("Wrote {} (mode 0600).\n", *file);
    }
    const Json node = r.value("node", Json::object());
    ctx.out << fmt::format("Session {} on node {} ({}), tunnel address {}.\n", text(session, "id"),
                           text(node, "name"), text(node, "country"), text(session, "tunnel_ip"));
  } else if (!o.qr) {
    ctx.out << config;
    if (!config.empty() && config.back() != '\n') ctx.out << '\n';
  }
  return {};
}

}  // namespace

void addConfigCommands(CLI::App& app, Context& ctx, Action& action) {
  auto* config = app.add_subcommand("config", "Client configurations for the stock VPN apps");
  config->require_subcommand(1);

  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = config->add_subcommand(
      "generate",
      "Open a session for your account and print its config (wg-quick, or .ovpn for OpenVPN)");
  auto* node = cmd->add_option("--node", o->node, "Node id or name (default: the best one)");
  cmd->add_option("--country", o->country, "Pick the best node in this country (ISO code)")
      ->excludes(node);
  cmd->add_option("--city", o->city, "Pick the best node in this city")->excludes(node);
  cmd->add_option("--protocol", o->protocol, "wireguard or openvpn")
      ->capture_default_str()
      ->check(CLI::IsMember({"wireguard", "openvpn"}));
  cmd->add_option("-o,--output", o->output, "Write the config to FILE (mode 0600), not stdout");
  cmd->add_flag("--qr", o->qr,
                "Print the config as a QR code for the mobile apps (instead of the text, unless "
                "--output is given)");
  cmd->add_option("--qr-png", o->qr_png, "Also write the QR code as a PNG image (mode 0600)");
  cmd->add_flag("--kill-switch", o->kill_switch,
                "Add nftables PostUp/PreDown rules: nothing leaves except through the tunnel, "
                "DNS only to the tunnel's servers");
  cmd->add_flag("--allow-lan", o->allow_lan,
                "With --kill-switch: keep the local network reachable");
  cmd->callback([&ctx, &action, o] { action = [&ctx, o] { return generate(ctx, *o); }; });
}

}  // namespace aureo::cli
