// The connection pool and the few helpers every repository uses: running a
// statement with error mapping and timing, transactions, and queries built
// from optional filters with every value bound.
#pragma once

#include <soci/soci.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/internal/dialect.h"
#include "store/internal/pool.h"
#include "store/store.h"

namespace aureo::store::internal {

// Times are stored as BIGINT unix milliseconds (see migrations.cc).
int64_t toMillis(SystemTime t);
SystemTime fromMillis(int64_t ms);

// A nullable BIGINT time column, bound or fetched with an indicator.
struct NullableMillis {
  long long value = 0;
  soci::indicator ind = soci::i_null;

  NullableMillis() = default;
  explicit NullableMillis(const std::optional<SystemTime>& t);
  [[nodiscard]] std::optional<SystemTime> get() const;
};

// A nullable TEXT column.
struct NullableText {
  std::string value;
  soci::indicator ind = soci::i_null;

  NullableText() = default;
  explicit NullableText(const std::optional<std::string>& s);
  [[nodiscard]] std::optional<std::string> get() const;
};

// Escapes LIKE wildcards so the text matches literally under ESCAPE '\'.
std::string escapeLike(std::string_view text);
std::string asciiLower(std::string_view text);
std::string asciiUpper(std::string_view text);

// Pages longer than this are cut to it, so one call cannot read a whole table.
constexpr int64_t kMaxPageLimit = 1000;

// kInvalidArgument for a non-positive limit or a negative offset; otherwise
// the page with its limit capped at kMaxPageLimit.
core::Result<Page> checkPage(const Page& page);

// Joins and splits the comma-separated TEXT lists (vpn_nodes.protocols).
std::string joinList(const std::vector<std::string>& items);
std::vector<std::string> splitList(std::string_view text);

// What the attempt running on this thread has sent so far, so that a lost
// connection can be judged: PostgreSQL commits nothing before COMMIT (or an
// autocommit write) goes out, and rolls back whatever a dead connection
// left open. Transaction and execute() keep it; Db::run sets it up.
struct AttemptState {
  int open_transactions = 0;
  bool commit_in_doubt = false;  // a COMMIT or autocommit write was sent
};
// The state of the attempt on this thread, or null outside Db::run.
AttemptState*& currentAttempt();

struct DbOptions {
  std::chrono::milliseconds acquire_timeout{10000};
  // Attempts of a transaction that failed in a way that certainly did not
  // commit (Dialect::retryable); 1 means no retry.
  int max_attempts = 4;
};

class Db {
 public:
  // `replica` may be null: reads then go to the primary.
  Db(std::unique_ptr<ConnectionPool> primary, std::unique_ptr<ConnectionPool> replica,
     Dialect dialect, DbOptions options, QueryObserver observer)
      : primary_(std::move(primary)),
        replica_(std::move(replica)),
        dialect_(dialect),
        options_(options),
        observer_(std::move(observer)) {}

  [[nodiscard]] const Dialect& dialect() const { return dialect_; }

  // Runs fn(soci::session&) on a pooled primary connection. fn returns a
  // Result or Status; any exception becomes an Error per store.h. fn runs
  // again, whole, after a failure Dialect::retryable() says did not commit,
  // so it must build its statements afresh each time (every repository
  // lambda does). The observer hears the op name, the total time taken and
  // whether the database reported an error (a kNotFound the repository
  // decides on is not a database error). Safe from any thread.
  template <typename Fn>
  auto run(std::string_view op, Fn&& fn) -> decltype(fn(std::declval<soci::session&>())) {
    return observed(op, [&](bool& db_ok) { return attempts(*primary_, fn, db_ok); });
  }

  // run() for a read-only query that may see a slightly stale snapshot
  // (lists, statistics): it goes to the read replica when one is configured,
  // and to the primary when the replica cannot be reached.
  template <typename Fn>
  auto runRead(std::string_view op, Fn&& fn) -> decltype(fn(std::declval<soci::session&>())) {
    if (!replica_) return run(op, std::forward<Fn>(fn));
    return observed(op, [&](bool& db_ok) {
      auto result = attempts(*replica_, fn, db_ok);
      if (!result.ok() && result.error().code == core::Code::kUnavailable) {
        db_ok = true;
        return attempts(*primary_, fn, db_ok);
      }
      return result;
    });
  }

