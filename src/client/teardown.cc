#include "client/teardown.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "netcfg/cgroup.h"
#include "netcfg/netlink.h"
#include "netcfg/nftables.h"
#include "netcfg/resolv.h"
#include "netcfg/sysctl.h"

namespace aureo::client {

core::Status tearDown(const ConnectionState& state, core::Logger& log) {
  core::Status first;
  auto note = [&](const core::Status& st, std::string_view what) {
    if (st.ok() || st.error().code == core::Code::kNotFound) return;
    log.warn("cleanup step failed", {{"step", what}, {"error", st.error().message}});
    if (first.ok()) first = st;
  };
  if (!state.resolv_conf.empty()) {
    netcfg::ResolvConf resolv(state.resolv_conf, state.resolv_backup);
    note(resolv.restore(), "resolv.conf");
  }
  auto nl = netcfg::Netlink::open();
  if (nl.ok()) {
    for (auto it = state.rules.rbegin(); it != state.rules.rend(); ++it) {
      note(nl->delRule(*it), "rule");
    }
    if (!state.interface_name.empty() && nl->linkIndex(state.interface_name).ok()) {
      note(nl->deleteLink(state.interface_name), "interface");
    }
  } else {
    note(nl.error(), "netlink");
  }
  auto nft = netcfg::Nftables::open();
  if (nft.ok()) {
    // The kill switch went in first and comes out last.
    for (auto it = state.nft_tables.rbegin(); it != state.nft_tables.rend(); ++it) {
      note(nft->deleteTable(netcfg::TableFamily::kInet, *it), "nftables");
    }
  } else {
    note(nft.error(), "nftables");
  }
  if (!state.cgroup.empty()) {
    auto cg = netcfg::Cgroup::open(state.cgroup, state.cgroup_mount);
    note(cg.ok() ? cg->remove() : core::Status(cg.error()), "cgroup");
  }
  for (const auto& [key, value] : state.sysctls) note(netcfg::writeSysctl(key, value), "sysctl");
  if (!state.uapi_socket.empty() && ::unlink(state.uapi_socket.c_str()) != 0 && errno != ENOENT) {
    note(core::internalError(fmt::format("remove {}: {}", state.uapi_socket,
                                         std::system_category().message(errno))),
         "uapi");
  }
  return first;
}

}  // namespace aureo::client
