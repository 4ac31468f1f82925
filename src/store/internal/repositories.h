// Factories for the SOCI repositories; only store.cc wires them together.
#pragma once

#include <memory>

#include "store/store.h"

namespace aureo::store::internal {

class Db;

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

}  // namespace aureo::store::internal
