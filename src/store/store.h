// Repository interfaces. Callers depend only on these; one SOCI
// implementation serves SQLite and PostgreSQL.
//
// Error mapping every implementation follows:
//   unique violation -> kAlreadyExists, missing row -> kNotFound,
//   lost connection / busy database / no free pooled connection -> kUnavailable,
//   serialization failure / deadlock -> kAborted (after the store's own
//   retries), statement timeout -> kDeadlineExceeded, anything else -> kInternal.
// Every method is safe to call from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
  // Every column but id, created_at and peer_version.
  virtual Status update(const VpnNode& node) = 0;
  virtual Status erase(const std::string& id) = 0;

  // The node's desired peer set changed: increments peer_version and sets
  // current_connections to the number of its open sessions, in one
  // statement. Returns the new version; kNotFound if absent.
  virtual Result<int64_t> bumpPeerVersion(const std::string& id) = 0;
  // (id, peer_version) of every node, for the long-poll version watcher.
  virtual Result<std::vector<std::pair<std::string, int64_t>>> peerVersions() = 0;
  // The node says it applied `version` of its peer set: applied_peer_version
  // rises to it (never falls: a late, older report changes nothing).
  // kNotFound if absent.
  virtual Status recordAppliedPeerVersion(const std::string& id, int64_t version) = 0;
  // applied_peer_version of the node; kNotFound if absent.
  virtual Result<int64_t> appliedPeerVersion(const std::string& id) = 0;
  // Stores a heartbeat: last_heartbeat = now, cpu and byte counters, and the
  // status the node asks for, except that a node in maintenance stays in
  // maintenance, and a node an admin drained stays draining. Returns the
  // status afterwards; kNotFound if absent.
  virtual Result<std::string> recordHeartbeat(const std::string& id, const NodeHeartbeat& hb,
                                              SystemTime now) = 0;
  // Marks online/draining nodes whose last heartbeat is older than cutoff
  // (or missing) offline, atomically; returns their ids.
  virtual Result<std::vector<std::string>> markStaleOffline(SystemTime cutoff, SystemTime now) = 0;
  // Writes load_score only, so a concurrent admin edit is not overwritten.
  virtual Status setLoadScore(const std::string& id, double load_score) = 0;
  // Adds one protocol to the node's list unless it is there, in one
  // statement that touches no other column. kNotFound if absent.
  virtual Status addProtocol(const std::string& id, const std::string& protocol,
                             SystemTime now) = 0;
  // Sets the status (an admin's decision): drain_requested becomes true for
  // "draining" and false for anything else.
  virtual Status setStatus(const std::string& id, const std::string& status, SystemTime now) = 0;
  // Stores the node's WireGuard public key (at enrollment) and, if not empty,
  // its hostname.
  virtual Status setWireGuardKey(const std::string& id, const std::string& public_key,
                                 const std::string& hostname, SystemTime now) = 0;
};

class SessionRepository {
 public:
  virtual ~SessionRepository() = default;
  virtual Status create(
      const Session& session) = 0;  // kAlreadyExists on (node_id, tunnel_ip) of an open session
  virtual Result<Session> get(const std::string& id) = 0;
  virtual Result<PageOf<Session>> list(const SessionFilter& filter, const Page& page) = 0;
  virtual Status update(const Session& session) = 0;
  // Sessions in status pending/connected for the user.
  virtual Result<int64_t> countActiveForUser(const std::string& user_id) = 0;

