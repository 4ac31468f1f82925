// The store contract: every behaviour callers may rely on, written once and
// run against each backend. A backend joins by adding a TestDatabase
// implementation and an entry to backends() at the bottom. PostgreSQL runs
// when AUREO_TEST_POSTGRES_URL names a server (ctest's `postgres` fixture
// sets it); each test gets a schema of its own there.
#include "store/store.h"

#include <gtest/gtest.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.h"
#include "store/internal/dialect.h"
#include "store/internal/migrations.h"

namespace aureo::store {
namespace {

using core::Code;

SystemTime at(int64_t ms) {
  return SystemTime{std::chrono::milliseconds{ms}};
}

constexpr int64_t kT0 = 1'700'000'000'000;  // ms; every time in these tests is whole ms

// One database for one test: opened, closed and reopened through the public
// API, plus raw SQL for what the interfaces do not expose (tables without a
// repository yet, counting rows). Raw SQL here carries only literals the
// test wrote.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  virtual Result<std::unique_ptr<Store>> open(QueryObserver observer = {}) = 0;
  virtual void exec(const std::string& sql) = 0;
  virtual int64_t queryInt(const std::string& sql) = 0;
};

class SqliteTestDatabase final : public TestDatabase {
 public:
  SqliteTestDatabase() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aureo_store_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    // A missing parent directory: openStore has to create it.
    path_ = (dir_ / "nested" / "aureo.db").string();
  }
  ~SqliteTestDatabase() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Result<std::unique_ptr<Store>> open(QueryObserver observer) override {
    StoreOptions options;
    options.url = "sqlite:" + path_;
    options.pool_size = 8;
    options.busy_timeout = std::chrono::seconds(30);  // the machine is shared and noisy
    options.observer = std::move(observer);
    return openStore(options);
  }

  void exec(const std::string& sql) override {
    soci::session session(soci::sqlite3, "db=\"" + path_ + "\" timeout=30");
    session << "PRAGMA foreign_keys = ON";
    session << sql;
  }

  int64_t queryInt(const std::string& sql) override {
    soci::session session(soci::sqlite3, "db=\"" + path_ + "\" timeout=30");
    long long v = 0;
    session << sql, soci::into(v);
    return v;
  }

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

// The PostgreSQL server the suite runs against, or empty.
std::string postgresUrl() {
  const char* url = std::getenv("AUREO_TEST_POSTGRES_URL");
  return url == nullptr ? std::string() : std::string(url);
}

// Appends libpq URI parameters.
std::string withParams(const std::string& url, const std::string& params) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + params;
}

// What SOCI's PostgreSQL backend needs for a URL (it does not read URIs).
std::string connectString(const std::string& url) {
  auto converted = internal::postgresConnectString(url, "url", std::chrono::seconds(10));
  if (!converted.ok()) throw std::runtime_error(converted.error().toString());
  return *converted;
}

// A fresh schema in the test server, dropped afterwards; the store reaches
// it through search_path in the URL.
class PostgresTestDatabase final : public TestDatabase {
 public:
  explicit PostgresTestDatabase(std::string app_name = "aureo_store_test")
      : schema_("t_" + core::newUuid().substr(0, 8)) {
    const std::string base = postgresUrl();
    if (base.empty()) throw std::runtime_error("AUREO_TEST_POSTGRES_URL is not set");
    for (char& c : schema_) {
      if (c == '-') c = '_';
    }
    admin_url_ = connectString(base);
    url_ = withParams(base, "options=-csearch_path%3D" + schema_ + "&application_name=" + app_name);
    soci::session admin(soci::postgresql, admin_url_);
    admin << "SET client_min_messages = warning";
    admin << "CREATE SCHEMA " + schema_;
  }
  ~PostgresTestDatabase() override {
    try {
      soci::session admin(soci::postgresql, admin_url_);
      admin << "SET client_min_messages = warning";
      admin << "DROP SCHEMA " + schema_ + " CASCADE";
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): best effort
    }
  }

  Result<std::unique_ptr<Store>> open(QueryObserver observer) override {
    return openStore(options(std::move(observer)));
  }

  [[nodiscard]] StoreOptions options(QueryObserver observer = {}) const {
    StoreOptions options;
    options.url = url_;
    options.pool_size = 8;
    options.acquire_timeout = std::chrono::seconds(60);  // the machine is shared and noisy
    options.statement_timeout = std::chrono::seconds(60);
    options.observer = std::move(observer);
    return options;
  }

  void exec(const std::string& sql) override {
    soci::session session(soci::postgresql, connectString(url_));
    session << sql;
  }

  int64_t queryInt(const std::string& sql) override {
    soci::session session(soci::postgresql, connectString(url_));
    long long v = 0;
    session << sql, soci::into(v);
    return v;
  }

  [[nodiscard]] const std::string& url() const { return url_; }
  [[nodiscard]] const std::string& schema() const { return schema_; }

 private:
  std::string schema_;
  std::string admin_url_;
  std::string url_;
};

struct Backend {
  std::string name;
  std::function<std::unique_ptr<TestDatabase>()> make;
};

void PrintTo(const Backend& backend, std::ostream* os) {
  *os << backend.name;
}

User makeUser(const std::string& tag, int64_t ms = kT0) {
  User u;
  u.id = "user-" + tag;
  u.email = tag + "@example.com";
  u.username = tag;
  u.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$salt$" + tag;
  u.created_at = at(ms);
  u.updated_at = at(ms);
  return u;
}

VpnNode makeNode(const std::string& tag, const std::string& country = "DE",
                 const std::string& city = "Berlin") {
  VpnNode n;
  n.id = "node-" + tag;
  n.name = tag;
  n.hostname = tag + ".vpn.example.com";
  n.public_ip = "203.0.113.10";
  n.country = country;
  n.city = city;
  n.status = "online";
  n.created_at = at(kT0);
  n.updated_at = at(kT0);
  return n;
}

Session makeSession(const std::string& tag, const std::string& user_id, const std::string& node_id,
                    const std::string& tunnel_ip, int64_t ms = kT0) {
  Session s;
  s.id = "session-" + tag;
  s.user_id = user_id;
  s.node_id = node_id;
  s.tunnel_ip = tunnel_ip;
  s.client_public_key = "pubkey-" + tag;
  s.client_ip = "198.51.100.7";
  s.created_at = at(ms);
  return s;
}

RefreshToken makeToken(const std::string& tag, const std::string& user_id,
                       const std::string& family, int64_t expires_ms = kT0 + 7 * 86'400'000) {
  RefreshToken t;
  t.id = "jti-" + tag;
  t.user_id = user_id;
  t.family_id = family;
  t.token_hash = "hash-" + tag;
  t.created_at = at(kT0);
  t.expires_at = at(expires_ms);
  return t;
}

class StoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = GetParam().make();
    auto opened = db_->open();
    ASSERT_TRUE(opened.ok()) << opened.error().toString();
    store_ = std::move(opened).value();
  }

  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  void reopen(QueryObserver observer = {}) {
    store_.reset();
    auto opened = db_->open(std::move(observer));
    ASSERT_TRUE(opened.ok()) << opened.error().toString();
    store_ = std::move(opened).value();
  }

  void addUser(const User& u) { ASSERT_TRUE(store_->users().create(u).ok()); }
  void addNode(const VpnNode& n) { ASSERT_TRUE(store_->nodes().create(n).ok()); }
  void addSession(const Session& s) {
    auto status = store_->sessions().create(s);
    ASSERT_TRUE(status.ok()) << status.error().toString();
  }

  std::vector<std::string> searchUsernames(const std::string& search) {
    UserFilter filter;
    filter.search = search;
    auto page = store_->users().list(filter, Page{100, 0});
    EXPECT_TRUE(page.ok());
    std::vector<std::string> names;
    if (!page.ok()) return names;
    for (const User& u : page->items) names.push_back(u.username);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;
};

// ---------------------------------------------------------------- users

TEST_P(StoreContractTest, UserCreateThenGetReturnsEveryField) {
  User u = makeUser("alice");
  u.subscription_tier = "premium";
  u.role = "admin";
  u.is_active = false;
  u.updated_at = at(kT0 + 5);
  addUser(u);

  auto got = store_->users().get(u.id);
  ASSERT_TRUE(got.ok()) << got.error().toString();
  EXPECT_EQ(got->id, u.id);
  EXPECT_EQ(got->email, "alice@example.com");
  EXPECT_EQ(got->username, "alice");
  EXPECT_EQ(got->password_hash, u.password_hash);
  EXPECT_EQ(got->subscription_tier, "premium");
  EXPECT_EQ(got->role, "admin");
  EXPECT_FALSE(got->is_active);
  EXPECT_EQ(got->created_at, at(kT0));
  EXPECT_EQ(got->updated_at, at(kT0 + 5));
}

TEST_P(StoreContractTest, UserGetOfUnknownIdIsNotFound) {
  EXPECT_EQ(store_->users().get("no-such-id").error().code, Code::kNotFound);
  EXPECT_EQ(store_->users().getByEmail("nobody@example.com").error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, UserEmailIsStoredLowerCasedAndLookedUpIgnoringCase) {
  User u = makeUser("bob");
  u.email = "Bob.Smith@Example.COM";
  addUser(u);
  for (const char* email :
       {"bob.smith@example.com", "BOB.SMITH@EXAMPLE.COM", "bOb.SmItH@eXaMpLe.CoM"}) {
    auto got = store_->users().getByEmail(email);
    ASSERT_TRUE(got.ok()) << email;
    EXPECT_EQ(got->id, u.id);
    EXPECT_EQ(got->email, "bob.smith@example.com");
  }
}

TEST_P(StoreContractTest, UserCreateClashesOnEmailIgnoringCaseOnUsernameAndOnId) {
  addUser(makeUser("carol"));

  User same_email_other_case = makeUser("carol2");
  same_email_other_case.email = "CAROL@Example.com";
  EXPECT_EQ(store_->users().create(same_email_other_case).error().code, Code::kAlreadyExists);

  User same_username = makeUser("carol3");
  same_username.username = "carol";
  EXPECT_EQ(store_->users().create(same_username).error().code, Code::kAlreadyExists);

  User same_id = makeUser("carol4");
  same_id.id = "user-carol";
  EXPECT_EQ(store_->users().create(same_id).error().code, Code::kAlreadyExists);

  EXPECT_EQ(*store_->users().count(), 1);
}

TEST_P(StoreContractTest, UserErrorMessagesDoNotCarryBoundValues) {
  User first = makeUser("dave");
  addUser(first);
  User clash = makeUser("dave2");
  clash.email = first.email;
  clash.password_hash = "$argon2id$SECRET-HASH-MUST-NOT-LEAK";
  auto status = store_->users().create(clash);
  ASSERT_EQ(status.error().code, Code::kAlreadyExists);
  EXPECT_EQ(status.error().message.find("SECRET-HASH-MUST-NOT-LEAK"), std::string::npos)
      << status.error().message;
}

TEST_P(StoreContractTest, UserConcurrentCreatesOfOneEmailLetExactlyOneSucceed) {
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<Code> codes(kThreads, Code::kUnknown);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      User u = makeUser("racer" + std::to_string(i));
      u.email = i % 2 == 0 ? "race@example.com" : "RACE@example.com";
      start.arrive_and_wait();
      auto status = store_->users().create(u);
      codes[i] = status.ok() ? Code::kOk : status.error().code;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(codes.begin(), codes.end(), Code::kOk), 1);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), Code::kAlreadyExists), kThreads - 1);
  EXPECT_EQ(*store_->users().count(), 1);
}

TEST_P(StoreContractTest, UserInjectionStringsAreStoredVerbatimAndSearchedLiterally) {
  User u = makeUser("mallory");
  u.username = "Robert'); DROP TABLE users;--";
  u.email = "x' OR '1'='1@example.com";
  u.password_hash = "\"; DELETE FROM users; --";
  addUser(u);
  addUser(makeUser("innocent"));

  auto got = store_->users().getByEmail("X' OR '1'='1@EXAMPLE.COM");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->username, u.username);
  EXPECT_EQ(got->password_hash, u.password_hash);
  EXPECT_EQ(store_->users().getByEmail("' OR '1'='1").error().code, Code::kNotFound);

  EXPECT_EQ(searchUsernames("'); DROP"), std::vector<std::string>{u.username});
  EXPECT_EQ(searchUsernames("' OR '1'='1"), std::vector<std::string>{u.username});
  EXPECT_EQ(*store_->users().count(), 2);
}

TEST_P(StoreContractTest, UserSearchTreatsLikeWildcardsLiterally) {
  for (const char* name : {"a_b", "axb", "100%", "1000", "back\\slash", "backxslash"}) {
    User u = makeUser(name);
    u.id = std::string("id-") + name;
    u.email = std::string("e") + std::to_string(std::hash<std::string>{}(name)) + "@example.com";
    addUser(u);
  }
  EXPECT_EQ(searchUsernames("_"), std::vector<std::string>{"a_b"});
  EXPECT_EQ(searchUsernames("%"), std::vector<std::string>{"100%"});
  EXPECT_EQ(searchUsernames("\\"), std::vector<std::string>{"back\\slash"});
  EXPECT_EQ(searchUsernames("AXB"), std::vector<std::string>{"axb"});  // case-insensitive
  EXPECT_EQ(searchUsernames("10"), (std::vector<std::string>{"100%", "1000"}));
}

TEST_P(StoreContractTest, UserSearchMatchesEmailOrUsername) {
  User u = makeUser("erin");
  u.email = "erin@corp.example";
  u.username = "Zed";
  addUser(u);
  addUser(makeUser("frank"));
  EXPECT_EQ(searchUsernames("corp.example"), std::vector<std::string>{"Zed"});
  EXPECT_EQ(searchUsernames("zed"), std::vector<std::string>{"Zed"});
}

