// NodeRepository over SOCI. protocols is a comma-separated list; filtering by
// one protocol matches a whole item of that list.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
Result<int64_t> bumpPeerVersionIn(soci::session& sql, const std::string& node_id) {
  Query q(
      "UPDATE vpn_nodes SET peer_version = peer_version + 1, current_connections = (SELECT "
      "COUNT(*) FROM sessions s WHERE s.node_id = vpn_nodes.id AND s.status IN ('pending', "
      "'connected')) WHERE id = :id");
  q.bindText("id", node_id);
  if (execute(sql, q) == 0) return core::notFound("node not found");
  Query v("SELECT peer_version FROM vpn_nodes WHERE id = :id");
  v.bindText("id", node_id);
  return static_cast<int64_t>(queryCount(sql, v));
}

namespace {

constexpr std::string_view kNodeColumns =
    "id, name, hostname, public_ip, country, city, status, protocols, max_connections, "
    "current_connections, load_score, cpu_usage, bytes_sent, bytes_received, wg_public_key, "
    "wg_port, openvpn_port, tunnel_ipv4_cidr, tunnel_ipv6_cidr, dns_servers, last_heartbeat, "
    "created_at, updated_at, peer_version, drain_requested, openvpn_transport";

struct NodeRow {
  std::string id, name, hostname, public_ip, country, city, status, protocols;
  long long max_connections = 0, current_connections = 0;
  double load_score = 0, cpu_usage = 0;
  long long bytes_sent = 0, bytes_received = 0;
  std::string wg_public_key;
  long long wg_port = 0, openvpn_port = 0;
  std::string tunnel_ipv4_cidr, tunnel_ipv6_cidr, dns_servers;
  NullableMillis last_heartbeat;
  long long created_at = 0, updated_at = 0, peer_version = 0;
  int drain_requested = 0;
  std::string openvpn_transport;

  void into(soci::statement& st) {
    for (std::string* s :
         {&id, &name, &hostname, &public_ip, &country, &city, &status, &protocols}) {
      st.exchange(soci::into(*s));
    }
    st.exchange(soci::into(max_connections));
    st.exchange(soci::into(current_connections));
    st.exchange(soci::into(load_score));
    st.exchange(soci::into(cpu_usage));
    st.exchange(soci::into(bytes_sent));
    st.exchange(soci::into(bytes_received));
    st.exchange(soci::into(wg_public_key));
    st.exchange(soci::into(wg_port));
    st.exchange(soci::into(openvpn_port));
    st.exchange(soci::into(tunnel_ipv4_cidr));
    st.exchange(soci::into(tunnel_ipv6_cidr));
    st.exchange(soci::into(dns_servers));
    st.exchange(soci::into(last_heartbeat.value, last_heartbeat.ind));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
    st.exchange(soci::into(peer_version));
    st.exchange(soci::into(drain_requested));
    st.exchange(soci::into(openvpn_transport));
  }

  [[nodiscard]] VpnNode toModel() const {
    VpnNode n;
    n.id = id;
    n.name = name;
    n.hostname = hostname;
    n.public_ip = public_ip;
    n.country = country;
    n.city = city;
    n.status = status;
    n.protocols = splitList(protocols);
    n.max_connections = max_connections;
    n.current_connections = current_connections;
    n.load_score = load_score;
    n.cpu_usage = cpu_usage;
    n.bytes_sent = bytes_sent;
    n.bytes_received = bytes_received;
    n.wg_public_key = wg_public_key;
    n.wg_port = wg_port;
    n.openvpn_port = openvpn_port;
    n.tunnel_ipv4_cidr = tunnel_ipv4_cidr;
    n.tunnel_ipv6_cidr = tunnel_ipv6_cidr;
    n.dns_servers = dns_servers;
    n.last_heartbeat = last_heartbeat.get();
    n.created_at = fromMillis(created_at);
    n.updated_at = fromMillis(updated_at);
    n.peer_version = peer_version;
    n.drain_requested = drain_requested != 0;
    n.openvpn_transport = openvpn_transport;
    return n;
  }
};

// Binds every column a write sets; create adds id and created_at.
void bindMutable(Query& q, const VpnNode& n) {
  q.bindText("name", n.name)
      .bindText("hostname", n.hostname)
      .bindText("public_ip", n.public_ip)
      .bindText("country", asciiUpper(n.country))
      .bindText("city", n.city)
      .bindText("status", n.status)
      .bindText("protocols", joinList(n.protocols))
      .bindInt("max_connections", n.max_connections)
      .bindInt("current_connections", n.current_connections)
      .bindReal("load_score", n.load_score)
      .bindReal("cpu_usage", n.cpu_usage)
      .bindInt("bytes_sent", n.bytes_sent)
      .bindInt("bytes_received", n.bytes_received)
      .bindText("wg_public_key", n.wg_public_key)
      .bindInt("wg_port", n.wg_port)
      .bindInt("openvpn_port", n.openvpn_port)
      .bindText("openvpn_transport", n.openvpn_transport)
      .bindText("tunnel_ipv4_cidr", n.tunnel_ipv4_cidr)
      .bindText("tunnel_ipv6_cidr", n.tunnel_ipv6_cidr)
      .bindText("dns_servers", n.dns_servers)
      .bindOptTime("last_heartbeat", n.last_heartbeat)
      .bindInt("drain_requested", n.drain_requested ? 1 : 0)
      .bindTime("updated_at", n.updated_at);
}

class SqlNodeRepository final : public NodeRepository {
 public:
  explicit SqlNodeRepository(Db& db) : db_(db) {}

