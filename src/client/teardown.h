// Undoing a connection from its state file: what `disconnect` runs after
// the daemon stopped (or died), and what a failed connect runs on itself.
#pragma once

#include "client/state.h"
#include "core/log.h"
#include "core/result.h"

namespace aureo::client {

// Undoes everything `state` records: resolv.conf, policy rules, a leftover
// interface, nftables tables (the kill switch last), the cgroup, sysctls and
// the UAPI socket. Each step is tried even when an earlier one fails, and
// undoing something that is already gone is no error; the first failure is
// returned.
core::Status tearDown(const ConnectionState& state, core::Logger& log);

}  // namespace aureo::client
