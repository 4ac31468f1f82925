// The deployment's OpenVPN PKI as the control plane holds it: one CA and one
// tls-crypt key, created on first use and kept in the store sealed under the
// master key. The CA key is opened only in this process, to sign the
// certificate requests nodes send; it never goes to a node or the API.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "crypto/secret_box.h"
#include "openvpn/pki.h"
#include "store/store.h"

namespace aureo::control {

// What clients and nodes may see: the CA certificate and the tls-crypt key.
struct OpenVpnPublicMaterial {
  std::string ca_pem;
  std::string tls_crypt_key;
};

struct SignedNodeCertificate {
  std::string cert_pem;
  core::SystemTime not_after{};
};

class OpenVpnAuthority {
 public:
  // Store names of the two sealed secrets.
  static constexpr const char* kCaSecret = "openvpn.ca";
  static constexpr const char* kTlsCryptSecret = "openvpn.tls_crypt";

  OpenVpnAuthority(store::Store& store, const crypto::MasterKey& master, const core::Clock& clock,
                   const core::Logger& log);

  // Loads the CA and tls-crypt key, creating and storing them the first
  // time (of two processes racing, the first insert wins and both use it).
  // kDataLoss when a stored secret does not open under this master key.
  // Safe from any thread; cached after the first success.
  core::Result<OpenVpnPublicMaterial> material();

  // Signs a node's CSR: CN = the node id, subjectAltNames = its hostname or
  // public address. kInvalidArgument (field csr) for a bad request.
  core::Result<SignedNodeCertificate> signNode(const store::VpnNode& node,
                                               std::string_view csr_pem);

  // The name clients check the server certificate against.
  static std::string serverName(const store::VpnNode& node) { return node.id; }

 private:
  struct Loaded {
    openvpn::CertificateAuthority ca;
    std::string tls_crypt_key;
  };
  core::Result<Loaded> load();

  store::Store& store_;
  crypto::MasterKey master_;
  const core::Clock& clock_;
  const core::Logger& log_;
  std::mutex mutex_;
  std::optional<Loaded> loaded_;  // guarded by mutex_
};

}  // namespace aureo::control
