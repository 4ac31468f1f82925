// NodeCredentialRepository over SOCI. Only SHA-256 hashes of the secrets
// are stored; redeeming an enrollment token happens in one write
// transaction, so a token presented twice at once is redeemed once.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

constexpr std::string_view kCredentialColumns =
    "id, node_id, kind, token_hash, created_at, expires_at, used_at, revoked_at";

struct CredentialRow {
  std::string id, node_id, kind, token_hash;
  long long created_at = 0;
  NullableMillis expires_at, used_at, revoked_at;

  void into(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(node_id));
    st.exchange(soci::into(kind));
    st.exchange(soci::into(token_hash));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(expires_at.value, expires_at.ind));
    st.exchange(soci::into(used_at.value, used_at.ind));
    st.exchange(soci::into(revoked_at.value, revoked_at.ind));
  }

  [[nodiscard]] NodeCredential toModel() const {
    NodeCredential c;
    c.id = id;
    c.node_id = node_id;
    c.kind = kind;
    c.token_hash = token_hash;
    c.created_at = fromMillis(created_at);
    c.expires_at = expires_at.get();
    c.used_at = used_at.get();
    c.revoked_at = revoked_at.get();
    return c;
  }
};

std::optional<NodeCredential> fetchByHash(soci::session& sql, const Dialect& dialect,
                                          const std::string& hash, bool for_update) {
  Query q("SELECT " + std::string(kCredentialColumns) + " FROM node_credentials");
  q.where("token_hash = :hash").bindText("hash", hash);
  if (for_update) q.append(dialect.forUpdate());
  CredentialRow row;
  std::optional<NodeCredential> out;
  forEachRow(sql, q, row, [&] { out = row.toModel(); });
  return out;
}

void insert(soci::session& sql, const NodeCredential& c) {
  Query q("INSERT INTO node_credentials (" + std::string(kCredentialColumns) +
          ") VALUES (:id, :node_id, :kind, :token_hash, :created_at, :expires_at, :used_at, "
          ":revoked_at)");
  q.bindText("id", c.id)
      .bindText("node_id", c.node_id)
      .bindText("kind", c.kind)
      .bindText("token_hash", c.token_hash)
      .bindTime("created_at", c.created_at)
      .bindOptTime("expires_at", c.expires_at)
      .bindOptTime("used_at", c.used_at)
      .bindOptTime("revoked_at", c.revoked_at);
  execute(sql, q);
}

void revokeForNode(soci::session& sql, const std::string& node_id, const std::string& kind,
                   SystemTime now, long long* count) {
  Query q(
      "UPDATE node_credentials SET revoked_at = :now WHERE node_id = :node_id AND kind = :kind "
      "AND revoked_at IS NULL");
  q.bindTime("now", now).bindText("node_id", node_id).bindText("kind", kind);
  const long long n = execute(sql, q);
  if (count) *count = n;
}

class SqlNodeCredentialRepository final : public NodeCredentialRepository {
 public:
  explicit SqlNodeCredentialRepository(Db& db) : db_(db) {}

  Status create(const NodeCredential& credential) override {
    if (credential.kind != NodeCredential::kEnrollment &&
        credential.kind != NodeCredential::kNode) {
      return core::invalidArgument("unknown credential kind " + credential.kind, "kind");
    }
    return db_.run("node_credentials.create", [&](soci::session& sql) -> Status {
      insert(sql, credential);
      return core::okStatus();
    });
  }

  Result<NodeCredential> getByHash(const std::string& token_hash) override {
    return db_.run("node_credentials.get_by_hash",
                   [&](soci::session& sql) -> Result<NodeCredential> {
                     auto found = fetchByHash(sql, db_.dialect(), token_hash, false);
                     if (!found) return core::notFound("credential not found");
                     return *std::move(found);
                   });
  }

  Result<NodeCredential> redeemEnrollment(const std::string& enrollment_hash,
                                          NodeCredential credential, SystemTime now) override {
    return db_.run("node_credentials.redeem_enrollment",
                   [&](soci::session& sql) -> Result<NodeCredential> {
                     Transaction tx(sql, db_.dialect().beginWrite());
                     auto token = fetchByHash(sql, db_.dialect(), enrollment_hash, true);
                     if (!token || token->kind != NodeCredential::kEnrollment) {
                       return core::notFound("enrollment token not found");
                     }
                     if (token->used_at) {
                       return core::failedPrecondition("enrollment token already used");
                     }
                     if (token->revoked_at) {
                       return core::failedPrecondition("enrollment token revoked");
                     }
                     if (token->expires_at && *token->expires_at <= now) {
                       return core::failedPrecondition("enrollment token expired");
                     }
                     Query use("UPDATE node_credentials SET used_at = :now WHERE id = :id");
                     use.bindTime("now", now).bindText("id", token->id);
                     execute(sql, use);
                     revokeForNode(sql, token->node_id, NodeCredential::kNode, now, nullptr);
                     credential.node_id = token->node_id;
                     credential.kind = NodeCredential::kNode;
                     credential.used_at.reset();
                     credential.revoked_at.reset();
                     insert(sql, credential);
                     tx.commit();
                     return credential;
                   });
  }

  Status revoke(const std::string& id, SystemTime now) override {
    return db_.run("node_credentials.revoke", [&](soci::session& sql) -> Status {
      Query exists("SELECT COUNT(*) FROM node_credentials WHERE id = :id");
      exists.bindText("id", id);
      if (queryCount(sql, exists) == 0) return core::notFound("credential not found");
      Query q(
          "UPDATE node_credentials SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL");
      q.bindTime("now", now).bindText("id", id);
      execute(sql, q);
      return core::okStatus();
    });
  }

  Result<int64_t> revokeAllForNode(const std::string& node_id, const std::string& kind,
                                   SystemTime now) override {
    return db_.run("node_credentials.revoke_all_for_node",
                   [&](soci::session& sql) -> Result<int64_t> {
                     long long n = 0;
                     revokeForNode(sql, node_id, kind, now, &n);
                     return static_cast<int64_t>(n);
                   });
  }

 private:
  Db& db_;
};

}  // namespace

std::unique_ptr<NodeCredentialRepository> makeNodeCredentialRepository(Db& db) {
  return std::make_unique<SqlNodeCredentialRepository>(db);
}

}  // namespace aureo::store::internal
