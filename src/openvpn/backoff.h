// How long the supervisor waits before restarting a daemon that died:
// exponential from `initial` to `max`, back to `initial` once a run lasted
// `stable_after`, so a crash loop slows down and a rare crash does not.
#pragma once

#include <chrono>

namespace aureo::openvpn {

struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{60'000};
  std::chrono::milliseconds stable_after{60'000};
};

class RestartBackoff {
 public:
  explicit RestartBackoff(BackoffPolicy policy = {});

  // The daemon exited after running for `uptime`: the delay before the next
  // start. Not thread-safe; the supervisor's monitor thread owns it.
  std::chrono::milliseconds nextDelay(std::chrono::steady_clock::duration uptime);

 private:
  BackoffPolicy policy_;
  std::chrono::milliseconds next_;
};

}  // namespace aureo::openvpn
