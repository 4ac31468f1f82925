// LeaseRepository over SOCI. Every change reads and writes the lease row in
// one write transaction (the row is locked on PostgreSQL, the database on
// SQLite), so two contenders can never both see themselves as holder.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

struct LeaseRow {
  std::string name, holder;
  long long fencing_token = 0, acquired_at = 0, expires_at = 0;

  void into(soci::statement& st) {
    st.exchange(soci::into(name));
    st.exchange(soci::into(holder));
    st.exchange(soci::into(fencing_token));
    st.exchange(soci::into(acquired_at));
    st.exchange(soci::into(expires_at));
  }

  [[nodiscard]] Lease toModel() const {
    return {name, holder, fencing_token, fromMillis(acquired_at), fromMillis(expires_at)};
  }
};

std::optional<Lease> fetch(soci::session& sql, const Dialect& dialect, const std::string& name,
                           bool for_update) {
  Query q("SELECT name, holder, fencing_token, acquired_at, expires_at FROM leases");
  q.where("name = :name").bindText("name", name);
  if (for_update) q.append(dialect.forUpdate());
  LeaseRow row;
  std::optional<Lease> out;
  forEachRow(sql, q, row, [&] { out = row.toModel(); });
  return out;
}

class SqlLeaseRepository final : public LeaseRepository {
 public:
  explicit SqlLeaseRepository(Db& db) : db_(db) {}

  Result<Lease> acquire(const std::string& name, const std::string& holder,
                        std::chrono::milliseconds ttl, SystemTime now) override {
    return db_.run("leases.acquire", [&](soci::session& sql) -> Result<Lease> {
      Transaction tx(sql, db_.dialect().beginWrite());
      // A lease never taken gets an expired placeholder row first, so that
      // contenders for a new lease all queue on one row lock instead of
      // racing to insert it (on PostgreSQL the loser would see a unique
      // violation). The placeholder's token 0 makes the first holder's 1.
      Query placeholder(
          "INSERT INTO leases (name, holder, fencing_token, acquired_at, expires_at) VALUES "
          "(:name, '', 0, 0, 0) ON CONFLICT (name) DO NOTHING");
      placeholder.bindText("name", name);
      execute(sql, placeholder);
      auto current = fetch(sql, db_.dialect(), name, true);
      if (!current) return core::internalError("lease row vanished inside its transaction");
      const SystemTime expires = now + ttl;
      const bool live = current->expires_at > now;
      if (live && current->holder != holder) return *current;  // someone else has it
      Lease lease = *current;
      if (!live) {
        // Taken anew, even by the same holder: whatever it did under the old
        // token may have overlapped with another holder's work.
        lease.holder = holder;
        lease.fencing_token += 1;
        lease.acquired_at = now;
      }
      lease.expires_at = expires;
      write(sql, lease);
      tx.commit();
      return lease;
    });
  }

  Result<Lease> renew(const std::string& name, const std::string& holder,
                      std::chrono::milliseconds ttl, SystemTime now) override {
    return db_.run("leases.renew", [&](soci::session& sql) -> Result<Lease> {
      Transaction tx(sql, db_.dialect().beginWrite());
      auto current = fetch(sql, db_.dialect(), name, true);
      if (!current || current->holder != holder || current->expires_at <= now) {
        return core::failedPrecondition("lease " + name + " is not held by " + holder);
      }
      current->expires_at = now + ttl;
      write(sql, *current);
      tx.commit();
      return *current;
    });
  }

  Status release(const std::string& name, const std::string& holder, SystemTime now) override {
    return db_.run("leases.release", [&](soci::session& sql) -> Status {
      Query q(
          "UPDATE leases SET expires_at = :now WHERE name = :name AND holder = :holder AND "
          "expires_at > :now2");
      q.bindTime("now", now)
          .bindText("name", name)
          .bindText("holder", holder)
          .bindTime("now2", now);
      execute(sql, q);
      return core::okStatus();
    });
  }

  Result<Lease> get(const std::string& name) override {
    return db_.run("leases.get", [&](soci::session& sql) -> Result<Lease> {
      auto lease = fetch(sql, db_.dialect(), name, false);
      if (!lease) return core::notFound("lease not found");
      return *std::move(lease);
    });
  }

 private:
  static void write(soci::session& sql, const Lease& lease) {
    Query q(
        "UPDATE leases SET holder = :holder, fencing_token = :token, acquired_at = :acquired_at, "
        "expires_at = :expires_at WHERE name = :name");
    q.bindText("holder", lease.holder)
        .bindInt("token", lease.fencing_token)
        .bindTime("acquired_at", lease.acquired_at)
        .bindTime("expires_at", lease.expires_at)
        .bindText("name", lease.name);
    execute(sql, q);
  }

  Db& db_;
};

}  // namespace

std::unique_ptr<LeaseRepository> makeLeaseRepository(Db& db) {
  return std::make_unique<SqlLeaseRepository>(db);
}

}  // namespace aureo::store::internal
