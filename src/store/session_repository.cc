// SessionRepository over SOCI. An open session's tunnel_ip is unique on its
// node through the partial index sessions_node_id_tunnel_ip_key.
#include <soci/soci.h>

#include <algorithm>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

constexpr std::string_view kSessionColumns =
    "id, user_id, node_id, protocol, tunnel_ip, status, client_public_key, client_ip, "
    "connected_at, disconnected_at, last_handshake, bytes_sent, bytes_received, "
    "disconnect_reason, created_at, tunnel_ipv6, reported_rx_bytes, reported_tx_bytes, "
    "credential_hash";

constexpr std::string_view kOpenStatuses = "status IN ('pending', 'connected')";

struct SessionRow {
  std::string id, user_id, node_id, protocol, tunnel_ip, status, client_public_key;
  NullableText client_ip;
  NullableMillis connected_at, disconnected_at, last_handshake;
  long long bytes_sent = 0, bytes_received = 0;
  std::string disconnect_reason;
  long long created_at = 0;
  std::string tunnel_ipv6;
  long long reported_rx_bytes = 0, reported_tx_bytes = 0;
  std::string credential_hash;

  void into(soci::statement& st) {
    for (std::string* s :
         {&id, &user_id, &node_id, &protocol, &tunnel_ip, &status, &client_public_key}) {
      st.exchange(soci::into(*s));
    }
    st.exchange(soci::into(client_ip.value, client_ip.ind));
    st.exchange(soci::into(connected_at.value, connected_at.ind));
    st.exchange(soci::into(disconnected_at.value, disconnected_at.ind));
    st.exchange(soci::into(last_handshake.value, last_handshake.ind));
    st.exchange(soci::into(bytes_sent));
    st.exchange(soci::into(bytes_received));
    st.exchange(soci::into(disconnect_reason));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(tunnel_ipv6));
    st.exchange(soci::into(reported_rx_bytes));
    st.exchange(soci::into(reported_tx_bytes));
    st.exchange(soci::into(credential_hash));
  }

  [[nodiscard]] Session toModel() const {
    Session s;
    s.id = id;
    s.user_id = user_id;
    s.node_id = node_id;
    s.protocol = protocol;
    s.tunnel_ip = tunnel_ip;
    s.status = status;
    s.client_public_key = client_public_key;
    s.client_ip = client_ip.get();
    s.connected_at = connected_at.get();
    s.disconnected_at = disconnected_at.get();
    s.last_handshake = last_handshake.get();
    s.bytes_sent = bytes_sent;
    s.bytes_received = bytes_received;
    s.disconnect_reason = disconnect_reason;
    s.created_at = fromMillis(created_at);
    s.tunnel_ipv6 = tunnel_ipv6;
    s.reported_rx_bytes = reported_rx_bytes;
    s.reported_tx_bytes = reported_tx_bytes;
    s.credential_hash = credential_hash;
    return s;
  }
};

bool isClosed(const std::string& status) {
  return status == "disconnected" || status == "failed";
}

// Binds the columns update() writes. Under the no-logs policy a closed
// session keeps no client address, whatever the caller passed.
void bindMutable(Query& q, const Session& s) {
  q.bindText("protocol", s.protocol)
      .bindText("tunnel_ip", s.tunnel_ip)
      .bindText("tunnel_ipv6", s.tunnel_ipv6)
      .bindText("status", s.status)
      .bindText("client_public_key", s.client_public_key)
      .bindOptText("client_ip", isClosed(s.status) ? std::nullopt : s.client_ip)
      .bindOptTime("connected_at", s.connected_at)
      .bindOptTime("disconnected_at", s.disconnected_at)
      .bindOptTime("last_handshake", s.last_handshake)
      .bindInt("bytes_sent", s.bytes_sent)
      .bindInt("bytes_received", s.bytes_received)
      .bindText("disconnect_reason", s.disconnect_reason);
}