TEST_P(StoreContractTest, UserListPagesNewestFirstWithTotalAndFilters) {
  for (int i = 0; i < 5; ++i) {
    User u = makeUser("u" + std::to_string(i), kT0 + i);
    u.is_active = i != 3;
    u.subscription_tier = i % 2 == 0 ? "free" : "premium";
    addUser(u);
  }
  auto first = store_->users().list({}, Page{2, 0});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->total, 5);
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_EQ(first->items[0].username, "u4");
  EXPECT_EQ(first->items[1].username, "u3");
  auto last = store_->users().list({}, Page{2, 4});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->total, 5);
  ASSERT_EQ(last->items.size(), 1u);
  EXPECT_EQ(last->items[0].username, "u0");
  auto beyond = store_->users().list({}, Page{2, 10});
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(beyond->total, 5);
  EXPECT_TRUE(beyond->items.empty());

  UserFilter inactive;
  inactive.is_active = false;
  auto only_inactive = store_->users().list(inactive, Page{});
  ASSERT_TRUE(only_inactive.ok());
  EXPECT_EQ(only_inactive->total, 1);
  ASSERT_EQ(only_inactive->items.size(), 1u);
  EXPECT_EQ(only_inactive->items[0].username, "u3");

  UserFilter premium_active;
  premium_active.tier = "premium";
  premium_active.is_active = true;
  auto both = store_->users().list(premium_active, Page{});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->total, 1);  // u1 (u3 is premium but inactive)
  ASSERT_EQ(both->items.size(), 1u);
  EXPECT_EQ(both->items[0].username, "u1");

  auto admin = store_->users().get(both->items[0].id);
  ASSERT_TRUE(admin.ok());
  admin->role = "admin";
  ASSERT_TRUE(store_->users().update(*admin).ok());
  UserFilter admins;
  admins.role = "admin";
  auto only_admins = store_->users().list(admins, Page{});
  ASSERT_TRUE(only_admins.ok());
  EXPECT_EQ(only_admins->total, 1);
  EXPECT_EQ(only_admins->items[0].username, "u1");
}

TEST_P(StoreContractTest, UserListRejectsBadPagesAndCapsLongOnes) {
  EXPECT_EQ(store_->users().list({}, Page{0, 0}).error().code, Code::kInvalidArgument);
  EXPECT_EQ(store_->users().list({}, Page{10, -1}).error().code, Code::kInvalidArgument);
  EXPECT_TRUE(store_->users().list({}, Page{1'000'000, 0}).ok());
}

TEST_P(StoreContractTest, UserUpdateWritesMutableFieldsAndReportsMissingOrClashingRows) {
  addUser(makeUser("gina"));
  addUser(makeUser("hank"));
  User u = *store_->users().get("user-gina");
  u.email = "Gina.New@Example.com";
  u.username = "gina_new";
  u.password_hash = "$argon2id$new";
  u.subscription_tier = "enterprise";
  u.role = "admin";
  u.is_active = false;
  u.updated_at = at(kT0 + 1000);
  u.created_at = at(1);  // not a mutable column
  ASSERT_TRUE(store_->users().update(u).ok());

  auto got = store_->users().get("user-gina");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->email, "gina.new@example.com");
  EXPECT_EQ(got->username, "gina_new");
  EXPECT_EQ(got->password_hash, "$argon2id$new");
  EXPECT_EQ(got->subscription_tier, "enterprise");
  EXPECT_EQ(got->role, "admin");
  EXPECT_FALSE(got->is_active);
  EXPECT_EQ(got->updated_at, at(kT0 + 1000));
  EXPECT_EQ(got->created_at, at(kT0));

  User clash = *store_->users().get("user-hank");
  clash.email = "GINA.NEW@example.com";
  EXPECT_EQ(store_->users().update(clash).error().code, Code::kAlreadyExists);

  User missing = makeUser("nobody");
  EXPECT_EQ(store_->users().update(missing).error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, UserEraseRemovesEverythingOwnedAndKeepsAudit) {
  addUser(makeUser("ivan"));
  addUser(makeUser("judy"));
  addNode(makeNode("fra-1"));
  addSession(makeSession("ivan1", "user-ivan", "node-fra-1", "10.8.0.2"));
  addSession(makeSession("judy1", "user-judy", "node-fra-1", "10.8.0.3"));
  ASSERT_TRUE(store_->refreshTokens().create(makeToken("ivan", "user-ivan", "fam-ivan")).ok());
  ASSERT_TRUE(store_->refreshTokens().create(makeToken("judy", "user-judy", "fam-judy")).ok());
  AuditEntry entry;
  entry.actor_id = "user-ivan";
  entry.action = "user.login";
  entry.created_at = at(kT0);
  ASSERT_TRUE(store_->audit().append(entry).ok());
  db_->exec(
      "INSERT INTO devices (id, user_id, name, public_key, created_at) VALUES ('dev-ivan', "
      "'user-ivan', 'laptop', 'pk-ivan', 1)");
  db_->exec(
      "INSERT INTO ip_allocations (node_id, ip, user_id, device_id, session_id, allocated_at) "
      "VALUES ('node-fra-1', '10.8.0.2', 'user-ivan', 'dev-ivan', 'session-ivan1', 1)");
  db_->exec(
      "INSERT INTO usage (user_id, period_start, bytes_sent, bytes_received, updated_at) VALUES "
      "('user-ivan', 0, 10, 20, 1)");
  db_->exec(
      "INSERT INTO api_keys (id, user_id, name, key_prefix, key_hash, created_at) VALUES "
      "('key-ivan', 'user-ivan', 'ci', 'ak_', 'kh-ivan', 1)");

  ASSERT_TRUE(store_->users().erase("user-ivan").ok());

  EXPECT_EQ(store_->users().get("user-ivan").error().code, Code::kNotFound);
  EXPECT_EQ(store_->sessions().get("session-ivan1").error().code, Code::kNotFound);
  EXPECT_EQ(store_->refreshTokens().getByHash("hash-ivan").error().code, Code::kNotFound);
  for (const char* table : {"devices", "ip_allocations", "usage", "api_keys"}) {
    EXPECT_EQ(db_->queryInt(std::string("SELECT COUNT(*) FROM ") + table +
                            " WHERE user_id = 'user-ivan'"),
              0)
        << table;
  }
  auto audit = store_->audit().list({}, Page{});
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->items.size(), 1u);
  EXPECT_EQ(audit->items[0].actor_id, "user-ivan");

  // The other user is untouched.
  EXPECT_TRUE(store_->users().get("user-judy").ok());
  EXPECT_TRUE(store_->sessions().get("session-judy1").ok());
  EXPECT_TRUE(store_->refreshTokens().getByHash("hash-judy").ok());

  EXPECT_EQ(store_->users().erase("user-ivan").error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, UserCountCountsRows) {
  EXPECT_EQ(*store_->users().count(), 0);
  addUser(makeUser("k1"));
  addUser(makeUser("k2"));
  EXPECT_EQ(*store_->users().count(), 2);
}

// ---------------------------------------------------------------- nodes

