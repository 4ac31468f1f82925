#include "openvpn/backoff.h"

#include <algorithm>

namespace aureo::openvpn {

RestartBackoff::RestartBackoff(BackoffPolicy policy) : policy_(policy), next_(policy.initial) {}

std::chrono::milliseconds RestartBackoff::nextDelay(std::chrono::steady_clock::duration uptime) {
  if (uptime >= policy_.stable_after) next_ = policy_.initial;
  const auto delay = next_;
  next_ = std::min(next_ * 2, policy_.max);
  return delay;
}

}  // namespace aureo::openvpn