  Status create(const VpnNode& node) override {
    return db_.run("nodes.create", [&](soci::session& sql) -> Status {
      Query q("INSERT INTO vpn_nodes (" + std::string(kNodeColumns) +
              ") VALUES (:id, :name, :hostname, :public_ip, :country, :city, :status, "
              ":protocols, :max_connections, :current_connections, :load_score, :cpu_usage, "
              ":bytes_sent, :bytes_received, :wg_public_key, :wg_port, :openvpn_port, "
              ":tunnel_ipv4_cidr, :tunnel_ipv6_cidr, :dns_servers, :last_heartbeat, "
              ":created_at, :updated_at, :peer_version, :drain_requested, :openvpn_transport)");
      q.bindText("id", node.id)
          .bindTime("created_at", node.created_at)
          .bindInt("peer_version", node.peer_version);
      bindMutable(q, node);
      execute(sql, q);
      return core::okStatus();
    });
  }

  Result<VpnNode> get(const std::string& id) override {
    return db_.run("nodes.get", [&](soci::session& sql) -> Result<VpnNode> {
      Query q(selectNodes());
      q.where("id = :id").bindText("id", id);
      NodeRow row;
      std::optional<VpnNode> found;
      forEachRow(sql, q, row, [&] { found = row.toModel(); });
      if (!found) return core::notFound("node not found");
      return *std::move(found);
    });
  }

  Result<std::vector<VpnNode>> list(const NodeFilter& filter) override {
    return db_.runRead("nodes.list", [&](soci::session& sql) -> Result<std::vector<VpnNode>> {
      Query q(selectNodes());
      if (!filter.country.empty()) {
        q.where("country = :country").bindText("country", asciiUpper(filter.country));
      }
      if (!filter.city.empty()) q.where("city = :city").bindText("city", filter.city);
      if (!filter.status.empty()) q.where("status = :status").bindText("status", filter.status);
      if (!filter.protocol.empty()) {
        q.where("(',' || protocols || ',') LIKE :protocol ESCAPE '\\'")
            .bindText("protocol", "%," + escapeLike(filter.protocol) + ",%");
      }
      q.append(" ORDER BY name");
      std::vector<VpnNode> out;
      NodeRow row;
      forEachRow(sql, q, row, [&] { out.push_back(row.toModel()); });
      return out;
    });
  }

  Status update(const VpnNode& node) override {
    return db_.run("nodes.update", [&](soci::session& sql) -> Status {
      Query q(
          "UPDATE vpn_nodes SET name = :name, hostname = :hostname, public_ip = :public_ip, "
          "country = :country, city = :city, status = :status, protocols = :protocols, "
          "max_connections = :max_connections, current_connections = :current_connections, "
          "load_score = :load_score, cpu_usage = :cpu_usage, bytes_sent = :bytes_sent, "
          "bytes_received = :bytes_received, wg_public_key = :wg_public_key, wg_port = "
          ":wg_port, openvpn_port = :openvpn_port, openvpn_transport = :openvpn_transport, "
          "tunnel_ipv4_cidr = :tunnel_ipv4_cidr, "
          "tunnel_ipv6_cidr = :tunnel_ipv6_cidr, dns_servers = :dns_servers, last_heartbeat = "
          ":last_heartbeat, drain_requested = :drain_requested, updated_at = :updated_at WHERE id "
          "= :id");
      bindMutable(q, node);
      q.bindText("id", node.id);
      if (execute(sql, q) == 0) return core::notFound("node not found");
      return core::okStatus();
    });
  }

