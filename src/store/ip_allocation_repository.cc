// IpAllocationRepository over SOCI. The (node_id, ip) primary key makes an
// address unique per node; allocate() picks the lowest free one inside a
// write transaction that first locks the node's row, so concurrent
// allocations on one node take turns on both backends.
#include <soci/soci.h>

#include <set>

#include "core/ip.h"
#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

constexpr std::string_view kAllocationColumns =
    "node_id, ip, user_id, device_id, session_id, allocated_at";

struct AllocationRow {
  std::string node_id, ip, user_id;
  NullableText device_id, session_id;
  long long allocated_at = 0;

  void into(soci::statement& st) {
    st.exchange(soci::into(node_id));
    st.exchange(soci::into(ip));
    st.exchange(soci::into(user_id));
    st.exchange(soci::into(device_id.value, device_id.ind));
    st.exchange(soci::into(session_id.value, session_id.ind));
    st.exchange(soci::into(allocated_at));
  }

  [[nodiscard]] IpAllocation toModel() const {
    return {node_id, ip, user_id, device_id.get(), session_id.get(), fromMillis(allocated_at)};
  }
};

std::string selectAllocations() {
  return "SELECT " + std::string(kAllocationColumns) + " FROM ip_allocations";
}

std::vector<IpAllocation> fetchAll(soci::session& sql, Query& q) {
  std::vector<IpAllocation> out;
  AllocationRow row;
  forEachRow(sql, q, row, [&] { out.push_back(row.toModel()); });
  return out;
}

}  // namespace

Result<std::string> allocateAddressIn(soci::session& sql, const Dialect& dialect,
                                      const std::string& node_id, const std::string& cidr_text,
                                      const std::string& user_id,
                                      const std::optional<std::string>& session_id,
                                      const std::optional<std::string>& device_id, SystemTime now) {
  const auto cidr = core::Cidr::parse(cidr_text);
  if (!cidr) return core::invalidArgument("malformed tunnel prefix " + cidr_text, "cidr");
  // Offsets 0 (network) and 1 (the node) are reserved; so is the IPv4
  // broadcast address. Offsets beyond 2^32 are never needed: the scan
  // stops at the first gap, and no node holds billions of peers.
  const uint64_t size = cidr->size();
  const uint64_t last = cidr->address().isV4() ? size - 2 : size - 1;
  if (size < 4) return core::invalidArgument("tunnel prefix too small: " + cidr_text, "cidr");
  // Allocations on one node take turns on the node's row (PostgreSQL;
  // SQLite's write transaction already excludes the others), so two
  // cannot pick the same lowest free address. NO KEY UPDATE leaves
  // inserts that reference the node (sessions) free to proceed.
  Query lock("SELECT COUNT(*) FROM (SELECT id FROM vpn_nodes WHERE id = :node_id" +
             std::string(dialect.forNoKeyUpdate()) + ") locked");
  lock.bindText("node_id", node_id);
  queryCount(sql, lock);
  Query q("SELECT ip FROM ip_allocations WHERE node_id = :node_id");
  q.bindText("node_id", node_id);
  std::set<core::IpAddress> taken;
  struct IpRow {
    std::string ip;
    void into(soci::statement& st) { st.exchange(soci::into(ip)); }
  } row;
  forEachRow(sql, q, row, [&] {
    if (auto ip = core::IpAddress::parse(row.ip); ip && cidr->contains(*ip)) taken.insert(*ip);
  });
  std::optional<core::IpAddress> free;
  for (uint64_t offset = 2; offset <= last; ++offset) {
    const core::IpAddress candidate = cidr->address().plus(offset);
    if (taken.count(candidate) == 0) {
      free = candidate;
      break;
    }
  }
  if (!free) return core::resourceExhausted("no free address left in " + cidr_text);
  const std::string ip = free->toString();
  Query insert("INSERT INTO ip_allocations (" + std::string(kAllocationColumns) +
               ") VALUES (:node_id, :ip, :user_id, :device_id, :session_id, :allocated_at)");
  insert.bindText("node_id", node_id)
      .bindText("ip", ip)
      .bindText("user_id", user_id)
      .bindOptText("device_id", device_id)
      .bindOptText("session_id", session_id)
      .bindTime("allocated_at", now);
  execute(sql, insert);
  return ip;
}

namespace {

class SqlIpAllocationRepository final : public IpAllocationRepository {
 public:
  explicit SqlIpAllocationRepository(Db& db) : db_(db) {}

  Result<std::string> allocate(const std::string& node_id, const std::string& cidr_text,
                               const std::string& user_id,
                               const std::optional<std::string>& session_id,
                               const std::optional<std::string>& device_id,
                               SystemTime now) override {
    return db_.run("ip_allocations.allocate", [&](soci::session& sql) -> Result<std::string> {
      Transaction tx(sql, db_.dialect().beginWrite());
      auto ip = allocateAddressIn(sql, db_.dialect(), node_id, cidr_text, user_id, session_id,
                                  device_id, now);
      if (ip.ok()) tx.commit();
      return ip;
    });
  }

  Status release(const std::string& node_id, const std::string& ip) override {
    return db_.run("ip_allocations.release", [&](soci::session& sql) -> Status {
      Query q("DELETE FROM ip_allocations WHERE node_id = :node_id AND ip = :ip");
      q.bindText("node_id", node_id).bindText("ip", ip);
      if (execute(sql, q) == 0) return core::notFound("allocation not found");
      return core::okStatus();
    });
  }

  Result<int64_t> releaseForSession(const std::string& session_id) override {
    return db_.run("ip_allocations.release_for_session",
                   [&](soci::session& sql) -> Result<int64_t> {
                     Query q("DELETE FROM ip_allocations WHERE session_id = :session_id");
                     q.bindText("session_id", session_id);
                     return static_cast<int64_t>(execute(sql, q));
                   });
  }

  Result<std::vector<IpAllocation>> listForNode(const std::string& node_id) override {
    return db_.run("ip_allocations.list_for_node",
                   [&](soci::session& sql) -> Result<std::vector<IpAllocation>> {
                     Query q(selectAllocations());
                     q.where("node_id = :node_id").bindText("node_id", node_id);
                     q.append(" ORDER BY allocated_at, ip");
                     return fetchAll(sql, q);
                   });
  }

  Result<std::vector<IpAllocation>> listOrphans(int64_t limit) override {
    return db_.run("ip_allocations.list_orphans",
                   [&](soci::session& sql) -> Result<std::vector<IpAllocation>> {
                     Query q(selectAllocations() +
                             " a WHERE (a.session_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                             "sessions s WHERE s.id = a.session_id AND s.status IN ('pending', "
                             "'connected'))) OR (a.session_id IS NULL AND a.device_id IS NULL)"
                             " ORDER BY a.allocated_at, a.ip LIMIT :limit");
                     q.bindInt("limit", limit);
                     return fetchAll(sql, q);
                   });
  }

 private:
  Db& db_;
};

}  // namespace

std::unique_ptr<IpAllocationRepository> makeIpAllocationRepository(Db& db) {
  return std::make_unique<SqlIpAllocationRepository>(db);
}

}  // namespace aureo::store::internal
