// StatsRepository over SOCI: every figure is an aggregate computed by the
// database, read inside one snapshot so the totals agree with the groups.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

constexpr std::string_view kOpen = "s.status IN ('pending', 'connected')";

struct GroupRow {
  std::string key, name;
  long long sessions_active = 0, bytes_sent = 0, bytes_received = 0;

  void into(soci::statement& st) {
    st.exchange(soci::into(key));
    st.exchange(soci::into(name));
    st.exchange(soci::into(sessions_active));
    st.exchange(soci::into(bytes_sent));
    st.exchange(soci::into(bytes_received));
  }

  [[nodiscard]] Stats::Group toModel() const {
    return {key, name, sessions_active, bytes_sent, bytes_received};
  }
};

// Sums over sessions of each node group; nodes without sessions show zeros.
std::string groupQuery(std::string_view key, std::string_view name, std::string_view order) {
  return "SELECT " + std::string(key) + ", " + std::string(name) + ", COALESCE(SUM(CASE WHEN " +
         std::string(kOpen) +
         " THEN 1 ELSE 0 END), 0), COALESCE(SUM(s.bytes_sent), 0), "
         "COALESCE(SUM(s.bytes_received), 0) FROM vpn_nodes n LEFT JOIN sessions s ON "
         "s.node_id = n.id GROUP BY " +
         std::string(key) + ", " + std::string(name) + " ORDER BY " + std::string(order);
}

class SqlStatsRepository final : public StatsRepository {
 public:
  explicit SqlStatsRepository(Db& db) : db_(db) {}

  Result<Stats> collect() override {
    return db_.runRead("stats.collect", [&](soci::session& sql) -> Result<Stats> {
      Stats out;
      Transaction tx(sql, db_.dialect().beginRead());
      sql << "SELECT COUNT(*), COALESCE(SUM(CASE WHEN is_active = 1 THEN 1 ELSE 0 END), 0) "
             "FROM users",
          soci::into(out.users_total), soci::into(out.users_active);
      sql << "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'online' THEN 1 ELSE 0 END), 0) "
             "FROM vpn_nodes",
          soci::into(out.nodes_total), soci::into(out.nodes_online);
      sql << "SELECT COUNT(*), COALESCE(SUM(CASE WHEN " + std::string(kOpen) +
                 " THEN 1 ELSE 0 END), 0), COALESCE(SUM(s.bytes_sent), 0), "
                 "COALESCE(SUM(s.bytes_received), 0) FROM sessions s",
          soci::into(out.sessions_total), soci::into(out.sessions_active),
          soci::into(out.bytes_sent), soci::into(out.bytes_received);

      GroupRow row;
      Query per_node(groupQuery("n.id", "n.name", "n.name"));
      forEachRow(sql, per_node, row, [&] { out.per_node.push_back(row.toModel()); });
      Query per_country(groupQuery("n.country", "n.country", "n.country"));
      forEachRow(sql, per_country, row, [&] { out.per_country.push_back(row.toModel()); });

      std::string tier;
      long long users = 0;
      soci::statement st = (sql.prepare << "SELECT subscription_tier, COUNT(*) FROM users GROUP "
                                           "BY subscription_tier ORDER BY subscription_tier",
                            soci::into(tier), soci::into(users));
      st.execute(false);
      while (st.fetch()) out.users_by_tier.emplace_back(tier, users);
      tx.commit();
      return out;
    });
  }

 private:
  Db& db_;
};

}  // namespace

std::unique_ptr<StatsRepository> makeStatsRepository(Db& db) {
  return std::make_unique<SqlStatsRepository>(db);
}

}  // namespace aureo::store::internal