TEST_P(StoreContractTest, NodeCreateThenGetReturnsEveryField) {
  VpnNode n = makeNode("ams-1", "nl", "Amsterdam");
  n.protocols = {"wireguard", "openvpn"};
  n.max_connections = 2500;
  n.current_connections = 17;
  n.load_score = 42.125;
  n.cpu_usage = 0.1 + 0.2;
  n.bytes_sent = 9'000'000'000'000LL;
  n.bytes_received = 123;
  n.wg_public_key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
  n.wg_port = 51821;
  n.openvpn_port = 1195;
  n.openvpn_transport = "tcp";
  n.tunnel_ipv4_cidr = "10.9.0.0/16";
  n.tunnel_ipv6_cidr = "fd00:9::/64";
  n.dns_servers = "9.9.9.9";
  n.last_heartbeat = at(kT0 + 30'000);
  n.updated_at = at(kT0 + 1);
  addNode(n);

  auto got = store_->nodes().get("node-ams-1");
  ASSERT_TRUE(got.ok()) << got.error().toString();
  EXPECT_EQ(got->name, "ams-1");
  EXPECT_EQ(got->hostname, "ams-1.vpn.example.com");
  EXPECT_EQ(got->public_ip, "203.0.113.10");
  EXPECT_EQ(got->country, "NL");
  EXPECT_EQ(got->city, "Amsterdam");
  EXPECT_EQ(got->status, "online");
  EXPECT_EQ(got->protocols, (std::vector<std::string>{"wireguard", "openvpn"}));
  EXPECT_EQ(got->max_connections, 2500);
  EXPECT_EQ(got->current_connections, 17);
  EXPECT_EQ(got->load_score, 42.125);
  EXPECT_EQ(got->cpu_usage, 0.1 + 0.2);
  EXPECT_EQ(got->bytes_sent, 9'000'000'000'000LL);
  EXPECT_EQ(got->bytes_received, 123);
  EXPECT_EQ(got->wg_public_key, n.wg_public_key);
  EXPECT_EQ(got->wg_port, 51821);
  EXPECT_EQ(got->openvpn_port, 1195);
  EXPECT_EQ(got->openvpn_transport, "tcp");
  EXPECT_EQ(got->tunnel_ipv4_cidr, "10.9.0.0/16");
  EXPECT_EQ(got->tunnel_ipv6_cidr, "fd00:9::/64");
  EXPECT_EQ(got->dns_servers, "9.9.9.9");
  EXPECT_EQ(got->last_heartbeat, at(kT0 + 30'000));
  EXPECT_EQ(got->created_at, at(kT0));
  EXPECT_EQ(got->updated_at, at(kT0 + 1));

  VpnNode fresh = makeNode("fresh");
  addNode(fresh);
  EXPECT_FALSE(store_->nodes().get("node-fresh")->last_heartbeat.has_value());
  EXPECT_EQ(store_->nodes().get("node-fresh")->openvpn_transport, "udp");
  EXPECT_EQ(store_->nodes().get("nope").error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, NodeNameIsUnique) {
  addNode(makeNode("dup"));
  VpnNode other = makeNode("dup");
  other.id = "node-other";
  EXPECT_EQ(store_->nodes().create(other).error().code, Code::kAlreadyExists);
}

TEST_P(StoreContractTest, NodeListFiltersByCountryCityStatusAndWholeProtocol) {
  VpnNode a = makeNode("de-ber", "DE", "Berlin");
  a.protocols = {"wireguard", "openvpn"};
  VpnNode b = makeNode("de-fra", "DE", "Frankfurt");
  b.status = "maintenance";
  VpnNode c = makeNode("us-nyc", "US", "New York");
  c.protocols = {"openvpn"};
  for (const auto& n : {c, b, a}) addNode(n);

  auto names = [&](NodeFilter f) {
    auto nodes = store_->nodes().list(f);
    EXPECT_TRUE(nodes.ok());
    std::vector<std::string> out;
    if (nodes.ok()) {
      for (const auto& n : *nodes) out.push_back(n.name);
    }
    return out;
  };
  EXPECT_EQ(names({}), (std::vector<std::string>{"de-ber", "de-fra", "us-nyc"}));
  EXPECT_EQ(names({"de", "", "", ""}), (std::vector<std::string>{"de-ber", "de-fra"}));
  EXPECT_EQ(names({"DE", "Frankfurt", "", ""}), std::vector<std::string>{"de-fra"});
  EXPECT_EQ(names({"", "", "online", ""}), (std::vector<std::string>{"de-ber", "us-nyc"}));
  EXPECT_EQ(names({"", "", "", "openvpn"}), (std::vector<std::string>{"de-ber", "us-nyc"}));
  EXPECT_EQ(names({"", "", "", "wireguard"}), (std::vector<std::string>{"de-ber", "de-fra"}));
  EXPECT_TRUE(names({"", "", "", "vpn"}).empty());
  EXPECT_TRUE(names({"", "", "", "%"}).empty());
  EXPECT_TRUE(names({"FR", "", "", ""}).empty());
}

TEST_P(StoreContractTest, NodeUpdateWritesEveryColumnButIdAndCreatedAt) {
  addNode(makeNode("upd"));
  VpnNode n = *store_->nodes().get("node-upd");
  n.name = "upd-renamed";
  n.status = "draining";
  n.protocols = {"openvpn"};
  n.current_connections = 99;
  n.load_score = 77.5;
  n.openvpn_port = 443;
  n.openvpn_transport = "tcp";
  n.last_heartbeat = at(kT0 + 60'000);
  n.updated_at = at(kT0 + 60'000);
  n.created_at = at(5);
  ASSERT_TRUE(store_->nodes().update(n).ok());
  auto got = store_->nodes().get("node-upd");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "upd-renamed");
  EXPECT_EQ(got->status, "draining");
  EXPECT_EQ(got->protocols, std::vector<std::string>{"openvpn"});
  EXPECT_EQ(got->current_connections, 99);
  EXPECT_EQ(got->load_score, 77.5);
  EXPECT_EQ(got->openvpn_port, 443);
  EXPECT_EQ(got->openvpn_transport, "tcp");
  EXPECT_EQ(got->last_heartbeat, at(kT0 + 60'000));
  EXPECT_EQ(got->created_at, at(kT0));

  n.last_heartbeat.reset();
  ASSERT_TRUE(store_->nodes().update(n).ok());
  EXPECT_FALSE(store_->nodes().get("node-upd")->last_heartbeat.has_value());

  EXPECT_EQ(store_->nodes().update(makeNode("ghost")).error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, NodeEraseRefusesWhileSessionsAreOpenThenRemovesTheNode) {
  addUser(makeUser("lena"));
  addNode(makeNode("gone"));
  Session s = makeSession("lena1", "user-lena", "node-gone", "10.8.0.2");
  addSession(s);
  EXPECT_EQ(store_->nodes().erase("node-gone").error().code, Code::kFailedPrecondition);
  EXPECT_TRUE(store_->nodes().get("node-gone").ok());

  s.status = "disconnected";
  s.disconnected_at = at(kT0 + 1);
  ASSERT_TRUE(store_->sessions().update(s).ok());
  db_->exec(
      "INSERT INTO node_credentials (id, node_id, kind, token_hash, created_at) VALUES "
      "('cred-1', 'node-gone', 'node', 'th-1', 1)");
  ASSERT_TRUE(store_->nodes().erase("node-gone").ok());
  EXPECT_EQ(store_->nodes().get("node-gone").error().code, Code::kNotFound);
  EXPECT_EQ(store_->sessions().get("session-lena1").error().code, Code::kNotFound);
  EXPECT_EQ(db_->queryInt("SELECT COUNT(*) FROM node_credentials"), 0);
  EXPECT_EQ(store_->nodes().erase("node-gone").error().code, Code::kNotFound);
}

// ---------------------------------------------------------------- sessions

TEST_P(StoreContractTest, SessionCreateThenGetReturnsEveryField) {
  addUser(makeUser("mia"));
  addNode(makeNode("n1"));
  Session s = makeSession("mia1", "user-mia", "node-n1", "10.8.0.5");
  s.protocol = "openvpn";
  s.status = "connected";
  s.connected_at = at(kT0 + 10);
  s.last_handshake = at(kT0 + 20);
  s.bytes_sent = 1'000;
  s.bytes_received = 2'000;
  s.credential_hash = std::string(64, 'c');
  addSession(s);

  auto got = store_->sessions().get("session-mia1");
  ASSERT_TRUE(got.ok()) << got.error().toString();
  EXPECT_EQ(got->user_id, "user-mia");
  EXPECT_EQ(got->node_id, "node-n1");
  EXPECT_EQ(got->protocol, "openvpn");
  EXPECT_EQ(got->tunnel_ip, "10.8.0.5");
  EXPECT_EQ(got->status, "connected");
  EXPECT_EQ(got->client_public_key, "pubkey-mia1");
  EXPECT_EQ(got->client_ip, std::optional<std::string>("198.51.100.7"));
  EXPECT_EQ(got->connected_at, at(kT0 + 10));
  EXPECT_FALSE(got->disconnected_at.has_value());
  EXPECT_EQ(got->last_handshake, at(kT0 + 20));
  EXPECT_EQ(got->bytes_sent, 1'000);
  EXPECT_EQ(got->bytes_received, 2'000);
  EXPECT_EQ(got->created_at, at(kT0));
  EXPECT_EQ(got->credential_hash, std::string(64, 'c'));
  EXPECT_EQ(store_->sessions().get("nope").error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, NodeAddProtocolAppendsOnceAndTouchesNothingElse) {
  VpnNode n = makeNode("p1");
  n.protocols = {"wireguard"};
  n.status = "online";
  addNode(n);
  ASSERT_TRUE(store_->nodes().addProtocol(n.id, "openvpn", at(kT0 + 5)).ok());
  ASSERT_TRUE(store_->nodes().addProtocol(n.id, "openvpn", at(kT0 + 6)).ok());
  auto got = store_->nodes().get(n.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->protocols, (std::vector<std::string>{"wireguard", "openvpn"}));
  EXPECT_EQ(got->status, "online");
  NodeFilter f;
  f.protocol = "openvpn";
  EXPECT_EQ(store_->nodes().list(f)->size(), 1u);
  EXPECT_EQ(store_->nodes().addProtocol("nope", "openvpn", at(kT0)).error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, SecretIsWrittenOnceAndReadBackByName) {
  EXPECT_EQ(store_->secrets().get("openvpn.ca").error().code, Code::kNotFound);
  ASSERT_TRUE(store_->secrets().insert({"openvpn.ca", "sealed-1", at(kT0)}).ok());
  // A second writer loses and must read the first one's value.
  EXPECT_EQ(store_->secrets().insert({"openvpn.ca", "sealed-2", at(kT0 + 1)}).error().code,
            Code::kAlreadyExists);
  auto got = store_->secrets().get("openvpn.ca");
  ASSERT_TRUE(got.ok()) << got.error().toString();
  EXPECT_EQ(got->value, "sealed-1");
  EXPECT_EQ(got->created_at, at(kT0));
}

TEST_P(StoreContractTest, SessionOpenSessionsCannotShareATunnelIpOnOneNode) {
  addUser(makeUser("ned"));
  addNode(makeNode("a"));
  addNode(makeNode("b"));
  Session first = makeSession("s1", "user-ned", "node-a", "10.8.0.9");
  addSession(first);
  EXPECT_EQ(
      store_->sessions().create(makeSession("s2", "user-ned", "node-a", "10.8.0.9")).error().code,
      Code::kAlreadyExists);
  Session connected = makeSession("s2c", "user-ned", "node-a", "10.8.0.9");
  connected.status = "connected";
  EXPECT_EQ(store_->sessions().create(connected).error().code, Code::kAlreadyExists);
  // Same address on another node, or a different address: fine.
  addSession(makeSession("s3", "user-ned", "node-b", "10.8.0.9"));
  addSession(makeSession("s4", "user-ned", "node-a", "10.8.0.10"));

  // Once the holder closes, the address is free again.
  first.status = "disconnected";
  ASSERT_TRUE(store_->sessions().update(first).ok());
  addSession(makeSession("s5", "user-ned", "node-a", "10.8.0.9"));
  // Reopening the closed one would clash with the new holder.
  first.status = "connected";
  EXPECT_EQ(store_->sessions().update(first).error().code, Code::kAlreadyExists);
}

TEST_P(StoreContractTest, SessionReferencingUnknownUserOrNodeIsRefused) {
  addUser(makeUser("olga"));
  addNode(makeNode("real"));
  EXPECT_EQ(store_->sessions()
                .create(makeSession("x1", "user-ghost", "node-real", "10.8.0.2"))
                .error()
                .code,
            Code::kFailedPrecondition);
  EXPECT_EQ(store_->sessions()
                .create(makeSession("x2", "user-olga", "node-ghost", "10.8.0.2"))
                .error()
                .code,
            Code::kFailedPrecondition);
}

TEST_P(StoreContractTest, SessionUpdateClosingItDropsTheClientIp) {
  addUser(makeUser("pia"));
  addNode(makeNode("n"));
  Session s = makeSession("pia1", "user-pia", "node-n", "10.8.0.2");
  addSession(s);
  s.status = "disconnected";
  s.disconnected_at = at(kT0 + 100);
  s.bytes_sent = 5;
  s.bytes_received = 6;
  s.disconnect_reason = "user request";
  ASSERT_TRUE(store_->sessions().update(s).ok());
  auto got = store_->sessions().get("session-pia1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, "disconnected");
  EXPECT_FALSE(got->client_ip.has_value());
  EXPECT_EQ(got->disconnected_at, at(kT0 + 100));
  EXPECT_EQ(got->bytes_sent, 5);
  EXPECT_EQ(got->bytes_received, 6);
  EXPECT_EQ(got->disconnect_reason, "user request");
  EXPECT_EQ(store_->sessions().update(makeSession("zz", "user-pia", "node-n", "")).error().code,
            Code::kNotFound);
}

TEST_P(StoreContractTest, SessionListFiltersPagesAndCountsActive) {
  addUser(makeUser("quin"));
  addUser(makeUser("rae"));
  addNode(makeNode("n1"));
  addNode(makeNode("n2"));
  const char* statuses[] = {"pending", "connected", "disconnected", "failed", "connected"};
  for (int i = 0; i < 5; ++i) {
    Session s = makeSession("q" + std::to_string(i), "user-quin", i < 3 ? "node-n1" : "node-n2",
                            "10.8.0." + std::to_string(10 + i), kT0 + i);
    s.status = statuses[i];
    addSession(s);
  }
  addSession(makeSession("r0", "user-rae", "node-n1", "10.8.1.1"));

  auto all = store_->sessions().list({}, Page{});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->total, 6);

  auto quin = store_->sessions().list(SessionFilter{"user-quin", "", {}}, Page{2, 0});
  ASSERT_TRUE(quin.ok());
  EXPECT_EQ(quin->total, 5);
  ASSERT_EQ(quin->items.size(), 2u);
  EXPECT_EQ(quin->items[0].id, "session-q4");  // newest first
  EXPECT_EQ(quin->items[1].id, "session-q3");

  auto open =
      store_->sessions().list(SessionFilter{"user-quin", "", {"pending", "connected"}}, Page{});
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->total, 3);

  auto node2 = store_->sessions().list(SessionFilter{"", "node-n2", {}}, Page{});
  ASSERT_TRUE(node2.ok());
  EXPECT_EQ(node2->total, 2);

  EXPECT_EQ(*store_->sessions().countActiveForUser("user-quin"), 3);
  EXPECT_EQ(*store_->sessions().countActiveForUser("user-rae"), 1);
  EXPECT_EQ(*store_->sessions().countActiveForUser("user-nobody"), 0);
  EXPECT_EQ(store_->sessions().list({}, Page{-1, 0}).error().code, Code::kInvalidArgument);
}

// ---------------------------------------------------------------- refresh tokens

class RefreshTokenContractTest : public StoreContractTest {
 protected:
  void SetUp() override {
    StoreContractTest::SetUp();
    if (HasFatalFailure()) return;
    addUser(makeUser("sam"));
  }
  RefreshTokenRepository& tokens() { return store_->refreshTokens(); }
};

TEST_P(RefreshTokenContractTest, CreateThenGetByHashAndUniqueHash) {
  RefreshToken t = makeToken("t1", "user-sam", "fam");
  ASSERT_TRUE(tokens().create(t).ok());
  auto got = tokens().getByHash("hash-t1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, "jti-t1");
  EXPECT_EQ(got->user_id, "user-sam");
  EXPECT_EQ(got->family_id, "fam");
  EXPECT_EQ(got->expires_at, t.expires_at);
  EXPECT_EQ(got->created_at, at(kT0));
  EXPECT_FALSE(got->used_at.has_value());
  EXPECT_FALSE(got->revoked_at.has_value());

  RefreshToken dup = makeToken("t2", "user-sam", "fam");
  dup.token_hash = "hash-t1";
  EXPECT_EQ(tokens().create(dup).error().code, Code::kAlreadyExists);
  EXPECT_EQ(tokens().getByHash("hash-nope").error().code, Code::kNotFound);
  EXPECT_EQ(tokens().create(makeToken("t3", "user-ghost", "fam")).error().code,
            Code::kFailedPrecondition);
}

TEST_P(RefreshTokenContractTest, RotateMarksOldUsedAndStoresReplacementInTheFamily) {
  ASSERT_TRUE(tokens().create(makeToken("r1", "user-sam", "fam")).ok());
  RefreshToken next = makeToken("r2", "someone-else", "other-family");
  auto outcome = tokens().rotate("hash-r1", next, at(kT0 + 1000));
  ASSERT_TRUE(outcome.ok()) << outcome.error().toString();
  EXPECT_EQ(*outcome, RotateOutcome::kRotated);
  EXPECT_EQ(tokens().getByHash("hash-r1")->used_at, at(kT0 + 1000));
  auto stored = tokens().getByHash("hash-r2");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->family_id, "fam");
  EXPECT_EQ(stored->user_id, "user-sam");
  EXPECT_FALSE(stored->used_at.has_value());
  EXPECT_FALSE(stored->revoked_at.has_value());
}

TEST_P(RefreshTokenContractTest, RotateOfUsedTokenRevokesTheWholeFamily) {
  ASSERT_TRUE(tokens().create(makeToken("f1", "user-sam", "fam")).ok());
  ASSERT_TRUE(tokens().create(makeToken("other", "user-sam", "other-fam")).ok());
  ASSERT_EQ(*tokens().rotate("hash-f1", makeToken("f2", "user-sam", "fam"), at(kT0 + 1)),
            RotateOutcome::kRotated);
  ASSERT_EQ(*tokens().rotate("hash-f2", makeToken("f3", "user-sam", "fam"), at(kT0 + 2)),
            RotateOutcome::kRotated);

  // f1 presented again: stolen. Every token of the login dies, f3 included.
  EXPECT_EQ(*tokens().rotate("hash-f1", makeToken("f4", "user-sam", "fam"), at(kT0 + 3)),
            RotateOutcome::kReused);
  for (const char* hash : {"hash-f1", "hash-f2", "hash-f3"}) {
    EXPECT_EQ(tokens().getByHash(hash)->revoked_at, at(kT0 + 3)) << hash;
  }
  EXPECT_EQ(tokens().getByHash("hash-f4").error().code, Code::kNotFound);
  EXPECT_FALSE(tokens().getByHash("hash-other")->revoked_at.has_value());
  // The live end of the chain is now refused too.
  EXPECT_EQ(*tokens().rotate("hash-f3", makeToken("f5", "user-sam", "fam"), at(kT0 + 4)),
            RotateOutcome::kRevoked);
}

TEST_P(RefreshTokenContractTest, RotateReportsUnknownRevokedAndExpired) {
  EXPECT_EQ(*tokens().rotate("hash-none", makeToken("n2", "user-sam", "fam"), at(kT0)),
            RotateOutcome::kUnknown);

  ASSERT_TRUE(tokens().create(makeToken("rv", "user-sam", "fam-rv")).ok());
  ASSERT_TRUE(tokens().revokeFamily("fam-rv", at(kT0 + 5)).ok());
  EXPECT_EQ(*tokens().rotate("hash-rv", makeToken("rv2", "user-sam", "fam-rv"), at(kT0 + 6)),
            RotateOutcome::kRevoked);
  EXPECT_EQ(tokens().getByHash("hash-rv2").error().code, Code::kNotFound);

  ASSERT_TRUE(tokens().create(makeToken("ex", "user-sam", "fam-ex", kT0 + 100)).ok());
  EXPECT_EQ(*tokens().rotate("hash-ex", makeToken("ex2", "user-sam", "fam-ex"), at(kT0 + 100)),
            RotateOutcome::kExpired);
  EXPECT_FALSE(tokens().getByHash("hash-ex")->used_at.has_value());
  EXPECT_FALSE(tokens().getByHash("hash-ex")->revoked_at.has_value());
  EXPECT_EQ(tokens().getByHash("hash-ex2").error().code, Code::kNotFound);
}

TEST_P(RefreshTokenContractTest, ConcurrentRotationsOfOneTokenRotateExactlyOnce) {
  ASSERT_TRUE(tokens().create(makeToken("c0", "user-sam", "fam-c")).ok());
  constexpr int kThreads = 6;
  std::latch start(kThreads);
  std::vector<std::optional<RotateOutcome>> outcomes(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      RefreshToken next = makeToken("c" + std::to_string(i + 1), "user-sam", "fam-c");
      start.arrive_and_wait();
      auto r = tokens().rotate("hash-c0", next, at(kT0 + 10));
      if (r.ok()) {
        outcomes[i] = *r;
      } else {
        errors[i] = r.error().toString();
      }
    });
  }
  for (auto& t : threads) t.join();
  int rotated = 0, reused = 0, revoked = 0, winner = -1;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(outcomes[i].has_value()) << errors[i];
    if (*outcomes[i] == RotateOutcome::kRotated) {
      ++rotated;
      winner = i;
    }
    if (*outcomes[i] == RotateOutcome::kReused) ++reused;
    if (*outcomes[i] == RotateOutcome::kRevoked) ++revoked;
  }
  // The first to come after the winner finds the token used and revokes the
  // family; anyone later finds it revoked.
  EXPECT_EQ(rotated, 1);
  EXPECT_GE(reused, 1);
  EXPECT_EQ(reused + revoked, kThreads - 1);
  ASSERT_GE(winner, 0);
  // The losers' presentations count as reuse, so the winner's token is
  // revoked along with the family; no loser's replacement was stored.
  auto won = tokens().getByHash("hash-c" + std::to_string(winner + 1));
  ASSERT_TRUE(won.ok());
  EXPECT_TRUE(won->revoked_at.has_value());
  for (int i = 0; i < kThreads; ++i) {
    if (i == winner) continue;
    EXPECT_EQ(tokens().getByHash("hash-c" + std::to_string(i + 1)).error().code, Code::kNotFound);
  }
}

TEST_P(RefreshTokenContractTest, RevokeFamilyAndRevokeAllForUserKeepEarlierRevocationTimes) {
  addUser(makeUser("tom"));
  ASSERT_TRUE(tokens().create(makeToken("a1", "user-sam", "fam-a")).ok());
  ASSERT_TRUE(tokens().create(makeToken("a2", "user-sam", "fam-a")).ok());
  ASSERT_TRUE(tokens().create(makeToken("b1", "user-sam", "fam-b")).ok());
  ASSERT_TRUE(tokens().create(makeToken("t1", "user-tom", "fam-t")).ok());

  ASSERT_TRUE(tokens().revokeFamily("fam-a", at(kT0 + 1)).ok());
  EXPECT_EQ(tokens().getByHash("hash-a1")->revoked_at, at(kT0 + 1));
  EXPECT_EQ(tokens().getByHash("hash-a2")->revoked_at, at(kT0 + 1));
  EXPECT_FALSE(tokens().getByHash("hash-b1")->revoked_at.has_value());

  ASSERT_TRUE(tokens().revokeAllForUser("user-sam", at(kT0 + 2)).ok());
  EXPECT_EQ(tokens().getByHash("hash-a1")->revoked_at, at(kT0 + 1));
  EXPECT_EQ(tokens().getByHash("hash-b1")->revoked_at, at(kT0 + 2));
  EXPECT_FALSE(tokens().getByHash("hash-t1")->revoked_at.has_value());
  EXPECT_TRUE(tokens().revokeFamily("fam-none", at(kT0)).ok());
}

TEST_P(RefreshTokenContractTest, PurgeExpiredRemovesOnlyTokensExpiredBeforeTheCutoff) {
  ASSERT_TRUE(tokens().create(makeToken("old1", "user-sam", "f", kT0 - 10)).ok());
  ASSERT_TRUE(tokens().create(makeToken("old2", "user-sam", "f", kT0 - 1)).ok());
  ASSERT_TRUE(tokens().create(makeToken("edge", "user-sam", "f", kT0)).ok());
  ASSERT_TRUE(tokens().create(makeToken("live", "user-sam", "f", kT0 + 10)).ok());
  auto purged = tokens().purgeExpired(at(kT0));
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 2);
  EXPECT_EQ(tokens().getByHash("hash-old1").error().code, Code::kNotFound);
  EXPECT_TRUE(tokens().getByHash("hash-edge").ok());
  EXPECT_TRUE(tokens().getByHash("hash-live").ok());
  EXPECT_EQ(*tokens().purgeExpired(at(kT0)), 0);
}

// ---------------------------------------------------------------- audit

TEST_P(StoreContractTest, AuditListsNewestFirstWithFiltersAndTotals) {
  for (int i = 0; i < 5; ++i) {
    AuditEntry e;
    e.actor_id = i < 3 ? "admin-1" : "system";
    e.action = i % 2 == 0 ? "node.create" : "user.disable";
    e.target_type = "node";
    e.target_id = "t" + std::to_string(i);
    e.details = R"({"i":)" + std::to_string(i) + "}";
    e.ip = "192.0.2.1";
    e.created_at = at(kT0 + i);
    ASSERT_TRUE(store_->audit().append(e).ok());
  }
  auto page = store_->audit().list({}, Page{2, 0});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->total, 5);
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].target_id, "t4");
  EXPECT_EQ(page->items[1].target_id, "t3");
  EXPECT_GT(page->items[0].id, page->items[1].id);
  EXPECT_EQ(page->items[0].details, R"({"i":4})");
  EXPECT_EQ(page->items[0].ip, "192.0.2.1");
  EXPECT_EQ(page->items[0].created_at, at(kT0 + 4));
  EXPECT_EQ(page->items[0].target_type, "node");

  auto by_actor = store_->audit().list(AuditFilter{"admin-1", "", ""}, Page{});
  ASSERT_TRUE(by_actor.ok());
  EXPECT_EQ(by_actor->total, 3);
  auto by_action = store_->audit().list(AuditFilter{"admin-1", "node.create", ""}, Page{});
  ASSERT_TRUE(by_action.ok());
  EXPECT_EQ(by_action->total, 2);
  auto by_target = store_->audit().list(AuditFilter{"", "", "t3"}, Page{});
  ASSERT_TRUE(by_target.ok());
  ASSERT_EQ(by_target->items.size(), 1u);
  EXPECT_EQ(by_target->items[0].actor_id, "system");
}

// ---------------------------------------------------------------- stats

TEST_P(StoreContractTest, StatsAreComputedFromTheRows) {
  User u1 = makeUser("s1");
  User u2 = makeUser("s2");
  u2.subscription_tier = "premium";
  User u3 = makeUser("s3");
  u3.subscription_tier = "premium";
  u3.is_active = false;
  for (const auto& u : {u1, u2, u3}) addUser(u);
  addNode(makeNode("de-1", "DE"));
  addNode(makeNode("de-2", "DE"));
  VpnNode us = makeNode("us-1", "US");
  us.status = "offline";
  addNode(us);

  auto session = [&](const std::string& tag, const std::string& node, const std::string& status,
                     int64_t sent, int64_t received) {
    Session s = makeSession(tag, "user-s1", node, "10.8.0." + tag);
    s.status = status;
    s.bytes_sent = sent;
    s.bytes_received = received;
    addSession(s);
  };
  session("1", "node-de-1", "connected", 100, 1000);
  session("2", "node-de-1", "pending", 1, 2);
  session("3", "node-de-2", "disconnected", 50, 500);
  session("4", "node-de-2", "connected", 7, 70);

  auto stats = store_->stats().collect();
  ASSERT_TRUE(stats.ok()) << stats.error().toString();
  EXPECT_EQ(stats->users_total, 3);
  EXPECT_EQ(stats->users_active, 2);
  EXPECT_EQ(stats->nodes_total, 3);
  EXPECT_EQ(stats->nodes_online, 2);
  EXPECT_EQ(stats->sessions_total, 4);
  EXPECT_EQ(stats->sessions_active, 3);
  EXPECT_EQ(stats->bytes_sent, 158);
  EXPECT_EQ(stats->bytes_received, 1572);

  ASSERT_EQ(stats->per_node.size(), 3u);
  EXPECT_EQ(stats->per_node[0].key, "node-de-1");
  EXPECT_EQ(stats->per_node[0].name, "de-1");
  EXPECT_EQ(stats->per_node[0].sessions_active, 2);
  EXPECT_EQ(stats->per_node[0].bytes_sent, 101);
  EXPECT_EQ(stats->per_node[1].key, "node-de-2");
  EXPECT_EQ(stats->per_node[1].sessions_active, 1);
  EXPECT_EQ(stats->per_node[1].bytes_received, 570);
  EXPECT_EQ(stats->per_node[2].key, "node-us-1");
  EXPECT_EQ(stats->per_node[2].sessions_active, 0);
  EXPECT_EQ(stats->per_node[2].bytes_sent, 0);

  ASSERT_EQ(stats->per_country.size(), 2u);
  EXPECT_EQ(stats->per_country[0].key, "DE");
  EXPECT_EQ(stats->per_country[0].sessions_active, 3);
  EXPECT_EQ(stats->per_country[0].bytes_sent, 158);
  EXPECT_EQ(stats->per_country[1].key, "US");
  EXPECT_EQ(stats->per_country[1].sessions_active, 0);

  using Tier = std::pair<std::string, int64_t>;
  EXPECT_EQ(stats->users_by_tier, (std::vector<Tier>{{"free", 1}, {"premium", 2}}));
}

TEST_P(StoreContractTest, StatsOfAnEmptyDatabaseAreZero) {
  auto stats = store_->stats().collect();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->users_total, 0);
  EXPECT_EQ(stats->sessions_active, 0);
  EXPECT_EQ(stats->bytes_sent, 0);
  EXPECT_TRUE(stats->per_node.empty());
  EXPECT_TRUE(stats->users_by_tier.empty());
}

// ---------------------------------------------------------------- store

TEST_P(StoreContractTest, PingSucceeds) {
  EXPECT_TRUE(store_->ping().ok());
}

TEST_P(StoreContractTest, MigrationsAreRecordedAndReopeningAppliesNoneTwice) {
  std::vector<int64_t> expected;
  for (const auto& m : internal::migrations()) expected.push_back(m.version);
  auto applied = store_->appliedMigrations();
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, expected);
  const int64_t applied_at =
      db_->queryInt("SELECT applied_at FROM schema_migrations WHERE version = 1");
  EXPECT_GT(applied_at, 0);

  reopen();
  reopen();
  EXPECT_EQ(*store_->appliedMigrations(), expected);
  EXPECT_EQ(db_->queryInt("SELECT COUNT(*) FROM schema_migrations"),
            static_cast<int64_t>(expected.size()));
  EXPECT_EQ(db_->queryInt("SELECT applied_at FROM schema_migrations WHERE version = 1"),
            applied_at);
}

TEST_P(StoreContractTest, MigrationOneCreatesEveryTable) {
  for (const char* table :
       {"users", "vpn_nodes", "sessions", "refresh_tokens", "devices", "ip_allocations", "api_keys",
        "audit_log", "leases", "node_credentials", "usage", "schema_migrations"}) {
    EXPECT_EQ(db_->queryInt(std::string("SELECT COUNT(*) FROM ") + table),
              table == std::string("schema_migrations")
                  ? static_cast<int64_t>(internal::migrations().size())
                  : 0)
        << table;
  }
  // ip_allocations is unique per (node, address).
  addUser(makeUser("ua"));
  addNode(makeNode("na"));
  db_->exec(
      "INSERT INTO ip_allocations (node_id, ip, user_id, allocated_at) VALUES ('node-na', "
      "'10.8.0.2', 'user-ua', 1)");
  EXPECT_ANY_THROW(db_->exec(
      "INSERT INTO ip_allocations (node_id, ip, user_id, allocated_at) VALUES ('node-na', "
      "'10.8.0.2', 'user-ua', 2)"));
}

TEST_P(StoreContractTest, OpeningADatabaseFromANewerBinaryIsRefused) {
  db_->exec(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999999, 'future', 1)");
  store_.reset();
  auto opened = db_->open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, Code::kFailedPrecondition);
}

TEST_P(StoreContractTest, ObserverHearsEveryOperationWithItsOutcome) {
  struct Call {
    std::string op;
    double seconds;
    bool ok;
  };
  std::mutex mu;
  std::vector<Call> calls;
  reopen([&](std::string_view op, double seconds, bool ok) {
    std::lock_guard lock(mu);
    calls.push_back({std::string(op), seconds, ok});
  });
  addUser(makeUser("obs"));
  EXPECT_EQ(store_->users().create(makeUser("obs")).error().code, Code::kAlreadyExists);
  EXPECT_EQ(store_->users().get("missing").error().code, Code::kNotFound);
  EXPECT_TRUE(store_->ping().ok());

  std::lock_guard lock(mu);
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0].op, "store.migrate");  // opening checks the schema
  EXPECT_TRUE(calls[0].ok);
  calls.erase(calls.begin());
  EXPECT_EQ(calls[0].op, "users.create");
  EXPECT_TRUE(calls[0].ok);
  EXPECT_EQ(calls[1].op, "users.create");
  EXPECT_FALSE(calls[1].ok);  // the database refused the statement
  EXPECT_EQ(calls[2].op, "users.get");
  EXPECT_TRUE(calls[2].ok);  // the statement ran; there was simply no row
  EXPECT_EQ(calls[3].op, "store.ping");
  for (const Call& c : calls) EXPECT_GE(c.seconds, 0.0);
}

