// Running the connection as a daemon: `aureo-vpn connect` forks a detached
// process that owns the engine and returns once that process says the tunnel
// is up (or why it is not).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "core/log.h"
#include "core/result.h"

namespace aureo::client {

// The daemon's verdict, sent once to the waiting parent.
using ReportReady = std::function<void(const core::Status& outcome)>;

// Forks (twice, so the daemon is nobody's child and leaves no zombie), and
// in the daemon: a new session, stdin and stdout on /dev/null, stderr
// appended to `log_file`, then `body`, whose return value is the exit code.
// `body` must call its ReportReady exactly once. The caller gets that
// verdict; a daemon that exits without one gives Unavailable with the end of
// its log. Call with no other thread running.
core::Status runDetached(const std::filesystem::path& log_file,
                         const std::function<int(const ReportReady&)>& body);

}  // namespace aureo::client
