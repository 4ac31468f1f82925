// SecretRepository over SOCI: named, sealed deployment secrets. The name is
// the primary key, so of two processes creating one at once the second gets
// kAlreadyExists and reads the first one's value.
#include <soci/soci.h>

#include "store/internal/db.h"
#include "store/internal/repositories.h"

namespace aureo::store::internal {
namespace {

struct SecretRow {
  std::string name, value;
  long long created_at = 0;

  void into(soci::statement& st) {
    st.exchange(soci::into(name));
    st.exchange(soci::into(value));
    st.exchange(soci::into(created_at));
  }
};

class SqlSecretRepository final : public SecretRepository {
 public:
  explicit SqlSecretRepository(Db& db) : db_(db) {}

  Result<StoredSecret> get(const std::string& name) override {
    return db_.run("secrets.get", [&](soci::session& sql) -> Result<StoredSecret> {
      Query q("SELECT name, value, created_at FROM secrets WHERE name = :name");
      q.bindText("name", name);
      SecretRow row;
      std::optional<StoredSecret> out;
      forEachRow(sql, q, row, [&] {
        out = StoredSecret{row.name, row.value, fromMillis(row.created_at)};
      });
      if (!out) return core::notFound("secret not found");
      return std::move(*out);
    });
  }

  Status insert(const StoredSecret& secret) override {
    return db_.run("secrets.insert", [&](soci::session& sql) -> Status {
      Query q("INSERT INTO secrets (name, value, created_at) VALUES (:name, :value, :created_at)");
      q.bindText("name", secret.name)
          .bindText("value", secret.value)
          .bindTime("created_at", secret.created_at);
      execute(sql, q);
      return core::okStatus();
    });
  }

 private:
  Db& db_;
};

}  // namespace

std::unique_ptr<SecretRepository> makeSecretRepository(Db& db) {
  return std::make_unique<SqlSecretRepository>(db);
}

}  // namespace aureo::store::internal
