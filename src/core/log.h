// JSON-lines logging: one object per line with timestamp, level, service,
// message and context fields. Fields whose names say they carry a secret
// (password, token, secret, private key, authorization) are written as
// "[redacted]", so a careless call site cannot leak one.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/clock.h"

namespace aureo::core {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };
std::string_view logLevelName(LogLevel level);
// "debug", "info", "warn"/"warning", "error".
bool parseLogLevel(std::string_view text, LogLevel* out);

struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  LogField(std::string_view k, T v) : key(k), raw(true) {
    if constexpr (std::is_same_v<T, bool>) {
      value = v ? "true" : "false";
    } else {
      value = std::to_string(v);
    }
  }

  std::string key;
  std::string value;
  bool raw = false;  // value is a JSON literal (number/bool), not a string
};

using LogFields = std::initializer_list<LogField>;

// True for field names that must never carry their value into a log line.
bool isSecretFieldName(std::string_view key);

// Appends s to out as a JSON string literal, quotes included.
void appendJsonString(std::string& out, std::string_view s);

class Logger {
 public:
  using Sink = std::function<void(std::string_view line)>;

  // Writes to stderr through spdlog. Safe from any thread. Unbatched, each
  // line is written at once. Batched, lines are gathered and written every
  // 250 ms (warnings and errors at once) by a flusher thread: for busy
  // servers whose access log would otherwise cost a syscall per request. A
  // batched logger must not be created before a fork() the process survives.
  enum class Flush { kEveryLine, kBatched };
  Logger(std::string service, LogLevel min_level, Flush flush = Flush::kEveryLine);
  // Writes each finished line (without newline) to sink; for tests and embedding.
  Logger(std::string service, LogLevel min_level, Sink sink, const Clock* clock = nullptr);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void log(LogLevel level, std::string_view message, LogFields fields = {}) const;
  void debug(std::string_view m, LogFields f = {}) const { log(LogLevel::kDebug, m, f); }
  void info(std::string_view m, LogFields f = {}) const { log(LogLevel::kInfo, m, f); }
  void warn(std::string_view m, LogFields f = {}) const { log(LogLevel::kWarn, m, f); }
  void error(std::string_view m, LogFields f = {}) const { log(LogLevel::kError, m, f); }

  [[nodiscard]] bool enabled(LogLevel level) const { return level >= min_level_; }
  [[nodiscard]] const std::string& service() const { return service_; }

  // Builds one line; exposed for tests.
  static std::string formatLine(SystemTime when, LogLevel level, std::string_view service,
                                std::string_view message, LogFields fields);

  // A logger that drops everything, for tests that do not look at logs.
  static Logger& null();

 private:
  struct Impl;
  std::string service_;
  LogLevel min_level_;
  Sink sink_;
  const Clock* clock_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aureo::core
