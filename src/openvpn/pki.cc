#include "openvpn/pki.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>

#include "core/ids.h"
#include "crypto/encoding.h"

namespace aureo::openvpn {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using AsnTimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>>;

constexpr std::string_view kBundleMagic = "aureo-openvpn-ca-v1\n";
constexpr std::string_view kStaticKeyBegin = "-----BEGIN OpenVPN Static key V1-----";
constexpr std::string_view kStaticKeyEnd = "-----END OpenVPN Static key V1-----";
constexpr size_t kStaticKeyBytes = 256;
constexpr size_t kStaticKeyLineBytes = 16;

// Drains OpenSSL's error queue into one readable string.
std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

core::Error sslError(std::string_view what) {
  return core::internalError(std::string(what) + ": " + opensslErrors());
}

time_t toTimeT(core::SystemTime t) {
  return static_cast<time_t>(core::unixSeconds(t));
}

core::Result<PkeyPtr> generateP256Key() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") != 1) {
    return sslError("EC key generation setup");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) != 1) return sslError("EC key generation");
  return PkeyPtr(raw);
}

core::Result<std::string> bioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0 || data == nullptr) return sslError("reading memory BIO");
  return std::string(data, static_cast<size_t>(len));
}

core::Result<std::string> certToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return sslError("writing certificate");
  return bioToString(bio.get());
}

core::Result<std::string> keyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return sslError("writing private key");
  }
  return bioToString(bio.get());
}

BioPtr readOnlyBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

core::Result<X509Ptr> certFromPem(std::string_view pem) {
  if (pem.size() > (1u << 20)) return core::invalidArgument("certificate PEM too large");
  BioPtr bio = readOnlyBio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    ERR_clear_error();
    return core::invalidArgument("not a PEM certificate");
  }
  return cert;
}

core::Result<PkeyPtr> keyFromPem(std::string_view pem) {
  if (pem.size() > (1u << 20)) return core::invalidArgument("private key PEM too large");
  BioPtr bio = readOnlyBio(pem);
  // A null password callback with an empty passphrase makes an encrypted PEM
  // fail instead of prompting on the terminal.
  char empty[] = "";
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, empty) : nullptr);
  if (!key) {
    ERR_clear_error();
    return core::invalidArgument("not an unencrypted PEM private key");
  }
  return key;
}

// Common names go into the subject and into logs; keep them printable ASCII.
core::Status validateCommonName(std::string_view cn) {
  if (cn.empty() || cn.size() > 64) {
    return core::invalidArgument("common name must be 1..64 characters", "common_name");
  }
  for (char c : cn) {
    if (c < 0x20 || c > 0x7e || c == '/' || c == ',' || c == '"' || c == '\\') {
      return core::invalidArgument("common name has a forbidden character", "common_name");
    }
  }
  return core::okStatus();
}

core::Status validateDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return core::invalidArgument("DNS name must be 1..253 characters", "dns_names");
  }
  size_t label = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (label == 0) return core::invalidArgument("DNS name has an empty label", "dns_names");
      label = 0;
      continue;
    }
    const bool wildcard = c == '*' && i == 0 && name.size() > 1 && name[1] == '.';
    if (!wildcard && !std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
      return core::invalidArgument("DNS name has a forbidden character", "dns_names");
    }
    if (++label > 63) return core::invalidArgument("DNS label too long", "dns_names");
  }
  if (label == 0) return core::invalidArgument("DNS name ends with a dot", "dns_names");
  return core::okStatus();
}

core::Status setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  core::randomBytes(bytes, sizeof bytes);
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x40;  // and always 16 bytes long
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return sslError("setting serial");
  }
  return core::okStatus();
}

core::Status setCommonName(X509_NAME* name, std::string_view cn) {
  const std::string copy(cn);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(copy.c_str()), -1, -1,
                                 0) != 1) {
    return sslError("setting common name");
  }
  return core::okStatus();
}

core::Status addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return sslError("adding extension");
  return core::okStatus();
}

// Fills in what every certificate here shares: version, serial, validity,
// subject, issuer and public key.
core::Result<X509Ptr> newCertificate(std::string_view cn, X509* issuer, EVP_PKEY* subject_key,
                                     core::SystemTime now, std::chrono::seconds lifetime) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return sslError("creating certificate");
  }
  AUREO_RETURN_IF_ERROR(setRandomSerial(cert.get()));
  const time_t start = toTimeT(now - kBackdate);
  const time_t end = toTimeT(now + lifetime);
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), start) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), end) == nullptr) {
    return sslError("setting validity");
  }
  AUREO_RETURN_IF_ERROR(setCommonName(X509_get_subject_name(cert.get()), cn));
  X509_NAME* issuer_name =
      issuer != nullptr ? X509_get_subject_name(issuer) : X509_get_subject_name(cert.get());
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return sslError("setting issuer or key");
  }
  return cert;
}

