#include "core/log.h"

#include <pthread.h>
#include <spdlog/sinks/base_sink.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <csignal>

#include <algorithm>
#include <array>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

namespace aureo::core {
namespace {

const SystemClock kSystemClock;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string_view logLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

bool parseLogLevel(std::string_view text, LogLevel* out) {
  const std::string t = lower(text);
  if (t == "debug")
    *out = LogLevel::kDebug;
  else if (t == "info")
    *out = LogLevel::kInfo;
  else if (t == "warn" || t == "warning")
    *out = LogLevel::kWarn;
  else if (t == "error")
    *out = LogLevel::kError;
  else
    return false;
  return true;
}

bool isSecretFieldName(std::string_view key) {
  static constexpr std::array<std::string_view, 8> kMarkers = {
      "password", "passwd", "secret", "token", "private", "authorization", "cookie", "psk"};
  // Called for every field of every line: lower-case short keys on the stack.
  char buf[64];
  std::string heap;
  std::string_view k;
  if (key.size() <= sizeof(buf)) {
    for (size_t i = 0; i < key.size(); ++i) {
      buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
    }
    k = std::string_view(buf, key.size());
  } else {
    heap = lower(key);
    k = heap;
  }
  if (k == "key" || k.ends_with("_key") || k.ends_with("-key")) {
    return !(k == "public_key" || k.ends_with("public_key"));
  }
  return std::any_of(kMarkers.begin(), kMarkers.end(),
                     [&](std::string_view m) { return k.find(m) != std::string::npos; });
}

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0x0f]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// Lines collect in memory and reach stderr in one write(2) on flush. Batched
// loggers flush when 32 KiB have gathered, every 250 ms, and at once for
// warnings and errors: a busy server then makes one syscall per few hundred
// access-log lines instead of one per line, and a SIGKILL can lose at most
// the last quarter second of info lines. Unbatched loggers flush every line.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    buffer_.append(msg.payload.data(), msg.payload.size());
    buffer_.push_back('\n');
    if (buffer_.size() >= size_t{32} * 1024) flush_();
  }
  void flush_() override {
    size_t off = 0;
    while (off < buffer_.size()) {
      const ssize_t n = ::write(STDERR_FILENO, buffer_.data() + off, buffer_.size() - off);
      if (n <= 0) break;  // stderr closed or broken: drop rather than block
      off += static_cast<size_t>(n);
    }
    buffer_.clear();
  }

 private:
  std::string buffer_;
};

struct Logger::Impl {
  std::shared_ptr<spdlog::logger> spd;
  std::jthread flusher;
};

Logger::Logger(std::string service, LogLevel min_level, Flush flush)
    : service_(std::move(service)),
      min_level_(min_level),
      clock_(&kSystemClock),
      impl_(std::make_unique<Impl>()) {
  auto sink = std::make_shared<BufferedStderrSink>();
  impl_->spd = std::make_shared<spdlog::logger>(service_, std::move(sink));
  impl_->spd->set_level(spdlog::level::trace);
  if (flush == Flush::kEveryLine) {
    impl_->spd->flush_on(spdlog::level::trace);
    return;
  }
  impl_->spd->flush_on(spdlog::level::warn);
  impl_->flusher = std::jthread([spd = impl_->spd](const std::stop_token& stop) {
    // This thread may start before main() blocks the signals it waits for
    // with sigwait; it must never be the one a SIGTERM is delivered to.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    while (!stop.stop_requested()) {
      cv.wait_for(lock, stop, std::chrono::milliseconds(250), [] { return false; });
      spd->flush();
    }
    spd->flush();
  });
}

Logger::Logger(std::string service, LogLevel min_level, Sink sink, const Clock* clock)
    : service_(std::move(service)),
      min_level_(min_level),
      sink_(std::move(sink)),
      clock_(clock ? clock : &kSystemClock) {}

Logger::~Logger() = default;

std::string Logger::formatLine(SystemTime when, LogLevel level, std::string_view service,
                               std::string_view message, LogFields fields) {
  std::string line;
  line.reserve(128 + message.size());
  line += "{\"timestamp\":\"";
  line += formatRfc3339(when);
  line += "\",\"level\":\"";
  line += logLevelName(level);
  line += "\",\"service\":";
  appendJsonString(line, service);
  line += ",\"message\":";
  appendJsonString(line, message);
  for (const LogField& f : fields) {
    static constexpr std::array<std::string_view, 4> kReserved = {"timestamp", "level", "service",
                                                                  "message"};
    line.push_back(',');
    if (std::find(kReserved.begin(), kReserved.end(), f.key) != kReserved.end()) {
      appendJsonString(line, "ctx_" + f.key);
    } else {
      appendJsonString(line, f.key);
    }
    line.push_back(':');
    if (isSecretFieldName(f.key)) {
      line += "\"[redacted]\"";
    } else if (f.raw) {
      line += f.value;
    } else {
      appendJsonString(line, f.value);
    }
  }
  line.push_back('}');
  return line;
}

void Logger::log(LogLevel level, std::string_view message, LogFields fields) const {
  if (!enabled(level)) return;
  const std::string line = formatLine(clock_->now(), level, service_, message, fields);
  if (sink_) {
    sink_(line);
  } else if (impl_) {
    impl_->spd->log(level >= LogLevel::kWarn ? spdlog::level::warn : spdlog::level::info,
                    spdlog::string_view_t(line.data(), line.size()));
  }
}

Logger& Logger::null() {
  static Logger logger("null", LogLevel::kError, [](std::string_view) {});
  return logger;
}

}  // namespace aureo::core
