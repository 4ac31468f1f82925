// Test helper: run a test body inside a brand-new, empty network namespace.
//
// The namespace belongs to a fresh thread (network namespaces are per
// thread), so the host's namespace is never touched and everything the body
// creates (links, addresses, routes, rules, nftables tables, net.* sysctls)
// disappears with the namespace when the thread ends, whether the body
// passed, failed an ASSERT or returned early.
#pragma once

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

namespace aureo::netcfg::testing {

inline void runInFreshNetns(const std::function<void()>& body) {
  std::thread thread([&body] {
    if (::unshare(CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno)
                    << " (network namespace tests need root)";
      return;
    }
    body();
  });
  thread.join();
}

}  // namespace aureo::netcfg::testing
