#include "core/process.h"

#include <pthread.h>

#include <iostream>

namespace aureo::core {

Result<std::optional<ProcessSettings>> loadProcessSettings(const std::string& program,
                                                           const std::string& summary,
                                                           const ConfigSchema& schema, int argc,
                                                           const char* const* argv) {
  AUREO_ASSIGN_OR_RETURN(CommandLine cl, parseCommandLine(schema, argc, argv));
  if (cl.help) {
    std::cout << helpText(program, summary, schema);
    return std::optional<ProcessSettings>{};
  }
  AUREO_ASSIGN_OR_RETURN(Config config, loadConfig(schema, cl.sources));
  ProcessSettings settings{std::move(config), LogLevel::kInfo};
  if (settings.config.has("log.level") &&
      !parseLogLevel(settings.config.getString("log.level"), &settings.log_level)) {
    return invalidArgument("invalid value for 'log.level': must be debug, info, warn or error",
                           "log.level");
  }
  return std::optional<ProcessSettings>{std::move(settings)};
}

sigset_t blockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

}  // namespace aureo::core