void addFilters(Query& q, const SessionFilter& filter) {
  if (!filter.user_id.empty()) q.where("user_id = :user_id").bindText("user_id", filter.user_id);
  if (!filter.node_id.empty()) q.where("node_id = :node_id").bindText("node_id", filter.node_id);
  if (!filter.statuses.empty()) {
    std::string in = "status IN (";
    for (size_t i = 0; i < filter.statuses.size(); ++i) {
      const std::string name = "status" + std::to_string(i);
      in += (i == 0 ? ":" : ", :") + name;
      q.bindText(name, filter.statuses[i]);
    }
    q.where(in + ")");
  }
}

class SqlSessionRepository final : public SessionRepository {
 public:
  explicit SqlSessionRepository(Db& db) : db_(db) {}

  Status create(const Session& session) override {
    return db_.run("sessions.create", [&](soci::session& sql) -> Status {
      insert(sql, session);
      return core::okStatus();
    });
  }

  Result<NewSession> createWithAddresses(const Session& session, int64_t max_active,
                                         const std::string& ipv4_prefix,
                                         const std::string& ipv6_prefix, SystemTime now) override {
    return db_.run("sessions.create_with_addresses", [&](soci::session& sql) -> Result<NewSession> {
      Transaction tx(sql, db_.dialect().beginWrite());
      AUREO_RETURN_IF_ERROR(checkLimitIn(sql, session.user_id, max_active));
      NewSession out{session, 0};
      Session& s = out.session;
      s.tunnel_ip.clear();
      s.tunnel_ipv6.clear();
      insert(sql, s);  // first: the allocations refer to it
      AUREO_ASSIGN_OR_RETURN(
          s.tunnel_ip, allocateAddressIn(sql, db_.dialect(), s.node_id, ipv4_prefix, s.user_id,
                                         s.id, std::nullopt, now));
      if (!ipv6_prefix.empty()) {
        AUREO_ASSIGN_OR_RETURN(
            s.tunnel_ipv6, allocateAddressIn(sql, db_.dialect(), s.node_id, ipv6_prefix, s.user_id,
                                             s.id, std::nullopt, now));
      }
      Query u(
          "UPDATE sessions SET tunnel_ip = :tunnel_ip, tunnel_ipv6 = :tunnel_ipv6 WHERE id = :id");
      u.bindText("tunnel_ip", s.tunnel_ip)
          .bindText("tunnel_ipv6", s.tunnel_ipv6)
          .bindText("id", s.id);
      execute(sql, u);
      AUREO_ASSIGN_OR_RETURN(out.peer_version, bumpPeerVersionIn(sql, s.node_id));
      tx.commit();
      return out;
    });
  }

  Result<std::vector<Session>> listActiveForNode(const std::string& node_id) override {
    return db_.run("sessions.list_active_for_node",
                   [&](soci::session& sql) -> Result<std::vector<Session>> {
                     Query q(selectSessions());
                     q.where("node_id = :node_id").bindText("node_id", node_id);
                     q.where(kOpenStatuses);
                     q.append(" ORDER BY created_at, id");
                     return fetchAll(sql, q);
                   });
  }

  Result<Session> close(const std::string& id, const std::string& status, const std::string& reason,
                        SystemTime now) override {
    return db_.run("sessions.close", [&](soci::session& sql) -> Result<Session> {
      Transaction tx(sql, db_.dialect().beginWrite());
      Query q(selectSessions());
      q.where("id = :id").bindText("id", id);
      q.append(db_.dialect().forUpdate());
      auto rows = fetchAll(sql, q);
      if (rows.empty()) return core::notFound("session not found");
      if (isClosed(rows.front().status)) return core::failedPrecondition("session already closed");
      Session closed = closeIn(sql, rows.front(), status, reason, now);
      tx.commit();
      return closed;
    });
  }

  Result<std::vector<Session>> closeAllForUser(const std::string& user_id,
                                               const std::string& reason, SystemTime now) override {
    return closeAllWhere("sessions.close_all_for_user", "user_id", user_id, reason, now);
  }

