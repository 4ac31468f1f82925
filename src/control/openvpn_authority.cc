#include "control/openvpn_authority.h"

#include <algorithm>

#include "core/ip.h"

namespace aureo::control {
namespace {

constexpr std::string_view kCaAssociated = "openvpn-ca";
constexpr std::string_view kTlsCryptAssociated = "openvpn-tls-crypt";

// Reads a secret, or stores `fresh` under that name when there is none. Of
// two writers the second gets kAlreadyExists and reads the first's value.
template <typename MakeFresh>
core::Result<std::string> loadOrInsert(store::SecretRepository& secrets, const std::string& name,
                                       core::SystemTime now, MakeFresh make_fresh) {
  auto existing = secrets.get(name);
  if (existing.ok()) return existing->value;
  if (existing.error().code != core::Code::kNotFound) return existing.error();
  AUREO_ASSIGN_OR_RETURN(std::string fresh, make_fresh());
  auto st = secrets.insert({name, fresh, now});
  if (st.ok()) return fresh;
  if (st.error().code != core::Code::kAlreadyExists) return st.error();
  AUREO_ASSIGN_OR_RETURN(auto winner, secrets.get(name));
  return winner.value;
}

core::Error cannotOpen(const std::string& what, const core::Error& e) {
  return core::Error{
      core::Code::kDataLoss,
      "the stored " + what +
          " does not open with this master key (was secrets.master_key changed?): " + e.message,
      {}};
}

}  // namespace

OpenVpnAuthority::OpenVpnAuthority(store::Store& store, const crypto::MasterKey& master,
                                   const core::Clock& clock, const core::Logger& log)
    : store_(store), master_(master), clock_(clock), log_(log) {}

core::Result<OpenVpnAuthority::Loaded> OpenVpnAuthority::load() {
  std::lock_guard lock(mutex_);
  if (loaded_) return *loaded_;
  const auto now = clock_.now();
  bool created = false;
  AUREO_ASSIGN_OR_RETURN(
      std::string sealed_ca,
      loadOrInsert(store_.secrets(), kCaSecret, now, [&]() -> core::Result<std::string> {
        AUREO_ASSIGN_OR_RETURN(auto ca, openvpn::createCertificateAuthority({}, now));
        created = true;
        return openvpn::sealCertificateAuthority(ca, master_, kCaAssociated);
      }));
  auto ca = openvpn::openCertificateAuthority(sealed_ca, master_, kCaAssociated);
  if (!ca.ok()) return cannotOpen("OpenVPN CA", ca.error());
  AUREO_ASSIGN_OR_RETURN(
      std::string sealed_key,
      loadOrInsert(store_.secrets(), kTlsCryptSecret, now, [&]() -> core::Result<std::string> {
        return crypto::seal(master_, openvpn::generateTlsCryptKey(), kTlsCryptAssociated);
      }));
  auto key = crypto::open(master_, sealed_key, kTlsCryptAssociated);
  if (!key.ok()) return cannotOpen("OpenVPN tls-crypt key", key.error());
  if (auto st = openvpn::validateTlsCryptKey(*key); !st.ok())
    return cannotOpen("tls-crypt key", st.error());
  if (created) log_.info("OpenVPN CA created and sealed in the database");
  loaded_ = Loaded{std::move(*ca), std::move(*key)};
  return *loaded_;
}

core::Result<OpenVpnPublicMaterial> OpenVpnAuthority::material() {
  AUREO_ASSIGN_OR_RETURN(auto loaded, load());
  return OpenVpnPublicMaterial{loaded.ca.identity.cert_pem, loaded.tls_crypt_key};
}

core::Result<SignedNodeCertificate> OpenVpnAuthority::signNode(const store::VpnNode& node,
                                                               std::string_view csr_pem) {
  AUREO_ASSIGN_OR_RETURN(auto loaded, load());
  openvpn::ServerCertOptions options;
  options.common_name = serverName(node);
  for (const std::string* host : {&node.hostname, &node.public_ip}) {
    if (host->empty()) continue;
    if (auto ip = core::IpAddress::parse(*host)) {
      if (std::find(options.ip_addresses.begin(), options.ip_addresses.end(), *ip) ==
          options.ip_addresses.end()) {
        options.ip_addresses.push_back(*ip);
      }
    } else if (std::find(options.dns_names.begin(), options.dns_names.end(), *host) ==
               options.dns_names.end()) {
      options.dns_names.push_back(*host);
    }
  }
  const auto now = clock_.now();
  auto cert = openvpn::signServerRequest(loaded.ca, csr_pem, options, now);
  if (!cert.ok() && cert.error().field != "csr" && !options.dns_names.empty()) {
    // A hostname that is no valid DNS name: sign without it, the CN suffices.
    options.dns_names.clear();
    cert = openvpn::signServerRequest(loaded.ca, csr_pem, options, now);
  }
  if (!cert.ok()) return cert.error();
  AUREO_ASSIGN_OR_RETURN(auto info, openvpn::inspectCertificate(*cert));
  log_.info("OpenVPN server certificate issued",
            {{"node_id", node.id}, {"serial", info.serial_hex}});
  return SignedNodeCertificate{std::move(*cert), info.not_after};
}

}  // namespace aureo::control
