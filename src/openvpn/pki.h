// The OpenVPN PKI of one deployment: a CA, one server certificate per node and
// the tls-crypt static key, all generated with OpenSSL 3.
//
// Keys are EC P-256 and signatures ECDSA with SHA-256: OpenVPN 2.6 on OpenSSL 3,
// OpenVPN Connect and older 2.4/2.5 clients all accept them, which is not true
// of Ed25519. Everything crosses this API as PEM text, so callers never touch
// OpenSSL types. Clients carry no certificate (the server runs with
// `verify-client-cert none` and authenticates them by username/password), so
// only the CA and server certificates exist.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/ip.h"
#include "core/result.h"
#include "crypto/secret_box.h"

namespace aureo::openvpn {

inline constexpr std::chrono::seconds kCaLifetime{std::chrono::hours{24 * 3650}};
inline constexpr std::chrono::seconds kServerCertLifetime{std::chrono::hours{24 * 365}};
inline constexpr std::chrono::seconds kRenewalMargin{std::chrono::hours{24 * 30}};
// notBefore is backdated by this much so a client whose clock runs a little
// slow still accepts a certificate issued a moment ago.
inline constexpr std::chrono::seconds kBackdate{std::chrono::hours{1}};

// A certificate and its private key (PKCS#8 "PRIVATE KEY" PEM, unencrypted:
// it lives in memory and in the daemon's 0600 config only).
struct CertifiedKey {
  std::string cert_pem;
  std::string key_pem;
};

// The deployment's CA. Its key never goes to disk unsealed: store it with
// sealCertificateAuthority().
struct CertificateAuthority {
  CertifiedKey identity;
};

struct CaOptions {
  std::string common_name = "Aureo VPN CA";
  std::chrono::seconds lifetime = kCaLifetime;
};

struct ServerCertOptions {
  std::string common_name;                    // e.g. the node id or its hostname
  std::vector<std::string> dns_names;         // subjectAltName DNS entries
  std::vector<core::IpAddress> ip_addresses;  // subjectAltName IP entries
  std::chrono::seconds lifetime = kServerCertLifetime;
};

// Generates a new self-signed CA (basicConstraints CA:TRUE pathlen:0,
// keyUsage keyCertSign+cRLSign) valid from now - kBackdate for `lifetime`.
core::Result<CertificateAuthority> createCertificateAuthority(const CaOptions& options,
                                                              core::SystemTime now);

// Checks that both PEMs parse, that the key matches the certificate and that
// the certificate is a CA. Use it on anything loaded from storage or an admin.
core::Result<CertificateAuthority> importCertificateAuthority(std::string_view cert_pem,
                                                              std::string_view key_pem);

// Issues a server certificate with a fresh P-256 key: keyUsage
// digitalSignature+keyAgreement (critical), extendedKeyUsage serverAuth, the
// subjectAltNames given, so clients can use `remote-cert-tls server` and
// `verify-x509-name`. The CN and SAN entries are validated.
core::Result<CertifiedKey> issueServerCertificate(const CertificateAuthority& ca,
                                                  const ServerCertOptions& options,
                                                  core::SystemTime now);

// A server key made where it will be used (the node) and the certificate
// signing request for it: only the CSR travels, the key stays put.
struct ServerKeyRequest {
  std::string key_pem;  // PKCS#8, unencrypted
  std::string csr_pem;
};

// A fresh P-256 key and a CSR for it signed by that key, with `common_name`
// as its subject.
core::Result<ServerKeyRequest> createServerKeyRequest(std::string_view common_name);

// Issues a server certificate (the same profile as issueServerCertificate)
// for the public key in `csr_pem`. The CSR's self-signature must verify and
// its key must be EC P-256; the subject and subjectAltNames come from
// `options` only, never from the CSR, so a node cannot ask for a name it was
// not given. kInvalidArgument (field "csr") for a bad request.
core::Result<std::string> signServerRequest(const CertificateAuthority& ca,
                                            std::string_view csr_pem,
                                            const ServerCertOptions& options, core::SystemTime now);

struct CertificateInfo {
  std::string subject_common_name;
  std::string issuer_common_name;
  std::string serial_hex;  // lowercase, no separators
  core::SystemTime not_before;
  core::SystemTime not_after;
  bool is_ca = false;
  bool has_server_auth_eku = false;
  bool has_key_usage = false;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

core::Result<CertificateInfo> inspectCertificate(std::string_view cert_pem);

// True when the certificate expires within `margin` of `now` (or already has).
core::Result<bool> needsRenewal(std::string_view cert_pem, core::SystemTime now,
                                std::chrono::seconds margin = kRenewalMargin);

// Verifies `cert_pem` against `ca_pem` at time `at` with X509_verify_cert and
// the TLS-server purpose (so the EKU and key usage are checked as a client
// with `remote-cert-tls server` would). kPermissionDenied on failure.
core::Status verifyServerCertificate(std::string_view cert_pem, std::string_view ca_pem,
                                     core::SystemTime at);

// A 2048-bit OpenVPN static key in the "OpenVPN Static key V1" format, as
// `openvpn --genkey tls-crypt` writes it: 16 lines of 32 hex digits.
std::string generateTlsCryptKey();
// Accepts exactly that format (comment lines before the block are allowed).
core::Status validateTlsCryptKey(std::string_view text);

// Serializes the CA (certificate and key) and seals it with XChaCha20-Poly1305
// under `master`. `associated` binds the blob to where it is stored (e.g.
// "openvpn-ca:<deployment id>") so it cannot be swapped with another secret.
std::string sealCertificateAuthority(const CertificateAuthority& ca,
                                     const crypto::MasterKey& master, std::string_view associated);
// The inverse: fails with the secret box's error for a wrong key, tampered blob
// or wrong associated data, and with kDataLoss when the content is not a CA.
core::Result<CertificateAuthority> openCertificateAuthority(std::string_view sealed,
                                                            const crypto::MasterKey& master,
                                                            std::string_view associated);

}  // namespace aureo::openvpn