  Result<std::vector<Session>> closeAllForNode(const std::string& node_id,
                                               const std::string& reason, SystemTime now) override {
    return closeAllWhere("sessions.close_all_for_node", "node_id", node_id, reason, now);
  }

  Result<std::vector<Session>> listIdle(SystemTime pending_cutoff,
                                        SystemTime handshake_cutoff) override {
    return db_.run("sessions.list_idle", [&](soci::session& sql) -> Result<std::vector<Session>> {
      Query q(selectSessions());
      q.where(
          "((status = 'pending' AND created_at < :pending_cutoff) OR (status = 'connected' AND "
          "COALESCE(last_handshake, connected_at, created_at) < :handshake_cutoff))");
      q.bindTime("pending_cutoff", pending_cutoff).bindTime("handshake_cutoff", handshake_cutoff);
      q.append(" ORDER BY created_at, id");
      return fetchAll(sql, q);
    });
  }

  Result<AccountingResult> account(const std::string& id, const std::string& node_id,
                                   const PeerCounters& counters, SystemTime usage_period,
                                   SystemTime now) override {
    return db_.run("sessions.account", [&](soci::session& sql) -> Result<AccountingResult> {
      AccountingResult out;
      Transaction tx(sql, db_.dialect().beginWrite());
      Query q(selectSessions());
      q.where("id = :id").bindText("id", id);
      q.where("node_id = :node_id").bindText("node_id", node_id);
      q.where(kOpenStatuses);
      q.append(db_.dialect().forUpdate());
      auto rows = fetchAll(sql, q);
      if (rows.empty()) return out;
      Session s = std::move(rows.front());
      // A counter below the last report means the peer was re-added (the
      // node restarted): it counts from zero again, so all of it is new.
      out.delta_sent = counters.rx_bytes >= s.reported_rx_bytes
                           ? counters.rx_bytes - s.reported_rx_bytes
                           : counters.rx_bytes;
      out.delta_received = counters.tx_bytes >= s.reported_tx_bytes
                               ? counters.tx_bytes - s.reported_tx_bytes
                               : counters.tx_bytes;
      if (counters.last_handshake &&
          (!s.last_handshake || *counters.last_handshake > *s.last_handshake)) {
        s.last_handshake = counters.last_handshake;
      }
      if (s.status == "pending" && counters.last_handshake) {
        s.status = "connected";
        s.connected_at = std::max(*counters.last_handshake, s.created_at);
        out.became_connected = true;
      }
      Query u(
          "UPDATE sessions SET status = :status, connected_at = :connected_at, last_handshake = "
          ":last_handshake, bytes_sent = bytes_sent + :delta_sent, bytes_received = "
          "bytes_received + :delta_received, reported_rx_bytes = :rx, reported_tx_bytes = :tx "
          "WHERE id = :id");
      u.bindText("status", s.status)
          .bindOptTime("connected_at", s.connected_at)
          .bindOptTime("last_handshake", s.last_handshake)
          .bindInt("delta_sent", out.delta_sent)
          .bindInt("delta_received", out.delta_received)
          .bindInt("rx", counters.rx_bytes)
          .bindInt("tx", counters.tx_bytes)
          .bindText("id", id);
      execute(sql, u);
      if (out.delta_sent > 0 || out.delta_received > 0) {
        Query usage(
            "INSERT INTO usage (user_id, period_start, bytes_sent, bytes_received, updated_at) "
            "VALUES (:user_id, :period_start, :sent, :received, :now) ON CONFLICT (user_id, "
            "period_start) DO UPDATE SET bytes_sent = usage.bytes_sent + excluded.bytes_sent, "
            "bytes_received = usage.bytes_received + excluded.bytes_received, updated_at = "
            "excluded.updated_at");
        usage.bindText("user_id", s.user_id)
            .bindTime("period_start", usage_period)
            .bindInt("sent", out.delta_sent)
            .bindInt("received", out.delta_received)
            .bindTime("now", now);
        execute(sql, usage);
      }
      tx.commit();
      out.applied = true;
      return out;
    });
  }

