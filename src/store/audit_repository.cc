// AuditRepository over SOCI. Rows are append-only; ids come from the database
// and grow with insertion order, which list() returns newest first.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

struct AuditRow {
  long long id = 0;
  std::string actor_id, action, target_type, target_id, details, ip;
  long long created_at = 0;

  void into(soci::statement& st) {
    st.exchange(soci::into(id));
    for (std::string* s : {&actor_id, &action, &target_type, &target_id, &details, &ip}) {
      st.exchange(soci::into(*s));
    }
    st.exchange(soci::into(created_at));
  }

  [[nodiscard]] AuditEntry toModel() const {
    AuditEntry e;
    e.id = id;
    e.actor_id = actor_id;
    e.action = action;
    e.target_type = target_type;
    e.target_id = target_id;
    e.details = details;
    e.ip = ip;
    e.created_at = fromMillis(created_at);
    return e;
  }
};

void addFilters(Query& q, const AuditFilter& filter) {
  if (!filter.actor_id.empty()) {
    q.where("actor_id = :actor_id").bindText("actor_id", filter.actor_id);
  }
  if (!filter.action.empty()) q.where("action = :action").bindText("action", filter.action);
  if (!filter.target_id.empty()) {
    q.where("target_id = :target_id").bindText("target_id", filter.target_id);
  }
}

class SqlAuditRepository final : public AuditRepository {
 public:
  explicit SqlAuditRepository(Db& db) : db_(db) {}

  Status append(const AuditEntry& entry) override {
    return db_.run("audit.append", [&](soci::session& sql) -> Status {
      Query q(
          "INSERT INTO audit_log (actor_id, action, target_type, target_id, details, ip, "
          "created_at) VALUES (:actor_id, :action, :target_type, :target_id, :details, :ip, "
          ":created_at)");
      q.bindText("actor_id", entry.actor_id)
          .bindText("action", entry.action)
          .bindText("target_type", entry.target_type)
          .bindText("target_id", entry.target_id)
          .bindText("details", entry.details.empty() ? std::string("{}") : entry.details)
          .bindText("ip", entry.ip)
          .bindTime("created_at", entry.created_at);
      execute(sql, q);
      return core::okStatus();
    });
  }

  Result<PageOf<AuditEntry>> list(const AuditFilter& filter, const Page& page) override {
    AUREO_ASSIGN_OR_RETURN(const Page checked, checkPage(page));
    return db_.runRead("audit.list", [&](soci::session& sql) -> Result<PageOf<AuditEntry>> {
      PageOf<AuditEntry> out;
      Transaction tx(sql, db_.dialect().beginRead());
      Query count("SELECT COUNT(*) FROM audit_log");
      addFilters(count, filter);
      out.total = queryCount(sql, count);
      Query q(
          "SELECT id, actor_id, action, target_type, target_id, details, ip, created_at FROM "
          "audit_log");
      addFilters(q, filter);
      q.append(" ORDER BY id DESC LIMIT :limit OFFSET :offset")
          .bindInt("limit", checked.limit)
          .bindInt("offset", checked.offset);
      AuditRow row;
      forEachRow(sql, q, row, [&] { out.items.push_back(row.toModel()); });
      tx.commit();
      return out;
    });
  }

 private:
  Db& db_;
};

}  // namespace

std::unique_ptr<AuditRepository> makeAuditRepository(Db& db) {
  return std::make_unique<SqlAuditRepository>(db);
}

}  // namespace aureo::store::internal
