// UserRepository over SOCI. Emails are lower-cased on the way in, so lookups
// and the unique index ignore case without a functional index.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

constexpr std::string_view kUserColumns =
    "id, email, username, password_hash, subscription_tier, role, is_active, created_at, "
    "updated_at";

struct UserRow {
  std::string id, email, username, password_hash, tier, role;
  int is_active = 0;
  long long created_at = 0, updated_at = 0;

  void into(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(email));
    st.exchange(soci::into(username));
    st.exchange(soci::into(password_hash));
    st.exchange(soci::into(tier));
    st.exchange(soci::into(role));
    st.exchange(soci::into(is_active));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
  }

  [[nodiscard]] User toModel() const {
    User u;
    u.id = id;
    u.email = email;
    u.username = username;
    u.password_hash = password_hash;
    u.subscription_tier = tier;
    u.role = role;
    u.is_active = is_active != 0;
    u.created_at = fromMillis(created_at);
    u.updated_at = fromMillis(updated_at);
    return u;
  }
};

std::string selectUsers() {
  return "SELECT " + std::string(kUserColumns) + " FROM users";
}

void addFilters(Query& q, const UserFilter& filter) {
  if (!filter.search.empty()) {
    // Both sides lower-cased: SQLite's LIKE ignores ASCII case, PostgreSQL's
    // does not; this reads the same on both.
    const std::string pattern = "%" + escapeLike(asciiLower(filter.search)) + "%";
    q.where(
        "(email LIKE :search_email ESCAPE '\\' OR LOWER(username) LIKE :search_username ESCAPE "
        "'\\')");
    q.bindText("search_email", pattern).bindText("search_username", pattern);
  }
  if (filter.is_active) {
    q.where("is_active = :is_active").bindInt("is_active", *filter.is_active ? 1 : 0);
  }
  if (!filter.tier.empty()) {
    q.where("subscription_tier = :tier").bindText("tier", filter.tier);
  }
  if (!filter.role.empty()) {
    q.where("role = :role").bindText("role", filter.role);
  }
}

class SqlUserRepository final : public UserRepository {
 public:
  explicit SqlUserRepository(Db& db) : db_(db) {}

  Status create(const User& user) override {
    return db_.run("users.create", [&](soci::session& sql) -> Status {
      Query q("INSERT INTO users (" + std::string(kUserColumns) +
              ") VALUES (:id, :email, :username, :password_hash, :tier, :role, :is_active, "
              ":created_at, :updated_at)");
      q.bindText("id", user.id)
          .bindText("email", asciiLower(user.email))
          .bindText("username", user.username)
          .bindText("password_hash", user.password_hash)
          .bindText("tier", user.subscription_tier)
          .bindText("role", user.role)
          .bindInt("is_active", user.is_active ? 1 : 0)
          .bindTime("created_at", user.created_at)
          .bindTime("updated_at", user.updated_at);
      execute(sql, q);
      return core::okStatus();
    });
  }

  Result<User> get(const std::string& id) override {
    return db_.run("users.get", [&](soci::session& sql) -> Result<User> {
      Query q(selectUsers());
      q.where("id = :id").bindText("id", id);
      return fetchOne(sql, q);
    });
  }

  Result<User> getByEmail(const std::string& email) override {
    return db_.run("users.get_by_email", [&](soci::session& sql) -> Result<User> {
      Query q(selectUsers());
      q.where("email = :email").bindText("email", asciiLower(email));
      return fetchOne(sql, q);
    });
  }

  Result<PageOf<User>> list(const UserFilter& filter, const Page& page) override {
    AUREO_ASSIGN_OR_RETURN(const Page checked, checkPage(page));
    return db_.runRead("users.list", [&](soci::session& sql) -> Result<PageOf<User>> {
      PageOf<User> out;
      Transaction tx(sql, db_.dialect().beginRead());
      Query count("SELECT COUNT(*) FROM users");
      addFilters(count, filter);
      out.total = queryCount(sql, count);
      Query q(selectUsers());
      addFilters(q, filter);
      q.append(" ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset")
          .bindInt("limit", checked.limit)
          .bindInt("offset", checked.offset);
      UserRow row;
      forEachRow(sql, q, row, [&] { out.items.push_back(row.toModel()); });
      tx.commit();
      return out;
    });
  }

  Status update(const User& user) override {
    return db_.run("users.update", [&](soci::session& sql) -> Status {
      Query q(
          "UPDATE users SET email = :email, username = :username, password_hash = "
          ":password_hash, subscription_tier = :tier, role = :role, is_active = :is_active, "
          "updated_at = :updated_at WHERE id = :id");
      q.bindText("email", asciiLower(user.email))
          .bindText("username", user.username)
          .bindText("password_hash", user.password_hash)
          .bindText("tier", user.subscription_tier)
          .bindText("role", user.role)
          .bindInt("is_active", user.is_active ? 1 : 0)
          .bindTime("updated_at", user.updated_at)
          .bindText("id", user.id);
      if (execute(sql, q) == 0) return core::notFound("user not found");
      return core::okStatus();
    });
  }

  Status erase(const std::string& id) override {
    return db_.run("users.erase", [&](soci::session& sql) -> Status {
      Transaction tx(sql, db_.dialect().beginWrite());
      // Children first: the foreign keys have no ON DELETE actions.
      static constexpr std::string_view kOwned[] = {
          "DELETE FROM ip_allocations WHERE user_id = :id",
          ("DELETE FROM ip_allocations WHERE session_id IN (SELECT id FROM sessions WHERE "
           "user_id = :id)"),
          "DELETE FROM sessions WHERE user_id = :id",
          "DELETE FROM refresh_tokens WHERE user_id = :id",
          "DELETE FROM api_keys WHERE user_id = :id",
          ("DELETE FROM ip_allocations WHERE device_id IN (SELECT id FROM devices WHERE "
           "user_id = :id)"),
          "DELETE FROM devices WHERE user_id = :id",
          "DELETE FROM usage WHERE user_id = :id",
      };
      for (std::string_view statement : kOwned) {
        Query q{std::string(statement)};
        q.bindText("id", id);
        execute(sql, q);
      }
      Query user("DELETE FROM users WHERE id = :id");
      user.bindText("id", id);
      if (execute(sql, user) == 0) return core::notFound("user not found");  // tx rolls back
      tx.commit();
      return core::okStatus();
    });
  }

  Result<int64_t> count() override {
    return db_.run("users.count", [&](soci::session& sql) -> Result<int64_t> {
      Query q("SELECT COUNT(*) FROM users");
      return static_cast<int64_t>(queryCount(sql, q));
    });
  }

 private:
  static Result<User> fetchOne(soci::session& sql, Query& q) {
    UserRow row;
    std::optional<User> found;
    forEachRow(sql, q, row, [&] { found = row.toModel(); });
    if (!found) return core::notFound("user not found");
    return *std::move(found);
  }

  Db& db_;
};

}  // namespace

std::unique_ptr<UserRepository> makeUserRepository(Db& db) {
  return std::make_unique<SqlUserRepository>(db);
}

}  // namespace aureo::store::internal