  Result<int64_t> purgeClosedBefore(SystemTime cutoff) override {
    return db_.run("sessions.purge_closed_before", [&](soci::session& sql) -> Result<int64_t> {
      Transaction tx(sql, db_.dialect().beginWrite());
      constexpr std::string_view kClosedBefore =
          "status IN ('disconnected', 'failed') AND COALESCE(disconnected_at, created_at) < "
          ":cutoff";
      Query allocations(
          "DELETE FROM ip_allocations WHERE session_id IN (SELECT id FROM sessions WHERE " +
          std::string(kClosedBefore) + ")");
      allocations.bindTime("cutoff", cutoff);
      execute(sql, allocations);
      Query q("DELETE FROM sessions WHERE " + std::string(kClosedBefore));
      q.bindTime("cutoff", cutoff);
      const auto n = static_cast<int64_t>(execute(sql, q));
      tx.commit();
      return n;
    });
  }

  Result<Session> get(const std::string& id) override {
    return db_.run("sessions.get", [&](soci::session& sql) -> Result<Session> {
      Query q(selectSessions());
      q.where("id = :id").bindText("id", id);
      SessionRow row;
      std::optional<Session> found;
      forEachRow(sql, q, row, [&] { found = row.toModel(); });
      if (!found) return core::notFound("session not found");
      return *std::move(found);
    });
  }

  Result<PageOf<Session>> list(const SessionFilter& filter, const Page& page) override {
    AUREO_ASSIGN_OR_RETURN(const Page checked, checkPage(page));
    return db_.runRead("sessions.list", [&](soci::session& sql) -> Result<PageOf<Session>> {
      PageOf<Session> out;
      Transaction tx(sql, db_.dialect().beginRead());
      Query count("SELECT COUNT(*) FROM sessions");
      addFilters(count, filter);
      out.total = queryCount(sql, count);
      Query q(selectSessions());
      addFilters(q, filter);
      q.append(" ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset")
          .bindInt("limit", checked.limit)
          .bindInt("offset", checked.offset);
      SessionRow row;
      forEachRow(sql, q, row, [&] { out.items.push_back(row.toModel()); });
      tx.commit();
      return out;
    });
  }

  // Writes everything but id, user_id, node_id and created_at.
  Status update(const Session& session) override {
    return db_.run("sessions.update", [&](soci::session& sql) -> Status {
      Query q(
          "UPDATE sessions SET protocol = :protocol, tunnel_ip = :tunnel_ip, tunnel_ipv6 = "
          ":tunnel_ipv6, status = :status, "
          "client_public_key = :client_public_key, client_ip = :client_ip, connected_at = "
          ":connected_at, disconnected_at = :disconnected_at, last_handshake = "
          ":last_handshake, bytes_sent = :bytes_sent, bytes_received = :bytes_received, "
          "disconnect_reason = :disconnect_reason WHERE id = :id");
      bindMutable(q, session);
      q.bindText("id", session.id);
      if (execute(sql, q) == 0) return core::notFound("session not found");
      return core::okStatus();
    });
  }

  Result<int64_t> countActiveForUser(const std::string& user_id) override {
    return db_.run("sessions.count_active_for_user", [&](soci::session& sql) -> Result<int64_t> {
      Query q(
          "SELECT COUNT(*) FROM sessions WHERE user_id = :user_id AND status IN ('pending', "
          "'connected')");
      q.bindText("user_id", user_id);
      return static_cast<int64_t>(queryCount(sql, q));
    });
  }

 private:
  static std::string selectSessions() {
    return "SELECT " + std::string(kSessionColumns) + " FROM sessions";
  }