TEST_P(StoreContractTest, RowsSurviveClosingAndReopening) {
  addUser(makeUser("dur"));
  addNode(makeNode("dur-node"));
  addSession(makeSession("dur1", "user-dur", "node-dur-node", "10.8.0.2"));
  ASSERT_TRUE(store_->refreshTokens().create(makeToken("dur", "user-dur", "fam")).ok());
  AuditEntry e;
  e.actor_id = "system";
  e.action = "boot";
  e.created_at = at(kT0);
  ASSERT_TRUE(store_->audit().append(e).ok());

  reopen();
  EXPECT_EQ(store_->users().getByEmail("dur@example.com")->id, "user-dur");
  EXPECT_EQ(store_->nodes().get("node-dur-node")->name, "dur-node");
  EXPECT_EQ(store_->sessions().get("session-dur1")->tunnel_ip, "10.8.0.2");
  EXPECT_EQ(store_->refreshTokens().getByHash("hash-dur")->family_id, "fam");
  EXPECT_EQ(store_->audit().list({}, Page{})->total, 1);
}

// ---------------------------------------------------------------- control plane (issue 4)

TEST_P(StoreContractTest, NodePeerVersionStartsAtZeroAndBumpsCountOpenSessions) {
  addUser(makeUser("pv"));
  addNode(makeNode("pv-node"));
  EXPECT_EQ(store_->nodes().get("node-pv-node")->peer_version, 0);
  addSession(makeSession("pv1", "user-pv", "node-pv-node", "10.8.0.2"));
  Session closed = makeSession("pv2", "user-pv", "node-pv-node", "10.8.0.3");
  closed.status = "disconnected";
  addSession(closed);
  EXPECT_EQ(*store_->nodes().bumpPeerVersion("node-pv-node"), 1);
  EXPECT_EQ(*store_->nodes().bumpPeerVersion("node-pv-node"), 2);
  auto node = store_->nodes().get("node-pv-node");
  EXPECT_EQ(node->peer_version, 2);
  EXPECT_EQ(node->current_connections, 1);
  // update() never writes the version: a stale read-modify-write cannot roll it back.
  VpnNode stale = *node;
  stale.peer_version = 0;
  stale.city = "Hamburg";
  ASSERT_TRUE(store_->nodes().update(stale).ok());
  EXPECT_EQ(store_->nodes().get("node-pv-node")->peer_version, 2);
  auto versions = store_->nodes().peerVersions();
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0], (std::pair<std::string, int64_t>{"node-pv-node", 2}));
  EXPECT_EQ(store_->nodes().bumpPeerVersion("node-ghost").error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, NodeAppliedPeerVersionOnlyRises) {
  addNode(makeNode("apv-node"));
  EXPECT_EQ(*store_->nodes().appliedPeerVersion("node-apv-node"), 0);
  ASSERT_TRUE(store_->nodes().recordAppliedPeerVersion("node-apv-node", 3).ok());
  EXPECT_EQ(*store_->nodes().appliedPeerVersion("node-apv-node"), 3);
  // A late answer to an older long-poll does not roll it back; the same
  // version again is not an error.
  ASSERT_TRUE(store_->nodes().recordAppliedPeerVersion("node-apv-node", 2).ok());
  ASSERT_TRUE(store_->nodes().recordAppliedPeerVersion("node-apv-node", 3).ok());
  EXPECT_EQ(*store_->nodes().appliedPeerVersion("node-apv-node"), 3);
  EXPECT_EQ(store_->nodes().recordAppliedPeerVersion("node-ghost", 1).error().code,
            Code::kNotFound);
  EXPECT_EQ(store_->nodes().appliedPeerVersion("node-ghost").error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, NodeHeartbeatStoresFiguresAndKeepsMaintenance) {
  VpnNode n = makeNode("hb");
  n.status = "offline";
  addNode(n);
  NodeHeartbeat hb;
  hb.status = "online";
  hb.cpu_usage = 42.5;
  hb.bytes_sent = 100;
  hb.bytes_received = 200;
  EXPECT_EQ(*store_->nodes().recordHeartbeat("node-hb", hb, at(kT0 + 1000)), "online");
  auto got = store_->nodes().get("node-hb");
  EXPECT_EQ(got->last_heartbeat, at(kT0 + 1000));
  EXPECT_DOUBLE_EQ(got->cpu_usage, 42.5);
  EXPECT_EQ(got->bytes_sent, 100);
  EXPECT_EQ(got->bytes_received, 200);
  hb.status = "draining";
  EXPECT_EQ(*store_->nodes().recordHeartbeat("node-hb", hb, at(kT0 + 2000)), "draining");
  ASSERT_TRUE(store_->nodes().setStatus("node-hb", "maintenance", at(kT0 + 2500)).ok());
  hb.status = "online";
  EXPECT_EQ(*store_->nodes().recordHeartbeat("node-hb", hb, at(kT0 + 3000)), "maintenance");
  // An admin's drain sticks; the node's own "draining" does not.
  ASSERT_TRUE(store_->nodes().setStatus("node-hb", "draining", at(kT0 + 3500)).ok());
  EXPECT_TRUE(store_->nodes().get("node-hb")->drain_requested);
  EXPECT_EQ(*store_->nodes().recordHeartbeat("node-hb", hb, at(kT0 + 4000)), "draining");
  ASSERT_TRUE(store_->nodes().setStatus("node-hb", "online", at(kT0 + 4500)).ok());
  EXPECT_FALSE(store_->nodes().get("node-hb")->drain_requested);
  hb.status = "draining";
  EXPECT_EQ(*store_->nodes().recordHeartbeat("node-hb", hb, at(kT0 + 5000)), "draining");
  hb.status = "online";
  EXPECT_EQ(*store_->nodes().recordHeartbeat("node-hb", hb, at(kT0 + 6000)), "online");
  EXPECT_EQ(store_->nodes().recordHeartbeat("node-x", hb, at(kT0)).error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, NodeMarkStaleOfflineTakesOnlyOnlineNodesPastTheCutoff) {
  auto withBeat = [&](const std::string& tag, const std::string& status,
                      std::optional<int64_t> beat) {
    VpnNode n = makeNode(tag);
    n.status = status;
    if (beat) n.last_heartbeat = at(*beat);
    addNode(n);
  };
  withBeat("fresh", "online", kT0 + 100);
  withBeat("stale", "online", kT0);
  withBeat("never", "online", std::nullopt);
  withBeat("drain", "draining", kT0);
  withBeat("maint", "maintenance", kT0);
  auto ids = store_->nodes().markStaleOffline(at(kT0 + 50), at(kT0 + 200));
  ASSERT_TRUE(ids.ok()) << ids.error().toString();
  EXPECT_EQ(*ids, (std::vector<std::string>{"node-drain", "node-never", "node-stale"}));
  EXPECT_EQ(store_->nodes().get("node-stale")->status, "offline");
  EXPECT_EQ(store_->nodes().get("node-fresh")->status, "online");
  EXPECT_EQ(store_->nodes().get("node-maint")->status, "maintenance");
  EXPECT_TRUE(store_->nodes().markStaleOffline(at(kT0 + 50), at(kT0 + 300))->empty());
}

TEST_P(StoreContractTest, NodeTargetedWritesChangeOneThing) {
  addNode(makeNode("tw"));
  ASSERT_TRUE(store_->nodes().setLoadScore("node-tw", 37.5).ok());
  ASSERT_TRUE(store_->nodes().setWireGuardKey("node-tw", "key=", "", at(kT0 + 5)).ok());
  auto got = store_->nodes().get("node-tw");
  EXPECT_DOUBLE_EQ(got->load_score, 37.5);
  EXPECT_EQ(got->wg_public_key, "key=");
  EXPECT_EQ(got->hostname, "tw.vpn.example.com");  // empty hostname keeps the old one
  ASSERT_TRUE(store_->nodes().setWireGuardKey("node-tw", "key2=", "new.example", at(kT0)).ok());
  EXPECT_EQ(store_->nodes().get("node-tw")->hostname, "new.example");
  EXPECT_EQ(store_->nodes().setLoadScore("node-no", 1).error().code, Code::kNotFound);
  EXPECT_EQ(store_->nodes().setStatus("node-no", "online", at(kT0)).error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, SessionCreateRefusesAtTheDeviceLimitEvenConcurrently) {
  addUser(makeUser("lim"));
  addNode(makeNode("lim-node"));
  constexpr int kThreads = 8;
  std::atomic<int> ok{0}, refused{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto st = store_->sessions().createWithAddresses(
          makeSession("lim" + std::to_string(i), "user-lim", "node-lim-node", ""), 3, "10.8.0.0/24",
          "", at(kT0));
      if (st.ok()) {
        ++ok;
      } else if (st.error().code == Code::kFailedPrecondition) {
        ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 3);
  EXPECT_EQ(refused.load(), kThreads - 3);
  EXPECT_EQ(*store_->sessions().countActiveForUser("user-lim"), 3);
}

TEST_P(StoreContractTest, SessionCreateWithAddressesStoresItWholeAndBumpsThePeerVersion) {
  addUser(makeUser("cwa"));
  addNode(makeNode("cwa-node"));
  auto& sessions = store_->sessions();
  auto first = sessions.createWithAddresses(makeSession("cwa1", "user-cwa", "node-cwa-node", ""), 2,
                                            "10.5.0.0/24", "fd00:5::/64", at(kT0));
  ASSERT_TRUE(first.ok()) << first.error().toString();
  EXPECT_EQ(first->session.tunnel_ip, "10.5.0.2");
  EXPECT_EQ(first->session.tunnel_ipv6, "fd00:5::2");
  EXPECT_EQ(first->peer_version, 1);
  auto stored = sessions.get("session-cwa1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->tunnel_ip, "10.5.0.2");
  EXPECT_EQ(stored->tunnel_ipv6, "fd00:5::2");
  EXPECT_EQ(store_->ipAllocations().listForNode("node-cwa-node")->size(), 2u);
  EXPECT_EQ(store_->nodes().get("node-cwa-node")->current_connections, 1);

  // No v6 prefix: IPv4 only.
  auto second = sessions.createWithAddresses(makeSession("cwa2", "user-cwa", "node-cwa-node", ""),
                                             2, "10.5.0.0/24", "", at(kT0));
  ASSERT_TRUE(second.ok()) << second.error().toString();
  EXPECT_EQ(second->session.tunnel_ip, "10.5.0.3");
  EXPECT_EQ(second->session.tunnel_ipv6, "");
  EXPECT_EQ(second->peer_version, 2);

  // At the limit: nothing is written.
  auto third = sessions.createWithAddresses(makeSession("cwa3", "user-cwa", "node-cwa-node", ""), 2,
                                            "10.5.0.0/24", "", at(kT0));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(sessions.get("session-cwa3").error().code, Code::kNotFound);
  EXPECT_EQ(store_->ipAllocations().listForNode("node-cwa-node")->size(), 3u);
  EXPECT_EQ(store_->nodes().get("node-cwa-node")->peer_version, 2);
}

TEST_P(StoreContractTest, SessionCreateWithAddressesInAFullPrefixLeavesNothingBehind) {
  addUser(makeUser("cwf"));
  addNode(makeNode("cwf-node"));
  // A /30 has one peer address (.2); the second create finds the v6 prefix
  // fine but the v4 one full, and must not leave its session or v6 address.
  auto& sessions = store_->sessions();
  ASSERT_TRUE(sessions
                  .createWithAddresses(makeSession("cwf1", "user-cwf", "node-cwf-node", ""), 5,
                                       "10.4.0.0/30", "fd00:4::/64", at(kT0))
                  .ok());
  auto full = sessions.createWithAddresses(makeSession("cwf2", "user-cwf", "node-cwf-node", ""), 5,
                                           "10.4.0.0/30", "fd00:4::/64", at(kT0));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, Code::kResourceExhausted);
  EXPECT_EQ(sessions.get("session-cwf2").error().code, Code::kNotFound);
  EXPECT_EQ(store_->ipAllocations().listForNode("node-cwf-node")->size(), 2u);
  EXPECT_EQ(*sessions.countActiveForUser("user-cwf"), 1);
}

TEST_P(StoreContractTest, SessionCreateWithAddressesConcurrentlyGivesDistinctAddresses) {
  constexpr int kThreads = 8, kEach = 4;
  for (int t = 0; t < kThreads; ++t) addUser(makeUser("cwc" + std::to_string(t)));
  addNode(makeNode("cwc-node"));
  std::mutex mu;
  std::vector<std::string> got;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kEach; ++i) {
        const std::string tag = "cwc" + std::to_string(t) + "-" + std::to_string(i);
        auto created = store_->sessions().createWithAddresses(
            makeSession(tag, "user-cwc" + std::to_string(t), "node-cwc-node", ""), kEach,
            "10.3.0.0/16", "", at(kT0));
        ASSERT_TRUE(created.ok()) << created.error().toString();
        std::lock_guard lock(mu);
        got.push_back(created->session.tunnel_ip);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> unique(got.begin(), got.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(store_->nodes().get("node-cwc-node")->peer_version, kThreads * kEach);
}

TEST_P(StoreContractTest, SessionCloseReleasesAllocationsAndRefusesTwice) {
  addUser(makeUser("cl"));
  addNode(makeNode("cl-node"));
  addSession(makeSession("cl1", "user-cl", "node-cl-node", "10.8.0.2"));
  ASSERT_TRUE(store_->ipAllocations()
                  .allocate("node-cl-node", "10.8.0.0/24", "user-cl", "session-cl1", {}, at(kT0))
                  .ok());
  auto closed =
      store_->sessions().close("session-cl1", "disconnected", "user_request", at(kT0 + 9));
  ASSERT_TRUE(closed.ok()) << closed.error().toString();
  EXPECT_EQ(closed->status, "disconnected");
  EXPECT_FALSE(closed->client_ip.has_value());
  auto got = store_->sessions().get("session-cl1");
  EXPECT_EQ(got->disconnect_reason, "user_request");
  EXPECT_EQ(got->disconnected_at, at(kT0 + 9));
  EXPECT_FALSE(got->client_ip.has_value());
  EXPECT_TRUE(store_->ipAllocations().listForNode("node-cl-node")->empty());
  EXPECT_EQ(store_->sessions().close("session-cl1", "disconnected", "x", at(kT0)).error().code,
            Code::kFailedPrecondition);
  EXPECT_EQ(store_->sessions().close("nope", "disconnected", "x", at(kT0)).error().code,
            Code::kNotFound);
}

TEST_P(StoreContractTest, SessionCloseAllForUserAndNodeClosesOnlyOpenOnes) {
  addUser(makeUser("ca"));
  addUser(makeUser("cb"));
  addNode(makeNode("ca-n1"));
  addNode(makeNode("ca-n2"));
  addSession(makeSession("a1", "user-ca", "node-ca-n1", "10.8.0.2", kT0));
  addSession(makeSession("a2", "user-ca", "node-ca-n2", "10.8.0.2", kT0 + 1));
  addSession(makeSession("b1", "user-cb", "node-ca-n1", "10.8.0.3", kT0 + 2));
  Session done = makeSession("a3", "user-ca", "node-ca-n1", "10.8.0.4", kT0 + 3);
  done.status = "failed";
  addSession(done);

  auto byUser = store_->sessions().closeAllForUser("user-ca", "account_disabled", at(kT0 + 10));
  ASSERT_TRUE(byUser.ok());
  ASSERT_EQ(byUser->size(), 2u);
  EXPECT_EQ((*byUser)[0].id, "session-a1");
  EXPECT_EQ((*byUser)[1].id, "session-a2");
  EXPECT_EQ(store_->sessions().get("session-a3")->status, "failed");
  EXPECT_EQ(store_->sessions().get("session-b1")->status, "pending");

  auto active = store_->sessions().listActiveForNode("node-ca-n1");
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].id, "session-b1");
  auto byNode = store_->sessions().closeAllForNode("node-ca-n1", "node_offline", at(kT0 + 11));
  ASSERT_EQ(byNode->size(), 1u);
  EXPECT_EQ(store_->sessions().get("session-b1")->disconnect_reason, "node_offline");
  EXPECT_TRUE(store_->sessions().listActiveForNode("node-ca-n1")->empty());
}

TEST_P(StoreContractTest, SessionListIdleFindsStalePendingAndSilentConnected) {
  addUser(makeUser("idle"));
  addNode(makeNode("idle-node"));
  addSession(makeSession("young", "user-idle", "node-idle-node", "10.8.0.2", kT0 + 100));
  addSession(makeSession("old", "user-idle", "node-idle-node", "10.8.0.3", kT0));
  Session quiet = makeSession("quiet", "user-idle", "node-idle-node", "10.8.0.4", kT0 + 100);
  quiet.status = "connected";
  quiet.last_handshake = at(kT0 + 10);
  addSession(quiet);
  Session chatty = makeSession("chatty", "user-idle", "node-idle-node", "10.8.0.5", kT0);
  chatty.status = "connected";
  chatty.last_handshake = at(kT0 + 500);
  addSession(chatty);
  auto idle = store_->sessions().listIdle(at(kT0 + 50), at(kT0 + 50));
  ASSERT_TRUE(idle.ok());
  std::set<std::string> ids;
  for (const auto& s : *idle) ids.insert(s.id);
  EXPECT_EQ(ids, (std::set<std::string>{"session-old", "session-quiet"}));
}

TEST_P(StoreContractTest, SessionAccountTakesDeltasSurvivesCounterResetsAndConnects) {
  addUser(makeUser("acc"));
  addNode(makeNode("acc-node"));
  addNode(makeNode("other-node"));
  addSession(makeSession("acc1", "user-acc", "node-acc-node", "10.8.0.2", kT0));
  const SystemTime period = at(kT0 - 1000);

  PeerCounters c;
  c.rx_bytes = 100;
  c.tx_bytes = 1000;
  auto r = store_->sessions().account("session-acc1", "node-acc-node", c, period, at(kT0 + 1));
  ASSERT_TRUE(r.ok()) << r.error().toString();
  EXPECT_TRUE(r->applied);
  EXPECT_FALSE(r->became_connected);  // bytes without a handshake do not connect
  EXPECT_EQ(store_->sessions().get("session-acc1")->status, "pending");

  c.last_handshake = at(kT0 + 5);
  c.rx_bytes = 150;
  c.tx_bytes = 1600;
  r = store_->sessions().account("session-acc1", "node-acc-node", c, period, at(kT0 + 6));
  EXPECT_TRUE(r->became_connected);
  EXPECT_EQ(r->delta_sent, 50);
  EXPECT_EQ(r->delta_received, 600);

  // The node restarted: counters start again from zero.
  c.rx_bytes = 30;
  c.tx_bytes = 40;
  r = store_->sessions().account("session-acc1", "node-acc-node", c, period, at(kT0 + 7));
  EXPECT_FALSE(r->became_connected);
  EXPECT_EQ(r->delta_sent, 30);
  EXPECT_EQ(r->delta_received, 40);

  auto s = store_->sessions().get("session-acc1");
  EXPECT_EQ(s->status, "connected");
  EXPECT_EQ(s->connected_at, at(kT0 + 5));
  EXPECT_EQ(s->last_handshake, at(kT0 + 5));
  EXPECT_EQ(s->bytes_sent, 180);
  EXPECT_EQ(s->bytes_received, 1640);
  EXPECT_EQ(s->reported_rx_bytes, 30);
  auto usage = store_->usage().get("user-acc", period);
  EXPECT_EQ(usage->bytes_sent, 180);
  EXPECT_EQ(usage->bytes_received, 1640);

  // Another node cannot account for this session.
  r = store_->sessions().account("session-acc1", "node-other-node", c, period, at(kT0 + 8));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->applied);
  EXPECT_EQ(store_->sessions().get("session-acc1")->bytes_sent, 180);
}

TEST_P(StoreContractTest, SessionPurgeClosedBeforeRemovesOnlyOldClosedSessions) {
  addUser(makeUser("pg"));
  addNode(makeNode("pg-node"));
  addSession(makeSession("open", "user-pg", "node-pg-node", "10.8.0.2", kT0));
  addSession(makeSession("old", "user-pg", "node-pg-node", "10.8.0.3", kT0));
  addSession(makeSession("recent", "user-pg", "node-pg-node", "10.8.0.4", kT0));
  ASSERT_TRUE(store_->sessions().close("session-old", "disconnected", "x", at(kT0 + 10)).ok());
  ASSERT_TRUE(store_->sessions().close("session-recent", "disconnected", "x", at(kT0 + 100)).ok());
  EXPECT_EQ(*store_->sessions().purgeClosedBefore(at(kT0 + 50)), 1);
  EXPECT_EQ(store_->sessions().get("session-old").error().code, Code::kNotFound);
  EXPECT_TRUE(store_->sessions().get("session-recent").ok());
  EXPECT_TRUE(store_->sessions().get("session-open").ok());
}

TEST_P(StoreContractTest, IpAllocateHandsOutTheLowestFreeHostAddress) {
  addUser(makeUser("ip"));
  addNode(makeNode("ip-node"));
  addNode(makeNode("ip-node2"));
  auto& ips = store_->ipAllocations();
  EXPECT_EQ(*ips.allocate("node-ip-node", "10.9.0.0/24", "user-ip", {}, {}, at(kT0)), "10.9.0.2");
  EXPECT_EQ(*ips.allocate("node-ip-node", "10.9.0.0/24", "user-ip", {}, {}, at(kT0)), "10.9.0.3");
  EXPECT_EQ(*ips.allocate("node-ip-node", "10.9.0.0/24", "user-ip", {}, {}, at(kT0)), "10.9.0.4");
  ASSERT_TRUE(ips.release("node-ip-node", "10.9.0.3").ok());
  EXPECT_EQ(*ips.allocate("node-ip-node", "10.9.0.0/24", "user-ip", {}, {}, at(kT0)), "10.9.0.3");
  // Unique per node, not globally.
  EXPECT_EQ(*ips.allocate("node-ip-node2", "10.9.0.0/24", "user-ip", {}, {}, at(kT0)), "10.9.0.2");
  EXPECT_EQ(*ips.allocate("node-ip-node", "fd00:9::/120", "user-ip", {}, {}, at(kT0)), "fd00:9::2");
  EXPECT_EQ(ips.release("node-ip-node", "10.9.0.99").error().code, Code::kNotFound);
  EXPECT_EQ(ips.allocate("node-ip-node", "garbage", "user-ip", {}, {}, at(kT0)).error().code,
            Code::kInvalidArgument);
  EXPECT_EQ(ips.listForNode("node-ip-node")->size(), 4u);
}

TEST_P(StoreContractTest, IpAllocateReportsAFullPrefixAndSkipsBroadcast) {
  addUser(makeUser("full"));
  addNode(makeNode("full-node"));
  auto& ips = store_->ipAllocations();
  // A /29 has 8 addresses: network, node, 5 for peers, broadcast.
  for (int i = 2; i <= 6; ++i) {
    EXPECT_EQ(*ips.allocate("node-full-node", "10.7.0.0/29", "user-full", {}, {}, at(kT0)),
              "10.7.0." + std::to_string(i));
  }
  EXPECT_EQ(
      ips.allocate("node-full-node", "10.7.0.0/29", "user-full", {}, {}, at(kT0)).error().code,
      Code::kResourceExhausted);
}

TEST_P(StoreContractTest, IpConcurrentAllocationsOnOneNodeAreAllDistinct) {
  addUser(makeUser("conc"));
  addNode(makeNode("conc-node"));
  constexpr int kThreads = 8, kEach = 5;
  std::mutex mu;
  std::vector<std::string> got;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kEach; ++i) {
        auto ip = store_->ipAllocations().allocate("node-conc-node", "10.6.0.0/16", "user-conc", {},
                                                   {}, at(kT0));
        ASSERT_TRUE(ip.ok()) << ip.error().toString();
        std::lock_guard lock(mu);
        got.push_back(*ip);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> unique(got.begin(), got.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(unique.count("10.6.0.2"), 1u);
  EXPECT_EQ(unique.count("10.6.0.41"), 1u);  // dense: the lowest 40 addresses
}

TEST_P(StoreContractTest, IpOrphansAreAllocationsOfClosedSessionsOrOfNobody) {
  addUser(makeUser("orph"));
  addNode(makeNode("orph-node"));
  addSession(makeSession("live", "user-orph", "node-orph-node", "10.5.0.2"));
  Session dead = makeSession("dead", "user-orph", "node-orph-node", "10.5.0.3");
  dead.status = "disconnected";
  addSession(dead);
  auto& ips = store_->ipAllocations();
  ASSERT_TRUE(
      ips.allocate("node-orph-node", "10.5.0.0/24", "user-orph", "session-live", {}, at(kT0)).ok());
  ASSERT_TRUE(
      ips.allocate("node-orph-node", "10.5.0.0/24", "user-orph", "session-dead", {}, at(kT0 + 1))
          .ok());
  ASSERT_TRUE(ips.allocate("node-orph-node", "10.5.0.0/24", "user-orph", {}, {}, at(kT0 + 2)).ok());
  auto orphans = ips.listOrphans(100);
  ASSERT_TRUE(orphans.ok()) << orphans.error().toString();
  ASSERT_EQ(orphans->size(), 2u);
  EXPECT_EQ((*orphans)[0].session_id, std::optional<std::string>("session-dead"));
  EXPECT_EQ((*orphans)[0].ip, "10.5.0.3");
  EXPECT_FALSE((*orphans)[1].session_id.has_value());
  EXPECT_EQ(*ips.releaseForSession("session-dead"), 1);
  EXPECT_EQ(ips.listOrphans(100)->size(), 1u);
}

TEST_P(StoreContractTest, LeaseHasOneHolderAndItsTokenGrowsWithEachNewHolder) {
  auto& leases = store_->leases();
  const auto ttl = std::chrono::milliseconds(15'000);
  EXPECT_EQ(leases.get("leader").error().code, Code::kNotFound);
  auto a = leases.acquire("leader", "a", ttl, at(kT0));
  ASSERT_TRUE(a.ok()) << a.error().toString();
  EXPECT_EQ(a->holder, "a");
  EXPECT_EQ(a->fencing_token, 1);
  EXPECT_EQ(a->expires_at, at(kT0 + 15'000));

  auto b = leases.acquire("leader", "b", ttl, at(kT0 + 1000));
  EXPECT_EQ(b->holder, "a");  // still a's
  EXPECT_EQ(leases.renew("leader", "b", ttl, at(kT0 + 1000)).error().code,
            Code::kFailedPrecondition);
  auto renewed = leases.renew("leader", "a", ttl, at(kT0 + 5000));
  EXPECT_EQ(renewed->expires_at, at(kT0 + 20'000));
  EXPECT_EQ(renewed->fencing_token, 1);
  // Re-acquiring a live lease is a renewal for its holder.
  EXPECT_EQ(leases.acquire("leader", "a", ttl, at(kT0 + 6000))->fencing_token, 1);

  // a stops renewing; once it expires b takes over with a higher token.
  b = leases.acquire("leader", "b", ttl, at(kT0 + 21'001));
  EXPECT_EQ(b->holder, "b");
  EXPECT_EQ(b->fencing_token, 2);
  EXPECT_EQ(leases.renew("leader", "a", ttl, at(kT0 + 21'002)).error().code,
            Code::kFailedPrecondition);

  // Releasing hands it over at once.
  ASSERT_TRUE(leases.release("leader", "a", at(kT0 + 21'003)).ok());  // not a's: no-op
  EXPECT_EQ(leases.get("leader")->holder, "b");
  ASSERT_TRUE(leases.release("leader", "b", at(kT0 + 22'000)).ok());
  a = leases.acquire("leader", "a", ttl, at(kT0 + 22'001));
  EXPECT_EQ(a->holder, "a");
  EXPECT_EQ(a->fencing_token, 3);
}

TEST_P(StoreContractTest, LeaseConcurrentAcquiresHaveExactlyOneWinner) {
  constexpr int kThreads = 8;
  std::atomic<int> winners{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      const std::string me = "holder-" + std::to_string(i);
      auto lease = store_->leases().acquire("race", me, std::chrono::seconds(30), at(kT0));
      if (lease.ok() && lease->holder == me) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

class NodeCredentialContractTest : public StoreContractTest {
 protected:
  void SetUp() override {
    StoreContractTest::SetUp();
    if (HasFatalFailure()) return;
    addNode(makeNode("cred"));
  }
  NodeCredential enrollment(const std::string& tag, int64_t expires_ms = kT0 + 86'400'000) {
    NodeCredential c;
    c.id = "enr-" + tag;
    c.node_id = "node-cred";
    c.kind = NodeCredential::kEnrollment;
    c.token_hash = "enroll-hash-" + tag;
    c.created_at = at(kT0);
    c.expires_at = at(expires_ms);
    return c;
  }
  NodeCredential nodeCredential(const std::string& tag) {
    NodeCredential c;
    c.id = "cred-" + tag;
    c.node_id = "ignored";
    c.kind = NodeCredential::kNode;
    c.token_hash = "node-hash-" + tag;
    c.created_at = at(kT0 + 1);
    return c;
  }
  NodeCredentialRepository& creds() { return store_->nodeCredentials(); }
};

TEST_P(NodeCredentialContractTest, EnrollmentTokenIsRedeemedOnceForANodeCredential) {
  ASSERT_TRUE(creds().create(enrollment("1")).ok());
  auto issued = creds().redeemEnrollment("enroll-hash-1", nodeCredential("1"), at(kT0 + 5));
  ASSERT_TRUE(issued.ok()) << issued.error().toString();
  EXPECT_EQ(issued->node_id, "node-cred");
  EXPECT_EQ(issued->kind, "node");
  auto stored = creds().getByHash("node-hash-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->node_id, "node-cred");
  EXPECT_FALSE(stored->revoked_at.has_value());
  EXPECT_EQ(creds().getByHash("enroll-hash-1")->used_at, at(kT0 + 5));

  EXPECT_EQ(
      creds().redeemEnrollment("enroll-hash-1", nodeCredential("2"), at(kT0 + 6)).error().code,
      Code::kFailedPrecondition);
  EXPECT_EQ(creds().redeemEnrollment("unknown", nodeCredential("3"), at(kT0 + 6)).error().code,
            Code::kNotFound);
  // A node credential is not an enrollment token.
  EXPECT_EQ(creds().redeemEnrollment("node-hash-1", nodeCredential("4"), at(kT0 + 6)).error().code,
            Code::kNotFound);
  EXPECT_EQ(creds().getByHash("node-hash-2").error().code, Code::kNotFound);
}

TEST_P(NodeCredentialContractTest, ExpiredOrRevokedTokensAreRefusedAndReEnrollmentRevokesOld) {
  ASSERT_TRUE(creds().create(enrollment("old", kT0 + 10)).ok());
  EXPECT_EQ(
      creds().redeemEnrollment("enroll-hash-old", nodeCredential("x"), at(kT0 + 10)).error().code,
      Code::kFailedPrecondition);
  ASSERT_TRUE(creds().create(enrollment("rev")).ok());
  EXPECT_EQ(*creds().revokeAllForNode("node-cred", NodeCredential::kEnrollment, at(kT0 + 1)), 2);
  EXPECT_EQ(
      creds().redeemEnrollment("enroll-hash-rev", nodeCredential("y"), at(kT0 + 2)).error().code,
      Code::kFailedPrecondition);

  ASSERT_TRUE(creds().create(enrollment("a")).ok());
  ASSERT_TRUE(creds().redeemEnrollment("enroll-hash-a", nodeCredential("a"), at(kT0 + 3)).ok());
  ASSERT_TRUE(creds().create(enrollment("b")).ok());
  ASSERT_TRUE(creds().redeemEnrollment("enroll-hash-b", nodeCredential("b"), at(kT0 + 4)).ok());
  EXPECT_EQ(creds().getByHash("node-hash-a")->revoked_at, at(kT0 + 4));
  EXPECT_FALSE(creds().getByHash("node-hash-b")->revoked_at.has_value());

  ASSERT_TRUE(creds().revoke("cred-b", at(kT0 + 5)).ok());
  EXPECT_EQ(creds().getByHash("node-hash-b")->revoked_at, at(kT0 + 5));
  EXPECT_EQ(creds().revoke("cred-none", at(kT0)).error().code, Code::kNotFound);
}

TEST_P(NodeCredentialContractTest, ConcurrentRedemptionsOfOneTokenSucceedOnce) {
  ASSERT_TRUE(creds().create(enrollment("race")).ok());
  constexpr int kThreads = 6;
  std::atomic<int> ok{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      if (creds()
              .redeemEnrollment("enroll-hash-race", nodeCredential(std::to_string(i)), at(kT0 + 1))
              .ok()) {
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
}

TEST_P(StoreContractTest, DevicesAreListedPerUserWithUniqueKeysAndNames) {
  addUser(makeUser("dev"));
  addUser(makeUser("dev2"));
  Device d{"dev-1", "user-dev", "laptop", "pk-1=", at(kT0), std::nullopt};
  ASSERT_TRUE(store_->devices().create(d).ok());
  ASSERT_TRUE(
      store_->devices().create({"dev-2", "user-dev", "phone", "pk-2=", at(kT0 + 1), {}}).ok());
  EXPECT_EQ(
      store_->devices().create({"dev-3", "user-dev2", "x", "pk-1=", at(kT0), {}}).error().code,
      Code::kAlreadyExists);
  EXPECT_EQ(
      store_->devices().create({"dev-4", "user-dev", "laptop", "pk-4=", at(kT0), {}}).error().code,
      Code::kAlreadyExists);
  auto list = store_->devices().listForUser("user-dev");
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "laptop");
  EXPECT_EQ(store_->devices().getByPublicKey("pk-2=")->id, "dev-2");
  ASSERT_TRUE(store_->devices().touch("dev-1", at(kT0 + 50)).ok());
  EXPECT_EQ(store_->devices().get("dev-1")->last_seen_at, at(kT0 + 50));
  addNode(makeNode("dev-node"));
  ASSERT_TRUE(store_->ipAllocations()
                  .allocate("node-dev-node", "10.4.0.0/24", "user-dev", {}, "dev-1", at(kT0))
                  .ok());
  ASSERT_TRUE(store_->devices().erase("dev-1").ok());
  EXPECT_TRUE(store_->ipAllocations().listForNode("node-dev-node")->empty());
  EXPECT_EQ(store_->devices().get("dev-1").error().code, Code::kNotFound);
  EXPECT_EQ(store_->devices().erase("dev-1").error().code, Code::kNotFound);
}

TEST_P(StoreContractTest, UsageAddsUpPerPeriodAndReadsZeroWhenEmpty) {
  addUser(makeUser("use"));
  auto& usage = store_->usage();
  EXPECT_EQ(usage.get("user-use", at(kT0))->bytes_sent, 0);
  ASSERT_TRUE(usage.add("user-use", at(kT0), 10, 20, at(kT0 + 1)).ok());
  ASSERT_TRUE(usage.add("user-use", at(kT0), 5, 6, at(kT0 + 2)).ok());
  ASSERT_TRUE(usage.add("user-use", at(kT0 + 1000), 1, 1, at(kT0 + 3)).ok());
  auto got = usage.get("user-use", at(kT0));
  EXPECT_EQ(got->bytes_sent, 15);
  EXPECT_EQ(got->bytes_received, 26);
  EXPECT_EQ(got->updated_at, at(kT0 + 2));
  auto all = usage.listForUser("user-use");
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].period_start, at(kT0 + 1000));
  EXPECT_EQ(usage.add("user-use", at(kT0), -1, 0, at(kT0)).error().code, Code::kInvalidArgument);
}

// Runs body(i) on `threads` threads released together; returns each outcome.
template <typename Body>
std::vector<Code> race(int threads, Body body) {
  std::latch start(threads);
  std::vector<Code> codes(static_cast<size_t>(threads), Code::kUnknown);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      start.arrive_and_wait();
      core::Status status = body(i);
      codes[static_cast<size_t>(i)] = status.ok() ? Code::kOk : status.error().code;
    });
  }
  for (auto& t : pool) t.join();
  return codes;
}

int64_t countOf(const std::vector<Code>& codes, Code code) {
  return std::count(codes.begin(), codes.end(), code);
}

TEST_P(StoreContractTest, ConcurrentWritersOfOneUniqueValueLeaveExactlyOneWinner) {
  constexpr int kThreads = 6;
  for (int i = 0; i < kThreads; ++i) addUser(makeUser("uq" + std::to_string(i)));
  addNode(makeNode("uq-node"));

  auto devices = race(kThreads, [&](int i) {
    const std::string n = std::to_string(i);
    return store_->devices().create(
        {"dev-uq" + n, "user-uq" + n, "laptop", "same-key=", at(kT0), std::nullopt});
  });
  EXPECT_EQ(countOf(devices, Code::kOk), 1);
  EXPECT_EQ(countOf(devices, Code::kAlreadyExists), kThreads - 1);

  auto nodes = race(kThreads, [&](int i) {
    VpnNode n = makeNode("uq-twin");
    n.id = "node-uq-twin-" + std::to_string(i);
    return store_->nodes().create(n);
  });
  EXPECT_EQ(countOf(nodes, Code::kOk), 1);
  EXPECT_EQ(countOf(nodes, Code::kAlreadyExists), kThreads - 1);

  auto sessions = race(kThreads, [&](int i) {
    const std::string n = std::to_string(i);
    return store_->sessions().create(
        makeSession("uq" + n, "user-uq" + n, "node-uq-node", "10.8.0.9"));
  });
  EXPECT_EQ(countOf(sessions, Code::kOk), 1);
  EXPECT_EQ(countOf(sessions, Code::kAlreadyExists), kThreads - 1);
  EXPECT_EQ(store_->sessions().listActiveForNode("node-uq-node")->size(), 1u);

  auto tokens = race(kThreads, [&](int i) {
    RefreshToken t = makeToken("uq" + std::to_string(i), "user-uq0", "fam-uq");
    t.token_hash = "hash-uq-same";
    return store_->refreshTokens().create(t);
  });
  EXPECT_EQ(countOf(tokens, Code::kOk), 1);
  EXPECT_EQ(countOf(tokens, Code::kAlreadyExists), kThreads - 1);
}

TEST_P(StoreContractTest, ConcurrentUsageAddsToOneRowAllCount) {
  addUser(makeUser("tally"));
  constexpr int kThreads = 6;
  constexpr int kAdds = 20;
  auto codes = race(kThreads, [&](int) -> core::Status {
    for (int j = 0; j < kAdds; ++j) {
      AUREO_RETURN_IF_ERROR(store_->usage().add("user-tally", at(kT0), 3, 5, at(kT0 + j)));
    }
    return core::okStatus();
  });
  EXPECT_EQ(countOf(codes, Code::kOk), kThreads);
  auto usage = store_->usage().get("user-tally", at(kT0));
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->bytes_sent, 3 * kThreads * kAdds);
  EXPECT_EQ(usage->bytes_received, 5 * kThreads * kAdds);
}

TEST_P(StoreContractTest, MigrationTwoAddsTheControlPlaneColumns) {
  EXPECT_EQ(db_->queryInt("SELECT COUNT(*) FROM schema_migrations WHERE version = 2"), 1);
  EXPECT_EQ(db_->queryInt("SELECT COUNT(peer_version) FROM vpn_nodes"), 0);
  EXPECT_EQ(db_->queryInt("SELECT COUNT(reported_rx_bytes) + COUNT(tunnel_ipv6) FROM sessions"), 0);
}

// Every backend the contract runs against.
std::vector<Backend> backends() {
  std::vector<Backend> out{
      Backend{"sqlite", [] { return std::make_unique<SqliteTestDatabase>(); }}};
  if (!postgresUrl().empty()) {
    out.push_back(Backend{"postgres", [] { return std::make_unique<PostgresTestDatabase>(); }});
  }
  return out;
}

std::string backendName(const ::testing::TestParamInfo<Backend>& param_info) {
  return param_info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractTest, ::testing::ValuesIn(backends()), backendName);
INSTANTIATE_TEST_SUITE_P(Backends, RefreshTokenContractTest, ::testing::ValuesIn(backends()),
                         backendName);
INSTANTIATE_TEST_SUITE_P(Backends, NodeCredentialContractTest, ::testing::ValuesIn(backends()),
                         backendName);

// ---------------------------------------------------------------- SQLite only

TEST(SqliteStoreTest, FileIsInWalModeAndPassesIntegrityCheckAfterReopen) {
  SqliteTestDatabase db;
  {
    auto store = db.open({});
    ASSERT_TRUE(store.ok()) << store.error().toString();
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE((*store)->users().create(makeUser("w" + std::to_string(i))).ok());
    }
  }
  EXPECT_TRUE(std::filesystem::exists(db.path()));
  {
    auto store = db.open({});
    ASSERT_TRUE(store.ok());
    EXPECT_EQ(*(*store)->users().count(), 50);
  }
  soci::session sql(soci::sqlite3, "db=\"" + db.path() + "\"");
  std::string mode, integrity;
  sql << "PRAGMA journal_mode", soci::into(mode);
  sql << "PRAGMA integrity_check", soci::into(integrity);
  EXPECT_EQ(mode, "wal");
  EXPECT_EQ(integrity, "ok");
}

TEST(SqliteStoreTest, EachConnectionIsConfiguredForDurabilityAndIntegrity) {
  SqliteTestDatabase db;
  ASSERT_TRUE(db.open({}).ok());  // creates the file and directory
  soci::session sql(soci::sqlite3, "db=\"" + db.path() + "\"");
  internal::Dialect(internal::DialectKind::kSqlite)
      .configureConnection(sql, {std::chrono::milliseconds(4321), {}});
  int synchronous = -1, foreign_keys = -1, busy_timeout = -1;
  std::string mode;
  sql << "PRAGMA synchronous", soci::into(synchronous);
  sql << "PRAGMA foreign_keys", soci::into(foreign_keys);
  sql << "PRAGMA busy_timeout", soci::into(busy_timeout);
  sql << "PRAGMA journal_mode", soci::into(mode);
  EXPECT_EQ(synchronous, 2);  // FULL
  EXPECT_EQ(foreign_keys, 1);
  EXPECT_EQ(busy_timeout, 4321);
  EXPECT_EQ(mode, "wal");
}

TEST(StoreOpenTest, UnsupportedMalformedOrUnreachableUrlsAreRefusedClearly) {
  auto open = [](std::string url, std::string replica = {}) {
    StoreOptions options;
    options.url = std::move(url);
    options.replica_url = std::move(replica);
    return openStore(options);
  };
  // Nothing listens on port 1: the server is unreachable, which is retryable.
  auto pg = open("postgres://aureo:secret-password@127.0.0.1:1/aureo");
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.error().code, Code::kUnavailable);
  EXPECT_NE(pg.error().message.find("PostgreSQL"), std::string::npos);
  EXPECT_EQ(pg.error().message.find("secret-password"), std::string::npos) << pg.error().message;
  auto malformed = open("postgresql://aureo@127.0.0.1/aureo?no_such_option=1");
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code, Code::kInvalidArgument);
  EXPECT_EQ(malformed.error().field, "url");
  EXPECT_EQ(open("mysql://localhost/aureo").error().code, Code::kInvalidArgument);
  EXPECT_EQ(open("sqlite:").error().code, Code::kInvalidArgument);
  EXPECT_EQ(open("sqlite::memory:").error().code, Code::kInvalidArgument);
  EXPECT_EQ(open("sqlite:/tmp/never-created.db", "postgres://localhost/aureo").error().field,
            "replica_url");
  EXPECT_EQ(open("postgres://localhost/aureo", "sqlite:/tmp/never-created.db").error().field,
            "replica_url");
  StoreOptions zero_pool;
  zero_pool.url = "sqlite:/tmp/never-created.db";
  zero_pool.pool_size = 0;
  EXPECT_EQ(openStore(zero_pool).error().code, Code::kInvalidArgument);
  StoreOptions zero_wait;
  zero_wait.url = "sqlite:/tmp/never-created.db";
  zero_wait.acquire_timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(openStore(zero_wait).error().code, Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists("/tmp/never-created.db"));
}

// ---------------------------------------------------------------- PostgreSQL only

TEST(PostgresDialectTest, ErrorsMapBySqlstateAndOnlyUncommittedFailuresRetry) {
  const internal::Dialect pg(internal::DialectKind::kPostgres);
  const std::pair<const char*, Code> cases[] = {
      {"23505", Code::kAlreadyExists},
      {"23503", Code::kFailedPrecondition},
      {"23502", Code::kInvalidArgument},
      {"22003", Code::kInvalidArgument},
      {"40001", Code::kAborted},
      {"40P01", Code::kAborted},
      {"57014", Code::kDeadlineExceeded},
      {"57P01", Code::kUnavailable},
      {"57P02", Code::kUnavailable},
      {"57P03", Code::kUnavailable},
      {"08006", Code::kUnavailable},
      {"08001", Code::kUnavailable},
      {"53300", Code::kUnavailable},
      {"53100", Code::kResourceExhausted},
      {"28P01", Code::kUnavailable},
      {"42501", Code::kPermissionDenied},
      {"25006", Code::kFailedPrecondition},
      {"XX001", Code::kDataLoss},
      {"42P01", Code::kInternal},
      {"XX000", Code::kInternal},
  };
  for (const auto& [state, code] : cases) {
    const soci::postgresql_soci_error e("boom", state);
    EXPECT_EQ(pg.mapError(e).code, code) << state;
    const bool retry = std::string(state) == "40001" || std::string(state) == "40P01" ||
                       std::string(state) == "57P01";
    EXPECT_EQ(pg.retryable(e), retry) << state;
  }
  // SQLite's own busy handling waits; the store never replays on SQLite.
  EXPECT_FALSE(internal::Dialect(internal::DialectKind::kSqlite)
                   .retryable(soci::postgresql_soci_error("boom", "40001")));
}

TEST(PostgresDialectTest, UrlsBecomeQuotedKeyValueStringsWithTimeoutAndName) {
  auto converted = internal::postgresConnectString(
      "postgres://u:p%27w@db.example:6543/aureo?sslmode=require", "url", std::chrono::seconds(7));
  ASSERT_TRUE(converted.ok()) << converted.error().toString();
  EXPECT_NE(converted->find("host='db.example'"), std::string::npos) << *converted;
  EXPECT_NE(converted->find("port='6543'"), std::string::npos);
  EXPECT_NE(converted->find("password='p\\'w'"), std::string::npos) << *converted;
  EXPECT_NE(converted->find("sslmode='require'"), std::string::npos);
  EXPECT_NE(converted->find("connect_timeout=7"), std::string::npos);
  EXPECT_NE(converted->find("application_name=aureo"), std::string::npos);
  auto own = internal::postgresConnectString("postgres://h/d?connect_timeout=3&application_name=x",
                                             "url", std::chrono::seconds(7));
  EXPECT_EQ(own->find("connect_timeout=7"), std::string::npos);
  EXPECT_NE(own->find("connect_timeout='3'"), std::string::npos);
}

// Plain connections to the test database: one holds locks in an open
// transaction, the other watches the store's connections in
// pg_stat_activity (which a transaction sees frozen at its first look).
class Observer {
 public:
  explicit Observer(const PostgresTestDatabase& db)
      : sql_(soci::postgresql, connectString(db.url())),
        watch_(soci::postgresql, connectString(db.url())) {}
  soci::session& sql() { return sql_; }
  soci::session& watch() { return watch_; }

  // Backends of the store (by application name) and how many wait on a lock.
  int64_t backends(const std::string& app, bool waiting_on_lock = false) {
    long long n = 0;
    std::string q = "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '" + app + "'";
    if (waiting_on_lock) q += " AND wait_event_type = 'Lock'";
    watch_ << q, soci::into(n);
    return n;
  }
  // Polls without a deadline of its own: ctest's timeout bounds a hang.
  void waitFor(const std::function<bool()>& done) {
    while (!done()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  void terminate(const std::string& app) {
    watch_ << "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
              "application_name = '" +
                  app + "'";
  }

 private:
  soci::session sql_;
  soci::session watch_;
};

class PostgresStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Each test names its store's connections so it can find them.
  Result<std::unique_ptr<Store>> openNamed(PostgresTestDatabase& db, const std::string& app,
                                           int pool_size,
                                           std::function<void(StoreOptions&)> tweak = {}) {
    StoreOptions options = db.options();
    options.url = withParams(db.url(), "application_name=" + app);
    options.pool_size = pool_size;
    if (tweak) tweak(options);
    return openStore(options);
  }
};

TEST_P(PostgresStoreTest, ProcessesOpeningOneFreshDatabaseAtOnceMigrateItOnce) {
  PostgresTestDatabase db;
  constexpr int kOpeners = 4;
  std::vector<std::unique_ptr<Store>> stores(kOpeners);
  auto codes = race(kOpeners, [&](int i) -> core::Status {
    AUREO_ASSIGN_OR_RETURN(stores[static_cast<size_t>(i)], db.open({}));
    return core::okStatus();
  });
  EXPECT_EQ(countOf(codes, Code::kOk), kOpeners);
  EXPECT_EQ(db.queryInt("SELECT COUNT(*) FROM schema_migrations"),
            static_cast<int64_t>(internal::migrations().size()));
  ASSERT_TRUE(stores[0] != nullptr);
  ASSERT_TRUE(stores[0]->users().create(makeUser("after-race")).ok());
  EXPECT_EQ(*stores[kOpeners - 1]->users().count(), 1);
}

TEST_P(PostgresStoreTest, AStatementPastTheTimeoutIsCancelledAsDeadlineExceeded) {
  PostgresTestDatabase db;
  auto store = openNamed(db, "aureo_timeout", 2, [](StoreOptions& o) {
    o.statement_timeout = std::chrono::milliseconds(200);
  });
  ASSERT_TRUE(store.ok()) << store.error().toString();
  Observer raw(db);
  raw.sql() << "BEGIN";
  raw.sql() << "LOCK TABLE users IN ACCESS EXCLUSIVE MODE";
  auto count = (*store)->users().count();  // waits on the lock until cancelled
  raw.sql() << "ROLLBACK";
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.error().code, Code::kDeadlineExceeded) << count.error().toString();
  EXPECT_EQ(*(*store)->users().count(), 0);  // the connection is still good
}

TEST_P(PostgresStoreTest, ConnectionsTheServerDroppedAreReopenedBeforeUse) {
  PostgresTestDatabase db;
  auto store = openNamed(db, "aureo_dropped", 3);
  ASSERT_TRUE(store.ok()) << store.error().toString();
  Observer raw(db);
  EXPECT_EQ(raw.backends("aureo_dropped"), 3);
  raw.terminate("aureo_dropped");
  raw.waitFor([&] { return raw.backends("aureo_dropped") == 0; });
  // Every pooled connection is dead now; each is found so and reopened.
  for (int i = 0; i < 6; ++i) {
    auto status = (*store)->users().create(makeUser("back" + std::to_string(i)));
    ASSERT_TRUE(status.ok()) << status.error().toString();
  }
  EXPECT_EQ(*(*store)->users().count(), 6);
}

TEST_P(PostgresStoreTest, ATransactionWhoseConnectionIsLostBeforeCommitRunsAgainAndCommitsOnce) {
  PostgresTestDatabase db;
  auto store = openNamed(db, "aureo_midway", 1);
  ASSERT_TRUE(store.ok()) << store.error().toString();
  Observer raw(db);
  ASSERT_TRUE((*store)->users().create(makeUser("midway")).ok());
  ASSERT_TRUE((*store)->nodes().create(makeNode("midway")).ok());
  raw.sql() << "BEGIN";
  raw.sql() << "LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE";
  // Ends at its limit of one session: a second run after a commit would
  // fail, so success means it committed exactly once.
  core::Result<SessionRepository::NewSession> created = core::internalError("not run");
  std::atomic<bool> finished{false};
  std::thread writer([&] {
    created = (*store)->sessions().createWithAddresses(
        makeSession("midway", "user-midway", "node-midway", ""), 1, "10.8.0.0/24", "", at(kT0));
    finished = true;
  });
  raw.waitFor([&] { return raw.backends("aureo_midway", true) == 1; });
  // The server ends the connection while the transaction waits before its
  // COMMIT: nothing committed, so the store reconnects and runs it again,
  // which waits again.
  long long first_pid = 0;
  raw.watch() << "SELECT pid FROM pg_stat_activity WHERE application_name = 'aureo_midway'",
      soci::into(first_pid);
  raw.terminate("aureo_midway");
  raw.waitFor([&] {
    if (finished) return true;  // it gave up instead: the assertions below say how
    long long pid = 0;
    soci::indicator ind = soci::i_null;
    raw.watch() << "SELECT MAX(pid) FROM pg_stat_activity WHERE application_name = "
                   "'aureo_midway' AND wait_event_type = 'Lock'",
        soci::into(pid, ind);
    return ind == soci::i_ok && pid != first_pid;
  });
  raw.sql() << "COMMIT";
  writer.join();
  ASSERT_TRUE(created.ok()) << created.error().toString();
  EXPECT_EQ(*(*store)->sessions().countActiveForUser("user-midway"), 1);
  EXPECT_EQ((*store)->sessions().get("session-midway")->tunnel_ip, "10.8.0.2");
}

TEST_P(PostgresStoreTest, AnAutocommitWriteWhoseConnectionIsLostIsReportedUnavailableNotReplayed) {
  PostgresTestDatabase db;
  auto store = openNamed(db, "aureo_doubt", 1);
  ASSERT_TRUE(store.ok()) << store.error().toString();
  Observer raw(db);
  raw.sql() << "BEGIN";
  raw.sql() << "LOCK TABLE users IN ACCESS EXCLUSIVE MODE";
  core::Status created = core::internalError("not run");
  // A lone INSERT commits by itself: once sent, a lost connection leaves its
  // outcome unknown, so the caller is told to retry instead.
  std::thread writer([&] { created = (*store)->users().create(makeUser("doubt")); });
  raw.waitFor([&] { return raw.backends("aureo_doubt", true) == 1; });
  raw.terminate("aureo_doubt");
  writer.join();
  raw.sql() << "ROLLBACK";
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, Code::kUnavailable) << created.error().toString();
  EXPECT_EQ(*(*store)->users().count(), 0);  // the pool reconnected for this call
}

TEST_P(PostgresStoreTest, AFullPoolMakesCallersWaitABoundedTimeThenReportsUnavailable) {
  PostgresTestDatabase db;
  auto store = openNamed(db, "aureo_full", 1, [](StoreOptions& o) {
    o.acquire_timeout = std::chrono::milliseconds(100);
  });
  ASSERT_TRUE(store.ok()) << store.error().toString();
  Observer raw(db);
  raw.sql() << "BEGIN";
  raw.sql() << "LOCK TABLE users IN ACCESS EXCLUSIVE MODE";
  Result<int64_t> held = core::internalError("not run");
  std::thread holder([&] { held = (*store)->users().count(); });  // holds the only connection
  raw.waitFor([&] { return raw.backends("aureo_full", true) == 1; });
  auto ping = (*store)->ping();
  raw.sql() << "ROLLBACK";
  holder.join();
  ASSERT_FALSE(ping.ok());
  EXPECT_EQ(ping.error().code, Code::kUnavailable);
  EXPECT_NE(ping.error().message.find("no free primary database connection"), std::string::npos)
      << ping.error().message;
  EXPECT_TRUE(held.ok());
  EXPECT_TRUE((*store)->ping().ok());
}

TEST_P(PostgresStoreTest, TheReplicaServesListsAndStatisticsWhileEverythingElseUsesThePrimary) {
  // The "replica" is a second schema, so the test sees which one answered;
  // production points replica_url at a streaming standby of the primary.
  PostgresTestDatabase primary_db;
  PostgresTestDatabase replica_db;
  {
    auto replica = replica_db.open({});
    ASSERT_TRUE(replica.ok()) << replica.error().toString();
    ASSERT_TRUE((*replica)->users().create(makeUser("seen-on-replica")).ok());
    ASSERT_TRUE((*replica)->nodes().create(makeNode("replica-node")).ok());
  }
  auto store = openNamed(primary_db, "aureo_primary", 2, [&](StoreOptions& o) {
    o.replica_url = withParams(replica_db.url(), "application_name=aureo_replica");
  });
  ASSERT_TRUE(store.ok()) << store.error().toString();
  ASSERT_TRUE((*store)->users().create(makeUser("on-primary")).ok());
  ASSERT_TRUE((*store)->nodes().create(makeNode("primary-node")).ok());

  auto users = (*store)->users().list({}, Page{10, 0});
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->items.size(), 1u);
  EXPECT_EQ(users->items[0].username, "seen-on-replica");
  auto nodes = (*store)->nodes().list({});
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].name, "replica-node");
  EXPECT_EQ((*store)->stats().collect()->users_total, 1);
  EXPECT_EQ((*store)->sessions().list({}, Page{10, 0})->total, 0);
  EXPECT_EQ((*store)->audit().list({}, Page{10, 0})->total, 0);

  EXPECT_EQ((*store)->users().get("user-on-primary")->username, "on-primary");
  EXPECT_EQ((*store)->users().get("user-seen-on-replica").error().code, Code::kNotFound);
  EXPECT_EQ(*(*store)->users().count(), 1);
  EXPECT_EQ((*store)->nodes().get("node-primary-node")->name, "primary-node");
}

TEST_P(PostgresStoreTest, ListsFallBackToThePrimaryWhileTheReplicaIsUnreachable) {
  // A replica that can vanish: a database of its own, dropped mid-test (the
  // fixture's role may create databases).
  const std::string name = "aureo_rep_" + core::newUuid().substr(0, 8);
  const std::string base = postgresUrl();
  soci::session admin(soci::postgresql, connectString(base));
  admin << "CREATE DATABASE " + name;
  const auto slash = base.rfind('/');
  const auto query = base.find('?', slash);
  const std::string replica_url =
      base.substr(0, slash + 1) + name + (query == std::string::npos ? "" : base.substr(query));
  {
    StoreOptions o;
    o.url = replica_url;
    auto replica = openStore(o);
    ASSERT_TRUE(replica.ok()) << replica.error().toString();
    ASSERT_TRUE((*replica)->users().create(makeUser("on-replica")).ok());
  }
  PostgresTestDatabase primary_db;
  auto store = openNamed(primary_db, "aureo_fallback", 2,
                         [&](StoreOptions& o) { o.replica_url = replica_url; });
  ASSERT_TRUE(store.ok()) << store.error().toString();
  ASSERT_TRUE((*store)->users().create(makeUser("on-primary")).ok());
  EXPECT_EQ((*store)->users().list({}, Page{10, 0})->items.at(0).username, "on-replica");

  admin << "DROP DATABASE " + name + " WITH (FORCE)";
  auto users = (*store)->users().list({}, Page{10, 0});
  ASSERT_TRUE(users.ok()) << users.error().toString();
  ASSERT_EQ(users->items.size(), 1u);
  EXPECT_EQ(users->items[0].username, "on-primary");
  EXPECT_EQ((*store)->stats().collect()->users_total, 1);
}

// Instantiated only when a server is configured (ctest's `postgres` fixture).
std::vector<std::string> postgresOnly() {
  if (postgresUrl().empty()) return {};
  return {"postgres"};
}
INSTANTIATE_TEST_SUITE_P(Server, PostgresStoreTest, ::testing::ValuesIn(postgresOnly()),
                         [](const auto& param_info) { return param_info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PostgresStoreTest);

TEST(MigrationScriptTest, SplitsOnSemicolonsOutsideQuotes) {
  auto parts = internal::splitStatements(
      "CREATE TABLE a (x TEXT DEFAULT ';');\n\n  SELECT 'it''s; fine' ;;  ");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], "CREATE TABLE a (x TEXT DEFAULT ';')");
  EXPECT_EQ(parts[1], "SELECT 'it''s; fine'");
}

}  // namespace
}  // namespace aureo::store