core::Status sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) return sslError("signing certificate");
  return core::okStatus();
}

core::Result<core::SystemTime> asnTimeToSystem(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return sslError("reading certificate time");
  return core::fromUnixSeconds(static_cast<int64_t>(timegm(&tm)));
}

std::string commonNameOf(const X509_NAME* name) {
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

void wipe(std::string& s) {
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

core::Result<CertificateAuthority> createCertificateAuthority(const CaOptions& options,
                                                              core::SystemTime now) {
  AUREO_RETURN_IF_ERROR(validateCommonName(options.common_name));
  if (options.lifetime <= std::chrono::seconds{0}) {
    return core::invalidArgument("lifetime must be positive", "lifetime");
  }
  AUREO_ASSIGN_OR_RETURN(PkeyPtr key, generateP256Key());
  AUREO_ASSIGN_OR_RETURN(
      X509Ptr cert, newCertificate(options.common_name, nullptr, key.get(), now, options.lifetime));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  AUREO_RETURN_IF_ERROR(
      addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  AUREO_RETURN_IF_ERROR(
      addExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  AUREO_RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  AUREO_RETURN_IF_ERROR(sign(cert.get(), key.get()));

  CertificateAuthority ca;
  AUREO_ASSIGN_OR_RETURN(ca.identity.cert_pem, certToPem(cert.get()));
  AUREO_ASSIGN_OR_RETURN(ca.identity.key_pem, keyToPem(key.get()));
  return ca;
}

core::Result<CertificateAuthority> importCertificateAuthority(std::string_view cert_pem,
                                                              std::string_view key_pem) {
  AUREO_ASSIGN_OR_RETURN(X509Ptr cert, certFromPem(cert_pem));
  AUREO_ASSIGN_OR_RETURN(PkeyPtr key, keyFromPem(key_pem));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return core::invalidArgument("the private key does not match the CA certificate");
  }
  if (X509_check_ca(cert.get()) == 0) {
    return core::invalidArgument("the certificate is not a CA certificate");
  }
  // Re-encode so what is kept is canonical PEM with nothing around it.
  CertificateAuthority ca;
  AUREO_ASSIGN_OR_RETURN(ca.identity.cert_pem, certToPem(cert.get()));
  AUREO_ASSIGN_OR_RETURN(ca.identity.key_pem, keyToPem(key.get()));
  return ca;
}

namespace {

// Builds and signs a server certificate for `key` (only its public half is
// used) under the CA.
core::Result<X509Ptr> issueForKey(const CertificateAuthority& ca, const ServerCertOptions& options,
                                  EVP_PKEY* key, core::SystemTime now) {
  AUREO_RETURN_IF_ERROR(validateCommonName(options.common_name));
  for (const auto& name : options.dns_names) AUREO_RETURN_IF_ERROR(validateDnsName(name));
  if (options.lifetime <= std::chrono::seconds{0}) {
    return core::invalidArgument("lifetime must be positive", "lifetime");
  }
  AUREO_ASSIGN_OR_RETURN(X509Ptr ca_cert, certFromPem(ca.identity.cert_pem));
  AUREO_ASSIGN_OR_RETURN(PkeyPtr ca_key, keyFromPem(ca.identity.key_pem));
  AUREO_ASSIGN_OR_RETURN(
      X509Ptr cert, newCertificate(options.common_name, ca_cert.get(), key, now, options.lifetime));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca_cert.get(), cert.get(), nullptr, nullptr, 0);
  AUREO_RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  AUREO_RETURN_IF_ERROR(
      addExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyAgreement"));
  AUREO_RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth"));
  AUREO_RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  AUREO_RETURN_IF_ERROR(
      addExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));

  // The names were validated above, so they cannot smuggle extra entries
  // into this comma-separated list.
  std::string san;
  for (const auto& name : options.dns_names) {
    if (!san.empty()) san += ',';
    san += "DNS:" + name;
  }
  for (const auto& ip : options.ip_addresses) {
    if (!san.empty()) san += ',';
    san += "IP:" + ip.toString();
  }
  if (!san.empty()) {
    AUREO_RETURN_IF_ERROR(addExtension(cert.get(), &ctx, NID_subject_alt_name, san.c_str()));
  }
  AUREO_RETURN_IF_ERROR(sign(cert.get(), ca_key.get()));
  return cert;
}

using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;

core::Error badCsr(std::string message) {
  ERR_clear_error();
  return core::invalidArgument(std::move(message), "csr");
}

}  // namespace

core::Result<CertifiedKey> issueServerCertificate(const CertificateAuthority& ca,
                                                  const ServerCertOptions& options,
                                                  core::SystemTime now) {
  AUREO_ASSIGN_OR_RETURN(PkeyPtr key, generateP256Key());
  AUREO_ASSIGN_OR_RETURN(X509Ptr cert, issueForKey(ca, options, key.get(), now));
  CertifiedKey out;
  AUREO_ASSIGN_OR_RETURN(out.cert_pem, certToPem(cert.get()));
  AUREO_ASSIGN_OR_RETURN(out.key_pem, keyToPem(key.get()));
  return out;
}

core::Result<ServerKeyRequest> createServerKeyRequest(std::string_view common_name) {
  AUREO_RETURN_IF_ERROR(validateCommonName(common_name));
  AUREO_ASSIGN_OR_RETURN(PkeyPtr key, generateP256Key());
  ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1) return sslError("creating CSR");
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  AUREO_RETURN_IF_ERROR(setCommonName(name, common_name));
  if (X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return sslError("signing CSR");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) return sslError("writing CSR");
  ServerKeyRequest out;
  AUREO_ASSIGN_OR_RETURN(out.csr_pem, bioToString(bio.get()));
  AUREO_ASSIGN_OR_RETURN(out.key_pem, keyToPem(key.get()));
  return out;
}

core::Result<std::string> signServerRequest(const CertificateAuthority& ca,
                                            std::string_view csr_pem,
                                            const ServerCertOptions& options,
                                            core::SystemTime now) {
  if (csr_pem.empty() || csr_pem.size() > size_t{16} * 1024)
    return badCsr("csr must be 1..16384 bytes");
  BioPtr bio = readOnlyBio(csr_pem);
  ReqPtr req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req) return badCsr("csr is not a PEM certificate request");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) return badCsr("csr carries no public key");
  if (X509_REQ_verify(req.get(), key) != 1) return badCsr("csr signature does not verify");
  char group[64] = {};
  size_t group_len = 0;
  if (!EVP_PKEY_is_a(key, "EC") ||
      EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &group_len) != 1 ||
      std::string_view(group, group_len) != "prime256v1") {
    return badCsr("csr key must be EC P-256");
  }
  AUREO_ASSIGN_OR_RETURN(X509Ptr cert, issueForKey(ca, options, key, now));
  return certToPem(cert.get());
}