  static std::vector<Session> fetchAll(soci::session& sql, Query& q) {
    std::vector<Session> out;
    SessionRow row;
    forEachRow(sql, q, row, [&] { out.push_back(row.toModel()); });
    return out;
  }

  static void insert(soci::session& sql, const Session& session) {
    Query q("INSERT INTO sessions (" + std::string(kSessionColumns) +
            ") VALUES (:id, :user_id, :node_id, :protocol, :tunnel_ip, :status, "
            ":client_public_key, :client_ip, :connected_at, :disconnected_at, "
            ":last_handshake, :bytes_sent, :bytes_received, :disconnect_reason, :created_at, "
            ":tunnel_ipv6, :reported_rx_bytes, :reported_tx_bytes, :credential_hash)");
    q.bindText("id", session.id)
        .bindText("user_id", session.user_id)
        .bindText("node_id", session.node_id)
        .bindTime("created_at", session.created_at)
        .bindInt("reported_rx_bytes", session.reported_rx_bytes)
        .bindInt("reported_tx_bytes", session.reported_tx_bytes)
        .bindText("credential_hash", session.credential_hash);
    bindMutable(q, session);
    execute(sql, q);
  }

  // Inside the caller's write transaction: kFailedPrecondition when the
  // user already has max_active open sessions.
  Status checkLimitIn(soci::session& sql, const std::string& user_id, int64_t max_active) {
    // Locks the user's row on PostgreSQL so concurrent creates of one user
    // count one after the other; SQLite's write transaction already does.
    Query lock("SELECT id FROM users WHERE id = :user_id" + std::string(db_.dialect().forUpdate()));
    lock.bindText("user_id", user_id);
    struct IdRow {
      std::string id;
      void into(soci::statement& st) { st.exchange(soci::into(id)); }
    } locked;
    forEachRow(sql, lock, locked, [] {});
    Query count("SELECT COUNT(*) FROM sessions WHERE user_id = :user_id AND " +
                std::string(kOpenStatuses));
    count.bindText("user_id", user_id);
    if (queryCount(sql, count) >= max_active) {
      return core::failedPrecondition("the account is at its limit of " +
                                      std::to_string(max_active) + " concurrent sessions");
    }
    return core::okStatus();
  }

  // Inside the caller's write transaction.
  static Session closeIn(soci::session& sql, Session s, const std::string& status,
                         const std::string& reason, SystemTime now) {
    Query u(
        "UPDATE sessions SET status = :status, disconnect_reason = :reason, disconnected_at = "
        ":now, client_ip = NULL WHERE id = :id");
    u.bindText("status", status)
        .bindText("reason", reason)
        .bindTime("now", now)
        .bindText("id", s.id);
    execute(sql, u);
    Query release("DELETE FROM ip_allocations WHERE session_id = :id");
    release.bindText("id", s.id);
    execute(sql, release);
    s.status = status;
    s.disconnect_reason = reason;
    s.disconnected_at = now;
    s.client_ip.reset();
    return s;
  }

  Result<std::vector<Session>> closeAllWhere(std::string_view op, const std::string& column,
                                             const std::string& value, const std::string& reason,
                                             SystemTime now) {
    return db_.run(op, [&](soci::session& sql) -> Result<std::vector<Session>> {
      Transaction tx(sql, db_.dialect().beginWrite());
      Query q(selectSessions());
      q.where(column + " = :value").bindText("value", value);
      q.where(kOpenStatuses);
      q.append(" ORDER BY created_at, id");
      q.append(db_.dialect().forUpdate());
      std::vector<Session> closed;
      for (Session& s : fetchAll(sql, q)) {
        closed.push_back(closeIn(sql, std::move(s), "disconnected", reason, now));
      }
      tx.commit();
      return closed;
    });
  }

  Db& db_;
};

}  // namespace

std::unique_ptr<SessionRepository> makeSessionRepository(Db& db) {
  return std::make_unique<SqlSessionRepository>(db);
}

}  // namespace aureo::store::internal