 private:
  template <typename Body>
  auto observed(std::string_view op, Body&& body) {
    const auto start = std::chrono::steady_clock::now();
    bool db_ok = true;
    auto result = body(db_ok);
    if (observer_) {
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      observer_(op, took.count(), db_ok);
    }
    return result;
  }

  template <typename Fn>
  auto attempts(ConnectionPool& pool, Fn& fn, bool& db_ok)
      -> decltype(fn(std::declval<soci::session&>())) {
    for (int attempt = 1;; ++attempt) {
      auto lease = pool.acquire(options_.acquire_timeout);
      if (!lease.ok()) {
        db_ok = false;
        return lease.error();
      }
      bool retry = false;
      core::Error error;
      AttemptState state;
      AttemptScope scope(state);
      try {
        return fn(lease->session());
      } catch (const std::exception& e) {
        error = dialect_.mapError(e);
        retry = dialect_.retryable(e);
        if (dialect_.connectionLost(lease->session())) {
          error.code = core::Code::kUnavailable;
          // Lost before anything could commit: safe to run again whole.
          // Lost during a COMMIT: the outcome is unknown, so the caller hears
          // kUnavailable rather than risk applying the change twice.
          retry = retry || !state.commit_in_doubt;
        }
        // A server going away may say so (57P01) before the socket shows it.
        if (error.code == core::Code::kUnavailable) lease->markBroken();
      }
      db_ok = false;
      if (!retry || attempt >= options_.max_attempts) return error;
      backOff(attempt);
    }
  }

  class AttemptScope {
   public:
    explicit AttemptScope(AttemptState& state) : saved_(currentAttempt()) {
      currentAttempt() = &state;
    }
    AttemptScope(const AttemptScope&) = delete;
    AttemptScope& operator=(const AttemptScope&) = delete;
    ~AttemptScope() { currentAttempt() = saved_; }

   private:
    AttemptState* saved_;
  };

  // Sleeps a short, growing, jittered while before attempt + 1.
  static void backOff(int attempt);

  std::unique_ptr<ConnectionPool> primary_;
  std::unique_ptr<ConnectionPool> replica_;
  Dialect dialect_;
  DbOptions options_;
  QueryObserver observer_;
};

// Rolls back unless commit() ran. A failed rollback (the connection is gone)
// is swallowed: the error that caused it is already on its way out.
class Transaction {
 public:
  Transaction(soci::session& sql, std::string_view begin);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  soci::session& sql_;
  bool open_ = true;
};

// SQL text grown from optional filters. Values are kept here, at stable
// addresses, and bound by name; the text never contains a value.
class Query {
 public:
  explicit Query(std::string text) : text_(std::move(text)) {}

  // Adds a condition, with WHERE before the first one and AND between them.
  Query& where(std::string_view condition);
  Query& append(std::string_view text);
  Query& bindText(std::string name, std::string value);
  Query& bindInt(std::string name, long long value);
  Query& bindReal(std::string name, double value);
  Query& bindTime(std::string name, SystemTime value);  // as unix milliseconds
  Query& bindOptText(std::string name, const std::optional<std::string>& value);
  Query& bindOptTime(std::string name, const std::optional<SystemTime>& value);

  [[nodiscard]] const std::string& text() const { return text_; }
  // Binds every stored value to st. The Query must outlive st.
  void bindTo(soci::statement& st);

 private:
  std::string text_;
  bool has_where_ = false;
  std::deque<std::pair<std::string, std::string>> strings_;
  std::deque<std::pair<std::string, long long>> ints_;
  std::deque<std::pair<std::string, double>> reals_;
  std::deque<std::pair<std::string, NullableText>> opt_texts_;
  std::deque<std::pair<std::string, NullableMillis>> opt_times_;
};

// Prepares q on sql with row's into() targets and calls on_row after each
// fetched row. Row needs `void into(soci::statement&)`.
template <typename Row, typename OnRow>
void forEachRow(soci::session& sql, Query& q, Row& row, OnRow&& on_row) {
  soci::statement st(sql);
  row.into(st);
  q.bindTo(st);
  st.alloc();
  st.prepare(q.text(), soci::details::st_one_time_query);
  st.define_and_bind();
  st.execute(false);
  while (st.fetch()) on_row();
}

// Runs a statement without results; returns the number of rows it touched.
long long execute(soci::session& sql, Query& q);

// Runs a query returning one BIGINT (COUNT(*) and the like).
long long queryCount(soci::session& sql, Query& q);

}  // namespace aureo::store::internal
