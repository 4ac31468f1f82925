// What every Aureo executable does first: read its command line and settings,
// and take SIGINT/SIGTERM away from ordinary threads.
#pragma once

#include <csignal>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/log.h"
#include "core/result.h"

namespace aureo::core {

struct ProcessSettings {
  Config config;
  LogLevel log_level = LogLevel::kInfo;  // from the schema's "log.level"
};

// Parses argv against the schema, loads the configuration and the log level.
// Prints the help text and returns nullopt for --help. Errors name the key.
Result<std::optional<ProcessSettings>> loadProcessSettings(const std::string& program,
                                                           const std::string& summary,
                                                           const ConfigSchema& schema, int argc,
                                                           const char* const* argv);

// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it
// starts afterwards, so one thread can sigwait() for them; ignores SIGPIPE.
// Call before starting any thread.
sigset_t blockTerminationSignals();

}  // namespace aureo::core
