// Node enrollment and authentication. An admin gets a one-time enrollment
// token when creating a node; the node trades it (once, before it expires)
// for a long-lived node credential that it presents as a bearer token from
// then on. Only SHA-256 hashes of either secret are stored.
#pragma once

#include <chrono>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "store/store.h"

namespace aureo::control {

constexpr std::chrono::hours kDefaultEnrollmentTtl{24};

struct EnrollmentToken {
  std::string token;  // shown once
  core::SystemTime expires_at{};
};

// Revokes the node's unused enrollment tokens and issues a fresh one.
core::Result<EnrollmentToken> issueEnrollmentToken(store::Store& store, const std::string& node_id,
                                                   std::chrono::seconds ttl, core::SystemTime now);

struct EnrolledNode {
  store::VpnNode node;
  std::string credential;  // shown once
};

// Redeems the token, stores the node's WireGuard public key (and hostname if
// given) and returns a new node credential; the node's earlier credentials
// are revoked. kUnauthenticated for an unknown, used, revoked or expired
// token; kInvalidArgument (field wg_public_key) for a malformed key.
core::Result<EnrolledNode> enrollNode(store::Store& store, const std::string& enrollment_token,
                                      const std::string& wg_public_key, const std::string& hostname,
                                      core::SystemTime now);

// The node id a credential belongs to; kUnauthenticated if unknown or revoked.
core::Result<std::string> authenticateNode(store::Store& store, const std::string& credential);

}  // namespace aureo::control
