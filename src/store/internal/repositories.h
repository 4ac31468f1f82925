// Factories for the SOCI repositories; only store.cc wires them together.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "store/store.h"

namespace soci {
class session;
}

namespace aureo::store::internal {

class Db;
class Dialect;

std::unique_ptr<UserRepository> makeUserRepository(Db& db);
std::unique_ptr<NodeRepository> makeNodeRepository(Db& db);
std::unique_ptr<SessionRepository> makeSessionRepository(Db& db);
std::unique_ptr<RefreshTokenRepository> makeRefreshTokenRepository(Db& db);
std::unique_ptr<AuditRepository> makeAuditRepository(Db& db);
std::unique_ptr<StatsRepository> makeStatsRepository(Db& db);
std::unique_ptr<IpAllocationRepository> makeIpAllocationRepository(Db& db);
std::unique_ptr<LeaseRepository> makeLeaseRepository(Db& db);
std::unique_ptr<NodeCredentialRepository> makeNodeCredentialRepository(Db& db);
std::unique_ptr<DeviceRepository> makeDeviceRepository(Db& db);
std::unique_ptr<UsageRepository> makeUsageRepository(Db& db);
std::unique_ptr<SecretRepository> makeSecretRepository(Db& db);

// Pieces of one repository's write that another's transaction also needs.
// Both run inside the caller's write transaction.

// IpAllocationRepository::allocate without its own transaction.
Result<std::string> allocateAddressIn(soci::session& sql, const Dialect& dialect,
                                      const std::string& node_id, const std::string& cidr,
                                      const std::string& user_id,
                                      const std::optional<std::string>& session_id,
                                      const std::optional<std::string>& device_id, SystemTime now);
// NodeRepository::bumpPeerVersion without its own transaction.
Result<int64_t> bumpPeerVersionIn(soci::session& sql, const std::string& node_id);

}  // namespace aureo::store::internal
