// DeviceRepository over SOCI: a user's registered WireGuard public keys.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

constexpr std::string_view kDeviceColumns =
    "id, user_id, name, public_key, created_at, last_seen_at";

struct DeviceRow {
  std::string id, user_id, name, public_key;
  long long created_at = 0;
  NullableMillis last_seen_at;

  void into(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(user_id));
    st.exchange(soci::into(name));
    st.exchange(soci::into(public_key));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(last_seen_at.value, last_seen_at.ind));
  }

  [[nodiscard]] Device toModel() const {
    return {id, user_id, name, public_key, fromMillis(created_at), last_seen_at.get()};
  }
};

class SqlDeviceRepository final : public DeviceRepository {
 public:
  explicit SqlDeviceRepository(Db& db) : db_(db) {}

  Status create(const Device& d) override {
    return db_.run("devices.create", [&](soci::session& sql) -> Status {
      Query q("INSERT INTO devices (" + std::string(kDeviceColumns) +
              ") VALUES (:id, :user_id, :name, :public_key, :created_at, :last_seen_at)");
      q.bindText("id", d.id)
          .bindText("user_id", d.user_id)
          .bindText("name", d.name)
          .bindText("public_key", d.public_key)
          .bindTime("created_at", d.created_at)
          .bindOptTime("last_seen_at", d.last_seen_at);
      execute(sql, q);
      return core::okStatus();
    });
  }

  Result<Device> get(const std::string& id) override { return getOne("devices.get", "id", id); }

  Result<Device> getByPublicKey(const std::string& public_key) override {
    return getOne("devices.get_by_public_key", "public_key", public_key);
  }

  Result<std::vector<Device>> listForUser(const std::string& user_id) override {
    return db_.run("devices.list_for_user", [&](soci::session& sql) -> Result<std::vector<Device>> {
      Query q(select());
      q.where("user_id = :user_id").bindText("user_id", user_id);
      q.append(" ORDER BY created_at, id");
      std::vector<Device> out;
      DeviceRow row;
      forEachRow(sql, q, row, [&] { out.push_back(row.toModel()); });
      return out;
    });
  }

  Status touch(const std::string& id, SystemTime now) override {
    return db_.run("devices.touch", [&](soci::session& sql) -> Status {
      Query q("UPDATE devices SET last_seen_at = :now WHERE id = :id");
      q.bindTime("now", now).bindText("id", id);
      if (execute(sql, q) == 0) return core::notFound("device not found");
      return core::okStatus();
    });
  }

  Status erase(const std::string& id) override {
    return db_.run("devices.erase", [&](soci::session& sql) -> Status {
      Transaction tx(sql, db_.dialect().beginWrite());
      Query allocations("DELETE FROM ip_allocations WHERE device_id = :id");
      allocations.bindText("id", id);
      execute(sql, allocations);
      Query q("DELETE FROM devices WHERE id = :id");
      q.bindText("id", id);
      if (execute(sql, q) == 0) return core::notFound("device not found");
      tx.commit();
      return core::okStatus();
    });
  }

 private:
  static std::string select() { return "SELECT " + std::string(kDeviceColumns) + " FROM devices"; }

  Result<Device> getOne(std::string_view op, const std::string& column, const std::string& value) {
    return db_.run(op, [&](soci::session& sql) -> Result<Device> {
      Query q(select());
      q.where(column + " = :value").bindText("value", value);
      DeviceRow row;
      std::optional<Device> found;
      forEachRow(sql, q, row, [&] { found = row.toModel(); });
      if (!found) return core::notFound("device not found");
      return *std::move(found);
    });
  }

  Db& db_;
};

}  // namespace

std::unique_ptr<DeviceRepository> makeDeviceRepository(Db& db) {
  return std::make_unique<SqlDeviceRepository>(db);
}

}  // namespace aureo::store::internal