  // Everything a new session needs, in one write transaction, so a session
  // is created whole or not at all: the user's open sessions counted against
  // max_active (so concurrent creates cannot overshoot), the lowest
  // free address of ipv4_prefix (and of ipv6_prefix unless empty) allocated
  // to it and stored as its tunnel_ip/tunnel_ipv6, and its node's peer
  // version bumped. kFailedPrecondition at the device limit,
  // kResourceExhausted when a prefix is full, kNotFound for an unknown node.
  struct NewSession {
    Session session;       // as stored, with its addresses
    int64_t peer_version;  // the node's peer version after the insert
  };
  virtual Result<NewSession> createWithAddresses(const Session& session, int64_t max_active,
                                                 const std::string& ipv4_prefix,
                                                 const std::string& ipv6_prefix,
                                                 SystemTime now) = 0;
  // Open (pending/connected) sessions on a node, oldest first.
  virtual Result<std::vector<Session>> listActiveForNode(const std::string& node_id) = 0;
  // Closes one open session: status (disconnected/failed), reason,
  // disconnected_at = now, client_ip dropped, and its IP allocations
  // released, in one transaction. Returns the session as closed, or
  // kNotFound if there is no such session, kFailedPrecondition if it was
  // already closed.
  virtual Result<Session> close(const std::string& id, const std::string& status,
                                const std::string& reason, SystemTime now) = 0;
  // close() for every open session of a user / of a node; returns them.
  virtual Result<std::vector<Session>> closeAllForUser(const std::string& user_id,
                                                       const std::string& reason,
                                                       SystemTime now) = 0;
  virtual Result<std::vector<Session>> closeAllForNode(const std::string& node_id,
                                                       const std::string& reason,
                                                       SystemTime now) = 0;
  // Open sessions that are idle: pending and created before pending_cutoff,
  // or with a last handshake (connected_at if none) before handshake_cutoff.
  virtual Result<std::vector<Session>> listIdle(SystemTime pending_cutoff,
                                                SystemTime handshake_cutoff) = 0;
  // Applies a node's report for one peer to the open session `id` on
  // `node_id`, in one transaction: the byte deltas against the counters
  // last reported (a counter lower than before means the node restarted and
  // counts from zero again, so the whole value is the delta), last_handshake,
  // pending -> connected on the first handshake, and the deltas added to the
  // user's usage for usage_period. applied=false if the session is not open
  // on that node.
  virtual Result<AccountingResult> account(const std::string& id, const std::string& node_id,
                                           const PeerCounters& counters, SystemTime usage_period,
                                           SystemTime now) = 0;
  // Deletes closed sessions that ended before cutoff (and any allocation
  // still naming them); returns how many.
  virtual Result<int64_t> purgeClosedBefore(SystemTime cutoff) = 0;
};

class IpAllocationRepository {
 public:
  virtual ~IpAllocationRepository() = default;
  // Reserves the lowest free address of `cidr` on the node, atomically, and
  // returns it (without prefix). The prefix's network address and its first
  // host address (the node's own tunnel address) are never handed out, nor
  // the IPv4 broadcast address. kResourceExhausted when the prefix is full,
  // kInvalidArgument for a malformed cidr.
  virtual Result<std::string> allocate(const std::string& node_id, const std::string& cidr,
                                       const std::string& user_id,
                                       const std::optional<std::string>& session_id,
                                       const std::optional<std::string>& device_id,
                                       SystemTime now) = 0;
  virtual Status release(const std::string& node_id, const std::string& ip) = 0;
  // Releases every allocation of a session; returns how many.
  virtual Result<int64_t> releaseForSession(const std::string& session_id) = 0;
  virtual Result<std::vector<IpAllocation>> listForNode(const std::string& node_id) = 0;
  // Allocations nothing owns any more: their session is closed or gone, or
  // they name neither a session nor a device.
  virtual Result<std::vector<IpAllocation>> listOrphans(int64_t limit) = 0;
};

// Named leases for leader election. Times come from the caller's clock.
class LeaseRepository {
 public:
  virtual ~LeaseRepository() = default;
  // Atomically: if the lease is free, expired, or held by `holder`, gives
  // it to `holder` until now + ttl. The fencing token grows by one whenever
  // the lease changes hands or is taken again after expiring. Returns the
  // lease as it stands afterwards: its holder says whether the caller has it.
  virtual Result<Lease> acquire(const std::string& name, const std::string& holder,
                                std::chrono::milliseconds ttl, SystemTime now) = 0;
  // Extends the lease to now + ttl only while `holder` holds it unexpired;
  // kFailedPrecondition (lost) otherwise.
  virtual Result<Lease> renew(const std::string& name, const std::string& holder,
                              std::chrono::milliseconds ttl, SystemTime now) = 0;
  // Gives the lease up if `holder` has it (expires it now); otherwise no-op.
  virtual Status release(const std::string& name, const std::string& holder, SystemTime now) = 0;
  virtual Result<Lease> get(const std::string& name) = 0;  // kNotFound if never taken
};