core::Result<CertificateInfo> inspectCertificate(std::string_view cert_pem) {
  AUREO_ASSIGN_OR_RETURN(X509Ptr cert, certFromPem(cert_pem));
  CertificateInfo info;
  info.subject_common_name = commonNameOf(X509_get_subject_name(cert.get()));
  info.issuer_common_name = commonNameOf(X509_get_issuer_name(cert.get()));
  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (!serial) return sslError("reading serial");
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return sslError("reading serial");
  info.serial_hex = hex;
  OPENSSL_free(hex);
  std::transform(
      info.serial_hex.begin(), info.serial_hex.end(), info.serial_hex.begin(),
      [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  AUREO_ASSIGN_OR_RETURN(info.not_before, asnTimeToSystem(X509_get0_notBefore(cert.get())));
  AUREO_ASSIGN_OR_RETURN(info.not_after, asnTimeToSystem(X509_get0_notAfter(cert.get())));
  const uint32_t flags = X509_get_extension_flags(cert.get());
  info.is_ca = (flags & EXFLAG_CA) != 0;
  info.has_key_usage = (flags & EXFLAG_KUSAGE) != 0;
  info.has_server_auth_eku =
      (flags & EXFLAG_XKUSAGE) != 0 && (X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);

  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<size_t>(ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        const int len = ASN1_STRING_length(s);
        const unsigned char* p = ASN1_STRING_get0_data(s);
        if (len == 4 || len == 16) {
          const auto ip = core::IpAddress::fromBytes(
              len == 4 ? core::IpAddress::Family::kV4 : core::IpAddress::Family::kV6, p);
          info.ip_addresses.push_back(ip.toString());
        }
      }
    }
  }
  return info;
}

