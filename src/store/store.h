// Repository interfaces. Callers depend only on these; the SOCI implementation
// serves SQLite today and PostgreSQL later without callers changing.
//
// Error mapping every implementation follows:
//   unique violation -> kAlreadyExists, missing row -> kNotFound,
//   lost connection / busy database -> kUnavailable,
//   serialization failure / deadlock -> kAborted, anything else -> kInternal.
// Every method is safe to call from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "store/models.h"

namespace aureo::store {

using core::Result;
using core::Status;

class UserRepository {
 public:
  virtual ~UserRepository() = default;
  virtual Status create(const User& user) = 0;  // kAlreadyExists on email/username clash
  virtual Result<User> get(const std::string& id) = 0;
  virtual Result<User> getByEmail(const std::string& email) = 0;  // case-insensitive
  virtual Result<PageOf<User>> list(const UserFilter& filter, const Page& page) = 0;
  // Writes email, username, password_hash, subscription_tier, role, is_active,
  // updated_at of the row with user.id.
  virtual Status update(const User& user) = 0;
  // Deletes the user and everything owned by them (sessions, tokens, devices,
  // usage); audit rows keep the id only. Returns kNotFound if absent.
  virtual Status erase(const std::string& id) = 0;
  virtual Result<int64_t> count() = 0;
};

class NodeRepository {
 public:
  virtual ~NodeRepository() = default;
  virtual Status create(const VpnNode& node) = 0;  // kAlreadyExists on name clash
  virtual Result<VpnNode> get(const std::string& id) = 0;
  virtual Result<std::vector<VpnNode>> list(const NodeFilter& filter) = 0;
  virtual Status update(const VpnNode& node) = 0;  // every column but id/created_at
  virtual Status erase(const std::string& id) = 0;
};

class SessionRepository {
 public:
  virtual ~SessionRepository() = default;
  virtual Status create(const Session& session) = 0;  // kAlreadyExists on (node_id, tunnel_ip) of an open session
  virtual Result<Session> get(const std::string& id) = 0;
  virtual Result<PageOf<Session>> list(const SessionFilter& filter, const Page& page) = 0;
  virtual Status update(const Session& session) = 0;
  // Sessions in status pending/connected for the user.
  virtual Result<int64_t> countActiveForUser(const std::string& user_id) = 0;
};

// Outcome of presenting a refresh token for rotation.
enum class RotateOutcome {
  kRotated,      // the old token is now used and the new one stored
  kReused,       // the token was already used: the whole family is now revoked
  kRevoked,      // the token or its family was revoked (logout, earlier reuse)
  kExpired,
  kUnknown,      // no such token
};

class RefreshTokenRepository {
 public:
  virtual ~RefreshTokenRepository() = default;
  virtual Status create(const RefreshToken& token) = 0;
  // Atomically: if old_hash names a live token, marks it used and stores
  // replacement (same family); if it was already used, revokes the family.
  virtual Result<RotateOutcome> rotate(const std::string& old_hash, const RefreshToken& replacement,
                                       SystemTime now) = 0;
  virtual Result<RefreshToken> getByHash(const std::string& token_hash) = 0;
  virtual Status revokeFamily(const std::string& family_id, SystemTime now) = 0;
  virtual Status revokeAllForUser(const std::string& user_id, SystemTime now) = 0;
  // Removes tokens that expired before cutoff; returns how many.
  virtual Result<int64_t> purgeExpired(SystemTime cutoff) = 0;
};

class AuditRepository {
 public:
  virtual ~AuditRepository() = default;
  virtual Status append(const AuditEntry& entry) = 0;  // id assigned by the database
  virtual Result<PageOf<AuditEntry>> list(const AuditFilter& filter, const Page& page) = 0;
};

class StatsRepository {
 public:
  virtual ~StatsRepository() = default;
  virtual Result<Stats> collect() = 0;
};

// Called after every statement: a short operation name, seconds taken, success.
using QueryObserver = std::function<void(std::string_view op, double seconds, bool ok)>;

class Store {
 public:
  virtual ~Store() = default;
  virtual UserRepository& users() = 0;
  virtual NodeRepository& nodes() = 0;
  virtual SessionRepository& sessions() = 0;
  virtual RefreshTokenRepository& refreshTokens() = 0;
  virtual AuditRepository& audit() = 0;
  virtual StatsRepository& stats() = 0;
  // A cheap round trip for readiness probes.
  virtual Status ping() = 0;
  // Applied migration versions, ascending.
  virtual Result<std::vector<int64_t>> appliedMigrations() = 0;
};

struct StoreOptions {
  std::string url;  // "sqlite:/path/to/file.db" (later "postgres://...")
  int pool_size = 8;
  std::chrono::milliseconds busy_timeout{5000};
  QueryObserver observer;  // may be empty
};

// Opens the database named by options.url, creating the file and applying
// migrations as needed. kInvalidArgument for an unsupported URL.
Result<std::unique_ptr<Store>> openStore(const StoreOptions& options);

}  // namespace aureo::store