class NodeCredentialRepository {
 public:
  virtual ~NodeCredentialRepository() = default;
  virtual Status create(const NodeCredential& credential) = 0;
  virtual Result<NodeCredential> getByHash(const std::string& token_hash) = 0;
  // Atomically redeems a live enrollment token: marks it used, revokes the
  // node's earlier node credentials and stores `credential` (kind node) for
  // the token's node, whatever credential.node_id said. Returns the stored
  // credential. kNotFound for an unknown token, kFailedPrecondition for a
  // used, revoked or expired one.
  virtual Result<NodeCredential> redeemEnrollment(const std::string& enrollment_hash,
                                                  NodeCredential credential, SystemTime now) = 0;
  virtual Status revoke(const std::string& id, SystemTime now) = 0;
  // Revokes the node's live credentials of one kind; returns how many.
  virtual Result<int64_t> revokeAllForNode(const std::string& node_id, const std::string& kind,
                                           SystemTime now) = 0;
};

class DeviceRepository {
 public:
  virtual ~DeviceRepository() = default;
  // kAlreadyExists if the public key is registered or the user has a device of that name.
  virtual Status create(const Device& device) = 0;
  virtual Result<Device> get(const std::string& id) = 0;
  virtual Result<Device> getByPublicKey(const std::string& public_key) = 0;
  virtual Result<std::vector<Device>> listForUser(const std::string& user_id) = 0;
  virtual Status touch(const std::string& id, SystemTime now) = 0;  // last_seen_at
  // Removes the device and its IP reservations.
  virtual Status erase(const std::string& id) = 0;
};

class UsageRepository {
 public:
  virtual ~UsageRepository() = default;
  // Adds to the user's counters of the period, creating the row at zero.
  virtual Status add(const std::string& user_id, SystemTime period_start, int64_t bytes_sent,
                     int64_t bytes_received, SystemTime now) = 0;
  // Zeros when nothing was recorded.
  virtual Result<Usage> get(const std::string& user_id, SystemTime period_start) = 0;
  virtual Result<std::vector<Usage>> listForUser(const std::string& user_id) = 0;  // newest first
};

// Outcome of presenting a refresh token for rotation.
enum class RotateOutcome {
  kRotated,  // the old token is now used and the new one stored
  kReused,   // the token was already used: the whole family is now revoked
  kRevoked,  // the token or its family was revoked (logout, earlier reuse)
  kExpired,
  kUnknown,  // no such token
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

// Deployment-wide secrets by name. Values are sealed by the caller.
class SecretRepository {
 public:
  virtual ~SecretRepository() = default;
  // kNotFound if absent.
  virtual Result<StoredSecret> get(const std::string& name) = 0;
  // Inserts the secret unless one with that name exists: kAlreadyExists
  // then, so two processes creating it at once agree on the first one.
  virtual Status insert(const StoredSecret& secret) = 0;
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
  virtual IpAllocationRepository& ipAllocations() = 0;
  virtual LeaseRepository& leases() = 0;
  virtual NodeCredentialRepository& nodeCredentials() = 0;
  virtual DeviceRepository& devices() = 0;
  virtual UsageRepository& usage() = 0;
  virtual SecretRepository& secrets() = 0;
  // A cheap round trip for readiness probes.
  virtual Status ping() = 0;
  // Applied migration versions, ascending.
  virtual Result<std::vector<int64_t>> appliedMigrations() = 0;
};

struct StoreOptions {
  // "sqlite:/path/to/file.db" or "postgres://user:password@host:port/database"
  // (any libpq URI, "postgresql://" too, with its ?key=value parameters).
  std::string url;
  // Optional PostgreSQL read replica of the same database: list and
  // statistics queries read there (falling back to the primary while it is
  // unreachable). Empty: everything goes to the primary.
  std::string replica_url;
  int pool_size = 8;  // connections to the primary, and as many to the replica
  // How long an operation waits for a free pooled connection before it
  // fails with kUnavailable (on SQLite at least busy_timeout).
  std::chrono::milliseconds acquire_timeout{10000};
  // SQLite: how long a statement waits for another writer.
  std::chrono::milliseconds busy_timeout{5000};
  // PostgreSQL: a statement running longer is cancelled with
  // kDeadlineExceeded (0: no limit). Migrations are exempt.
  std::chrono::milliseconds statement_timeout{10000};
  QueryObserver observer;  // may be empty
};

// Opens the database named by options.url, creating the SQLite file and
// applying migrations as needed. kInvalidArgument for an unsupported URL or
// options, kUnavailable when the server cannot be reached.
Result<std::unique_ptr<Store>> openStore(const StoreOptions& options);

}  // namespace aureo::store