core::Result<bool> needsRenewal(std::string_view cert_pem, core::SystemTime now,
                                std::chrono::seconds margin) {
  AUREO_ASSIGN_OR_RETURN(X509Ptr cert, certFromPem(cert_pem));
  const time_t deadline = toTimeT(now + margin);
  // -1: notAfter is before the deadline, 0: equal, 1: after.
  const int cmp = X509_cmp_time(X509_get0_notAfter(cert.get()), const_cast<time_t*>(&deadline));
  if (cmp == 0) return sslError("comparing certificate expiry");
  return cmp < 0;
}

core::Status verifyServerCertificate(std::string_view cert_pem, std::string_view ca_pem,
                                     core::SystemTime at) {
  AUREO_ASSIGN_OR_RETURN(X509Ptr cert, certFromPem(cert_pem));
  AUREO_ASSIGN_OR_RETURN(X509Ptr ca, certFromPem(ca_pem));
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1 ||
      X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER) != 1) {
    return sslError("setting up verification");
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), toTimeT(at));
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return core::permissionDenied(std::string("certificate does not verify: ") +
                                  X509_verify_cert_error_string(err));
  }
  return core::okStatus();
}

std::string generateTlsCryptKey() {
  std::string key(kStaticKeyBytes, '\0');
  core::randomBytes(key.data(), key.size());
  std::string out = "#\n# 2048 bit OpenVPN static key\n#\n";
  out += kStaticKeyBegin;
  out += '\n';
  for (size_t i = 0; i < kStaticKeyBytes; i += kStaticKeyLineBytes) {
    out += crypto::hexEncode(std::string_view(key).substr(i, kStaticKeyLineBytes));
    out += '\n';
  }
  out += kStaticKeyEnd;
  out += '\n';
  wipe(key);
  return out;
}

core::Status validateTlsCryptKey(std::string_view text) {
  const auto bad = [](std::string why) {
    return core::invalidArgument("tls-crypt key: " + std::move(why), "tls_crypt_key");
  };
  if (text.size() > 4096) return bad("too long");
  enum { kPreamble, kBody, kDone } state = kPreamble;
  size_t body_lines = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    switch (state) {
      case kPreamble:
        if (line == kStaticKeyBegin) {
          state = kBody;
        } else if (!line.empty() && line[0] != '#') {
          return bad("unexpected text before the key");
        }
        break;
      case kBody:
        if (line == kStaticKeyEnd) {
          state = kDone;
          break;
        }
        if (line.size() != 2 * kStaticKeyLineBytes || !crypto::hexDecode(line)) {
          return bad("body lines must be 32 hex digits");
        }
        ++body_lines;
        break;
      case kDone:
        if (!line.empty()) return bad("text after the key");
        break;
    }
  }
  if (state != kDone) return bad("missing BEGIN/END lines");
  if (body_lines != kStaticKeyBytes / kStaticKeyLineBytes) return bad("must hold 2048 bits");
  return core::okStatus();
}

std::string sealCertificateAuthority(const CertificateAuthority& ca,
                                     const crypto::MasterKey& master, std::string_view associated) {
  std::string plain(kBundleMagic);
  plain += ca.identity.cert_pem;
  plain += ca.identity.key_pem;
  std::string sealed = crypto::seal(master, plain, associated);
  wipe(plain);
  return sealed;
}

core::Result<CertificateAuthority> openCertificateAuthority(std::string_view sealed,
                                                            const crypto::MasterKey& master,
                                                            std::string_view associated) {
  AUREO_ASSIGN_OR_RETURN(std::string plain, crypto::open(master, sealed, associated));
  struct Wiper {
    std::string& s;
    ~Wiper() { wipe(s); }
  } wiper{plain};
  if (std::string_view(plain).substr(0, kBundleMagic.size()) != kBundleMagic) {
    return core::Error{core::Code::kDataLoss, "sealed blob is not an OpenVPN CA bundle", {}};
  }
  const std::string_view body = std::string_view(plain).substr(kBundleMagic.size());
  const size_t key_at = body.find("-----BEGIN PRIVATE KEY-----");
  if (key_at == std::string_view::npos) {
    return core::Error{core::Code::kDataLoss, "CA bundle has no private key", {}};
  }
  auto ca = importCertificateAuthority(body.substr(0, key_at), body.substr(key_at));
  if (!ca.ok()) {
    return core::Error{core::Code::kDataLoss, "CA bundle is corrupt: " + ca.error().message, {}};
  }
  return ca;
}

}  // namespace aureo::openvpn
