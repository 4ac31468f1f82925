#include "store/internal/db.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <thread>

namespace aureo::store::internal {

int64_t toMillis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

SystemTime fromMillis(int64_t ms) {
  return SystemTime{std::chrono::milliseconds{ms}};
}

NullableMillis::NullableMillis(const std::optional<SystemTime>& t) {
  if (t) {
    value = toMillis(*t);
    ind = soci::i_ok;
  }
}

std::optional<SystemTime> NullableMillis::get() const {
  if (ind == soci::i_null) return std::nullopt;
  return fromMillis(value);
}

NullableText::NullableText(const std::optional<std::string>& s) {
  if (s) {
    value = *s;
    ind = soci::i_ok;
  }
}

std::optional<std::string> NullableText::get() const {
  if (ind == soci::i_null) return std::nullopt;
  return value;
}

std::string escapeLike(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string asciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string asciiUpper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

core::Result<Page> checkPage(const Page& page) {
  if (page.limit <= 0) return core::invalidArgument("page limit must be positive", "limit");
  if (page.offset < 0) return core::invalidArgument("page offset must not be negative", "offset");
  Page out = page;
  if (out.limit > kMaxPageLimit) out.limit = kMaxPageLimit;
  return out;
}

std::string joinList(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out.push_back(',');
    out += item;
  }
  return out;
}

std::vector<std::string> splitList(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

AttemptState*& currentAttempt() {
  thread_local AttemptState* state = nullptr;
  return state;
}

void Db::backOff(int attempt) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  const int ceiling_ms = 5 << std::min(attempt, 6);  // 10, 20, 40 ... 320 ms
  std::uniform_int_distribution<int> pick(ceiling_ms / 2, ceiling_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(pick(rng)));
}

Transaction::Transaction(soci::session& sql, std::string_view begin) : sql_(sql) {
  sql_ << std::string(begin);
  if (AttemptState* state = currentAttempt()) ++state->open_transactions;
}

Transaction::~Transaction() {
  if (!open_) return;
  if (AttemptState* state = currentAttempt()) --state->open_transactions;
  try {
    sql_ << "ROLLBACK";
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see the class comment
  }
}

void Transaction::commit() {
  AttemptState* state = currentAttempt();
  if (state != nullptr) state->commit_in_doubt = true;
  sql_ << "COMMIT";  // if this throws, the destructor rolls back (SQLite keeps a busy tx open)
  open_ = false;
  if (state != nullptr) --state->open_transactions;
}

Query& Query::where(std::string_view condition) {
  text_ += has_where_ ? " AND " : " WHERE ";
  text_ += condition;
  has_where_ = true;
  return *this;
}

Query& Query::append(std::string_view text) {
  text_ += text;
  return *this;
}

Query& Query::bindText(std::string name, std::string value) {
  strings_.emplace_back(std::move(name), std::move(value));
  return *this;
}

Query& Query::bindInt(std::string name, long long value) {
  ints_.emplace_back(std::move(name), value);
  return *this;
}

Query& Query::bindReal(std::string name, double value) {
  reals_.emplace_back(std::move(name), value);
  return *this;
}

Query& Query::bindTime(std::string name, SystemTime value) {
  return bindInt(std::move(name), toMillis(value));
}

Query& Query::bindOptText(std::string name, const std::optional<std::string>& value) {
  opt_texts_.emplace_back(std::move(name), NullableText(value));
  return *this;
}

Query& Query::bindOptTime(std::string name, const std::optional<SystemTime>& value) {
  opt_times_.emplace_back(std::move(name), NullableMillis(value));
  return *this;
}

void Query::bindTo(soci::statement& st) {
  for (auto& [name, value] : strings_) st.exchange(soci::use(value, name));
  for (auto& [name, value] : ints_) st.exchange(soci::use(value, name));
  for (auto& [name, value] : reals_) st.exchange(soci::use(value, name));
  for (auto& [name, value] : opt_texts_) st.exchange(soci::use(value.value, value.ind, name));
  for (auto& [name, value] : opt_times_) st.exchange(soci::use(value.value, value.ind, name));
}

long long execute(soci::session& sql, Query& q) {
  if (AttemptState* state = currentAttempt(); state != nullptr && state->open_transactions == 0) {
    state->commit_in_doubt = true;  // an autocommit write
  }
  soci::statement st(sql);
  q.bindTo(st);
  st.alloc();
  st.prepare(q.text(), soci::details::st_one_time_query);
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

long long queryCount(soci::session& sql, Query& q) {
  long long n = 0;
  soci::statement st(sql);
  st.exchange(soci::into(n));
  q.bindTo(st);
  st.alloc();
  st.prepare(q.text(), soci::details::st_one_time_query);
  st.define_and_bind();
  st.execute(true);
  return n;
}

}  // namespace aureo::store::internal
