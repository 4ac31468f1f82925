// RefreshTokenRepository over SOCI. rotate() reads and writes inside one
// write transaction (the row is locked on PostgreSQL, the database on
// SQLite), so of two callers presenting the same token exactly one rotates
// and the other sees it used.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

constexpr std::string_view kTokenColumns =
    "id, user_id, family_id, token_hash, expires_at, created_at, used_at, revoked_at";

struct TokenRow {
  std::string id, user_id, family_id, token_hash;
  long long expires_at = 0, created_at = 0;
  NullableMillis used_at, revoked_at;

  void into(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(user_id));
    st.exchange(soci::into(family_id));
    st.exchange(soci::into(token_hash));
    st.exchange(soci::into(expires_at));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(used_at.value, used_at.ind));
    st.exchange(soci::into(revoked_at.value, revoked_at.ind));
  }

  [[nodiscard]] RefreshToken toModel() const {
    RefreshToken t;
    t.id = id;
    t.user_id = user_id;
    t.family_id = family_id;
    t.token_hash = token_hash;
    t.expires_at = fromMillis(expires_at);
    t.created_at = fromMillis(created_at);
    t.used_at = used_at.get();
    t.revoked_at = revoked_at.get();
    return t;
  }
};

std::string selectTokens() {
  return "SELECT " + std::string(kTokenColumns) + " FROM refresh_tokens";
}

void insertToken(soci::session& sql, const RefreshToken& t) {
  Query q("INSERT INTO refresh_tokens (" + std::string(kTokenColumns) +
          ") VALUES (:id, :user_id, :family_id, :token_hash, :expires_at, :created_at, "
          ":used_at, :revoked_at)");
  q.bindText("id", t.id)
      .bindText("user_id", t.user_id)
      .bindText("family_id", t.family_id)
      .bindText("token_hash", t.token_hash)
      .bindTime("expires_at", t.expires_at)
      .bindTime("created_at", t.created_at)
      .bindOptTime("used_at", t.used_at)
      .bindOptTime("revoked_at", t.revoked_at);
  execute(sql, q);
}

class SqlRefreshTokenRepository final : public RefreshTokenRepository {
 public:
  explicit SqlRefreshTokenRepository(Db& db) : db_(db) {}

  Status create(const RefreshToken& token) override {
    return db_.run("refresh_tokens.create", [&](soci::session& sql) -> Status {
      insertToken(sql, token);
      return core::okStatus();
    });
  }

  // The replacement joins the old token's family and user, whatever it says.
  Result<RotateOutcome> rotate(const std::string& old_hash, const RefreshToken& replacement,
                               SystemTime now) override {
    return db_.run("refresh_tokens.rotate", [&](soci::session& sql) -> Result<RotateOutcome> {
      Transaction tx(sql, db_.dialect().beginWrite());
      Query q(selectTokens());
      q.where("token_hash = :token_hash").bindText("token_hash", old_hash);
      q.append(db_.dialect().forUpdate());
      TokenRow row;
      std::optional<RefreshToken> old;
      forEachRow(sql, q, row, [&] { old = row.toModel(); });
      if (!old) return RotateOutcome::kUnknown;
      if (old->revoked_at) return RotateOutcome::kRevoked;
      if (old->expires_at <= now) return RotateOutcome::kExpired;
      if (old->used_at) {
        // A used token presented again means it leaked (or a client raced
        // itself); either way no token of this login may be trusted.
        revokeFamilyIn(sql, old->family_id, now);
        tx.commit();
        return RotateOutcome::kReused;
      }
      Query use("UPDATE refresh_tokens SET used_at = :now WHERE id = :id AND used_at IS NULL");
      use.bindTime("now", now).bindText("id", old->id);
      if (execute(sql, use) != 1) {
        // Cannot happen while the transaction holds the lock; refuse rather
        // than hand out a second token.
        return core::Error{core::Code::kAborted, "refresh token changed during rotation", {}};
      }
      RefreshToken next = replacement;
      next.family_id = old->family_id;
      next.user_id = old->user_id;
      next.used_at.reset();
      next.revoked_at.reset();
      insertToken(sql, next);
      tx.commit();
      return RotateOutcome::kRotated;
    });
  }

  Result<RefreshToken> getByHash(const std::string& token_hash) override {
    return db_.run("refresh_tokens.get_by_hash", [&](soci::session& sql) -> Result<RefreshToken> {
      Query q(selectTokens());
      q.where("token_hash = :token_hash").bindText("token_hash", token_hash);
      TokenRow row;
      std::optional<RefreshToken> found;
      forEachRow(sql, q, row, [&] { found = row.toModel(); });
      if (!found) return core::notFound("refresh token not found");
      return *std::move(found);
    });
  }

  Status revokeFamily(const std::string& family_id, SystemTime now) override {
    return db_.run("refresh_tokens.revoke_family", [&](soci::session& sql) -> Status {
      revokeFamilyIn(sql, family_id, now);
      return core::okStatus();
    });
  }

  Status revokeAllForUser(const std::string& user_id, SystemTime now) override {
    return db_.run("refresh_tokens.revoke_all_for_user", [&](soci::session& sql) -> Status {
      Query q(
          "UPDATE refresh_tokens SET revoked_at = :now WHERE user_id = :user_id AND revoked_at "
          "IS NULL");
      q.bindTime("now", now).bindText("user_id", user_id);
      execute(sql, q);
      return core::okStatus();
    });
  }

  Result<int64_t> purgeExpired(SystemTime cutoff) override {
    return db_.run("refresh_tokens.purge_expired", [&](soci::session& sql) -> Result<int64_t> {
      Query q("DELETE FROM refresh_tokens WHERE expires_at < :cutoff");
      q.bindTime("cutoff", cutoff);
      return static_cast<int64_t>(execute(sql, q));
    });
  }

 private:
  // Earlier revocations keep their time, so the audit trail stays truthful.
  static void revokeFamilyIn(soci::session& sql, const std::string& family_id, SystemTime now) {
    Query q(
        "UPDATE refresh_tokens SET revoked_at = :now WHERE family_id = :family_id AND revoked_at "
        "IS NULL");
    q.bindTime("now", now).bindText("family_id", family_id);
    execute(sql, q);
  }

  Db& db_;
};

}  // namespace

std::unique_ptr<RefreshTokenRepository> makeRefreshTokenRepository(Db& db) {
  return std::make_unique<SqlRefreshTokenRepository>(db);
}

}  // namespace aureo::store::internal
