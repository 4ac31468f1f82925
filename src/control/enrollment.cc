#include "control/enrollment.h"

#include "core/ids.h"
#include "crypto/encoding.h"
#include "crypto/x25519.h"

namespace aureo::control {
namespace {

// Prefixes make a leaked secret recognisable to secret scanners and people.
constexpr const char* kEnrollmentPrefix = "aureo-enroll-";
constexpr const char* kCredentialPrefix = "aureo-node-";

}  // namespace

core::Result<EnrollmentToken> issueEnrollmentToken(store::Store& store, const std::string& node_id,
                                                   std::chrono::seconds ttl, core::SystemTime now) {
  AUREO_RETURN_IF_ERROR(store.nodes().get(node_id));
  AUREO_RETURN_IF_ERROR(
      store.nodeCredentials().revokeAllForNode(node_id, store::NodeCredential::kEnrollment, now));
  EnrollmentToken out;
  out.token = kEnrollmentPrefix + crypto::randomToken(32);
  out.expires_at = now + ttl;
  store::NodeCredential row;
  row.id = core::newUuid();
  row.node_id = node_id;
  row.kind = store::NodeCredential::kEnrollment;
  row.token_hash = crypto::sha256Hex(out.token);
  row.created_at = now;
  row.expires_at = out.expires_at;
  AUREO_RETURN_IF_ERROR(store.nodeCredentials().create(row));
  return out;
}

core::Result<EnrolledNode> enrollNode(store::Store& store, const std::string& enrollment_token,
                                      const std::string& wg_public_key, const std::string& hostname,
                                      core::SystemTime now) {
  if (!crypto::isValidWireGuardKey(wg_public_key)) {
    return core::invalidArgument("wg_public_key must be a WireGuard public key (32 bytes, base64)",
                                 "wg_public_key");
  }
  EnrolledNode out;
  out.credential = kCredentialPrefix + crypto::randomToken(32);
  store::NodeCredential row;
  row.id = core::newUuid();
  row.kind = store::NodeCredential::kNode;
  row.token_hash = crypto::sha256Hex(out.credential);
  row.created_at = now;
  auto redeemed =
      store.nodeCredentials().redeemEnrollment(crypto::sha256Hex(enrollment_token), row, now);
  if (!redeemed.ok()) {
    const auto code = redeemed.error().code;
    if (code == core::Code::kNotFound || code == core::Code::kFailedPrecondition) {
      return core::unauthenticated("enrollment token is unknown, used, revoked or expired");
    }
    return redeemed.error();
  }
  AUREO_RETURN_IF_ERROR(
      store.nodes().setWireGuardKey(redeemed->node_id, wg_public_key, hostname, now));
  // Enrolling again (new key) changes what every session's config names, but
  // not the peer set; the node fetches its peers with its first long-poll.
  AUREO_ASSIGN_OR_RETURN(out.node, store.nodes().get(redeemed->node_id));
  return out;
}

core::Result<std::string> authenticateNode(store::Store& store, const std::string& credential) {
  auto row = store.nodeCredentials().getByHash(crypto::sha256Hex(credential));
  if (!row.ok()) {
    if (row.error().code == core::Code::kNotFound) {
      return core::unauthenticated("unknown node credential");
    }
    return row.error();
  }
  if (row->kind != store::NodeCredential::kNode || row->revoked_at) {
    return core::unauthenticated("node credential is not valid");
  }
  return row->node_id;
}

}  // namespace aureo::control