  // Refuses while sessions on the node are open (drain it first); otherwise
  // removes the node with its closed sessions, allocations and credentials.
  Status erase(const std::string& id) override {
    return db_.run("nodes.erase", [&](soci::session& sql) -> Status {
      Transaction tx(sql, db_.dialect().beginWrite());
      Query open_sessions(
          "SELECT COUNT(*) FROM sessions WHERE node_id = :id AND status IN ('pending', "
          "'connected')");
      open_sessions.bindText("id", id);
      if (queryCount(sql, open_sessions) > 0) {
        return core::failedPrecondition("node has open sessions; drain it before deleting");
      }
      static constexpr std::string_view kOwned[] = {
          "DELETE FROM ip_allocations WHERE node_id = :id",
          "DELETE FROM ip_allocations WHERE session_id IN (SELECT id FROM sessions WHERE "
          "node_id = :id)",
          "DELETE FROM node_credentials WHERE node_id = :id",
          "DELETE FROM sessions WHERE node_id = :id",
      };
      for (std::string_view statement : kOwned) {
        Query q{std::string(statement)};
        q.bindText("id", id);
        execute(sql, q);
      }
      Query node("DELETE FROM vpn_nodes WHERE id = :id");
      node.bindText("id", id);
      if (execute(sql, node) == 0) return core::notFound("node not found");
      tx.commit();
      return core::okStatus();
    });
  }

  Result<int64_t> bumpPeerVersion(const std::string& id) override {
    return db_.run("nodes.bump_peer_version", [&](soci::session& sql) -> Result<int64_t> {
      Transaction tx(sql, db_.dialect().beginWrite());
      auto version = bumpPeerVersionIn(sql, id);
      if (version.ok()) tx.commit();
      return version;
    });
  }

  Result<std::vector<std::pair<std::string, int64_t>>> peerVersions() override {
    return db_.run("nodes.peer_versions",
                   [&](soci::session& sql) -> Result<std::vector<std::pair<std::string, int64_t>>> {
                     std::vector<std::pair<std::string, int64_t>> out;
                     std::string id;
                     long long version = 0;
                     soci::statement st =
                         (sql.prepare << "SELECT id, peer_version FROM vpn_nodes ORDER BY id",
                          soci::into(id), soci::into(version));
                     st.execute(false);
                     while (st.fetch()) out.emplace_back(id, version);
                     return out;
                   });
  }

  Status recordAppliedPeerVersion(const std::string& id, int64_t version) override {
    return db_.run("nodes.record_applied_peer_version", [&](soci::session& sql) -> Status {
      Transaction tx(sql, db_.dialect().beginWrite());
      Query q(
          "UPDATE vpn_nodes SET applied_peer_version = :version WHERE id = :id AND "
          "applied_peer_version < :floor");
      q.bindInt("version", version).bindText("id", id).bindInt("floor", version);
      if (execute(sql, q) == 0) {
        Query exists("SELECT COUNT(*) FROM vpn_nodes WHERE id = :id");
        exists.bindText("id", id);
        if (queryCount(sql, exists) == 0) return core::notFound("node not found");
      }
      tx.commit();
      return core::okStatus();
    });
  }

  Result<int64_t> appliedPeerVersion(const std::string& id) override {
    return db_.run("nodes.applied_peer_version", [&](soci::session& sql) -> Result<int64_t> {
      Query exists("SELECT COUNT(*) FROM vpn_nodes WHERE id = :id");
      exists.bindText("id", id);
      if (queryCount(sql, exists) == 0) return core::notFound("node not found");
      Query v("SELECT applied_peer_version FROM vpn_nodes WHERE id = :id");
      v.bindText("id", id);
      return static_cast<int64_t>(queryCount(sql, v));
    });
  }

  Result<std::string> recordHeartbeat(const std::string& id, const NodeHeartbeat& hb,
                                      SystemTime now) override {
    return db_.run("nodes.record_heartbeat", [&](soci::session& sql) -> Result<std::string> {
      Transaction tx(sql, db_.dialect().beginWrite());
      Query q(
          "UPDATE vpn_nodes SET last_heartbeat = :now, updated_at = :updated_at, cpu_usage = :cpu, "
          "bytes_sent = :bytes_sent, bytes_received = :bytes_received, status = CASE WHEN "
          "status = 'maintenance' THEN status WHEN drain_requested = 1 THEN 'draining' ELSE "
          ":status END WHERE id = :id");
      q.bindTime("now", now)
          .bindTime("updated_at", now)
          .bindReal("cpu", hb.cpu_usage)
          .bindInt("bytes_sent", hb.bytes_sent)
          .bindInt("bytes_received", hb.bytes_received)
          .bindText("status", hb.status)
          .bindText("id", id);
      if (execute(sql, q) == 0) return core::notFound("node not found");
      Query s(selectNodes());
      s.where("id = :id").bindText("id", id);
      NodeRow row;
      std::string status;
      forEachRow(sql, s, row, [&] { status = row.status; });
      tx.commit();
      return status;
    });
  }

