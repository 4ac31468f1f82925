// UsageRepository over SOCI: per-user byte counters, one row per period,
// grown with an upsert so concurrent adds never lose bytes.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

struct UsageRow {
  std::string user_id;
  long long period_start = 0, bytes_sent = 0, bytes_received = 0, updated_at = 0;

  void into(soci::statement& st) {
    st.exchange(soci::into(user_id));
    st.exchange(soci::into(period_start));
    st.exchange(soci::into(bytes_sent));
    st.exchange(soci::into(bytes_received));
    st.exchange(soci::into(updated_at));
  }

  [[nodiscard]] Usage toModel() const {
    return {user_id, fromMillis(period_start), bytes_sent, bytes_received, fromMillis(updated_at)};
  }
};

constexpr std::string_view kSelectUsage =
    "SELECT user_id, period_start, bytes_sent, bytes_received, updated_at FROM usage";

class SqlUsageRepository final : public UsageRepository {
 public:
  explicit SqlUsageRepository(Db& db) : db_(db) {}

  Status add(const std::string& user_id, SystemTime period_start, int64_t bytes_sent,
             int64_t bytes_received, SystemTime now) override {
    if (bytes_sent < 0 || bytes_received < 0) {
      return core::invalidArgument("byte counts must not be negative");
    }
    return db_.run("usage.add", [&](soci::session& sql) -> Status {
      Query q(
          "INSERT INTO usage (user_id, period_start, bytes_sent, bytes_received, updated_at) "
          "VALUES (:user_id, :period_start, :sent, :received, :now) ON CONFLICT (user_id, "
          "period_start) DO UPDATE SET bytes_sent = usage.bytes_sent + excluded.bytes_sent, "
          "bytes_received = usage.bytes_received + excluded.bytes_received, updated_at = "
          "excluded.updated_at");
      q.bindText("user_id", user_id)
          .bindTime("period_start", period_start)
          .bindInt("sent", bytes_sent)
          .bindInt("received", bytes_received)
          .bindTime("now", now);
      execute(sql, q);
      return core::okStatus();
    });
  }

  Result<Usage> get(const std::string& user_id, SystemTime period_start) override {
    return db_.run("usage.get", [&](soci::session& sql) -> Result<Usage> {
      Query q{std::string(kSelectUsage)};
      q.where("user_id = :user_id").bindText("user_id", user_id);
      q.where("period_start = :period_start").bindTime("period_start", period_start);
      UsageRow row;
      Usage out{user_id, period_start, 0, 0, period_start};
      forEachRow(sql, q, row, [&] { out = row.toModel(); });
      return out;
    });
  }

  Result<std::vector<Usage>> listForUser(const std::string& user_id) override {
    return db_.run("usage.list_for_user", [&](soci::session& sql) -> Result<std::vector<Usage>> {
      Query q{std::string(kSelectUsage)};
      q.where("user_id = :user_id").bindText("user_id", user_id);
      q.append(" ORDER BY period_start DESC");
      std::vector<Usage> out;
      UsageRow row;
      forEachRow(sql, q, row, [&] { out.push_back(row.toModel()); });
      return out;
    });
  }

 private:
  Db& db_;
};

}  // namespace

std::unique_ptr<UsageRepository> makeUsageRepository(Db& db) {
  return std::make_unique<SqlUsageRepository>(db);
}

}  // namespace aureo::store::internal
