// SessionRepository over SOCI. An open session's tunnel_ip is unique on its
// node through the partial index sessions_node_id_tunnel_ip_key.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

constexpr std::string_view kSessionColumns =
    "id, user_id, node_id, protocol, tunnel_ip, status, client_public_key, client_ip, "
    "connected_at, disconnected_at, last_handshake, bytes_sent, bytes_received, "
    "disconnect_reason, created_at";

struct SessionRow {
  std::string id, user_id, node_id, protocol, tunnel_ip, status, client_public_key;
  NullableText client_ip;
  NullableMillis connected_at, disconnected_at, last_handshake;
  long long bytes_sent = 0, bytes_received = 0;
  std::string disconnect_reason;
  long long created_at = 0;

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
      Query q("INSERT INTO sessions (" + std::string(kSessionColumns) +
              ") VALUES (:id, :user_id, :node_id, :protocol, :tunnel_ip, :status, "
              ":client_public_key, :client_ip, :connected_at, :disconnected_at, "
              ":last_handshake, :bytes_sent, :bytes_received, :disconnect_reason, :created_at)");
      q.bindText("id", session.id)
          .bindText("user_id", session.user_id)
          .bindText("node_id", session.node_id)
          .bindTime("created_at", session.created_at);
      bindMutable(q, session);
      execute(sql, q);
      return core::okStatus();
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
    return db_.run("sessions.list", [&](soci::session& sql) -> Result<PageOf<Session>> {
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
          "UPDATE sessions SET protocol = :protocol, tunnel_ip = :tunnel_ip, status = :status, "
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

  Db& db_;
};

}  // namespace

std::unique_ptr<SessionRepository> makeSessionRepository(Db& db) {
  return std::make_unique<SqlSessionRepository>(db);
}

}  // namespace aureo::store::internal