  Result<std::vector<std::string>> markStaleOffline(SystemTime cutoff, SystemTime now) override {
    return db_.run("nodes.mark_stale_offline",
                   [&](soci::session& sql) -> Result<std::vector<std::string>> {
                     Transaction tx(sql, db_.dialect().beginWrite());
                     constexpr std::string_view kStale =
                         " WHERE status IN ('online', 'draining') AND (last_heartbeat IS NULL OR "
                         "last_heartbeat < :cutoff)";
                     Query q(selectNodes() + std::string(kStale) + " ORDER BY id" +
                             std::string(db_.dialect().forUpdate()));
                     q.bindTime("cutoff", cutoff);
                     std::vector<std::string> ids;
                     NodeRow row;
                     forEachRow(sql, q, row, [&] { ids.push_back(row.id); });
                     Query u("UPDATE vpn_nodes SET status = 'offline', updated_at = :now" +
                             std::string(kStale));
                     u.bindTime("now", now).bindTime("cutoff", cutoff);
                     execute(sql, u);
                     tx.commit();
                     return ids;
                   });
  }

  Status setLoadScore(const std::string& id, double load_score) override {
    return db_.run("nodes.set_load_score", [&](soci::session& sql) -> Status {
      Query q("UPDATE vpn_nodes SET load_score = :score WHERE id = :id");
      q.bindReal("score", load_score).bindText("id", id);
      if (execute(sql, q) == 0) return core::notFound("node not found");
      return core::okStatus();
    });
  }

  Status addProtocol(const std::string& id, const std::string& protocol, SystemTime now) override {
    if (protocol.empty() || protocol.find(',') != std::string::npos) {
      return core::invalidArgument("bad protocol name", "protocol");
    }
    return db_.run("nodes.add_protocol", [&](soci::session& sql) -> Status {
      Query q(
          "UPDATE vpn_nodes SET protocols = CASE WHEN (',' || protocols || ',') LIKE :pattern "
          "THEN protocols WHEN protocols = '' THEN :protocol ELSE protocols || ',' || :protocol "
          "END, updated_at = :now WHERE id = :id");
      q.bindText("pattern", "%," + protocol + ",%")
          .bindText("protocol", protocol)
          .bindTime("now", now)
          .bindText("id", id);
      if (execute(sql, q) == 0) return core::notFound("node not found");
      return core::okStatus();
    });
  }

  Status setStatus(const std::string& id, const std::string& status, SystemTime now) override {
    return db_.run("nodes.set_status", [&](soci::session& sql) -> Status {
      Query q(
          "UPDATE vpn_nodes SET status = :status, drain_requested = :drain, updated_at = :now "
          "WHERE id = :id");
      q.bindText("status", status)
          .bindInt("drain", status == "draining" ? 1 : 0)
          .bindTime("now", now)
          .bindText("id", id);
      if (execute(sql, q) == 0) return core::notFound("node not found");
      return core::okStatus();
    });
  }

  Status setWireGuardKey(const std::string& id, const std::string& public_key,
                         const std::string& hostname, SystemTime now) override {
    return db_.run("nodes.set_wireguard_key", [&](soci::session& sql) -> Status {
      Query q(
          "UPDATE vpn_nodes SET wg_public_key = :key, hostname = CASE WHEN :keep = 1 THEN "
          "hostname ELSE :hostname END, updated_at = :now WHERE id = :id");
      q.bindText("key", public_key)
          .bindInt("keep", hostname.empty() ? 1 : 0)
          .bindText("hostname", hostname)
          .bindTime("now", now)
          .bindText("id", id);
      if (execute(sql, q) == 0) return core::notFound("node not found");
      return core::okStatus();
    });
  }

 private:
  static std::string selectNodes() {
    return "SELECT " + std::string(kNodeColumns) + " FROM vpn_nodes";
  }

  Db& db_;
};

}  // namespace

std::unique_ptr<NodeRepository> makeNodeRepository(Db& db) {
  return std::make_unique<SqlNodeRepository>(db);
}

}  // namespace aureo::store::internal
