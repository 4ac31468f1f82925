// CPU utilisation from /proc/stat: the share of non-idle jiffies between two
// samples, over every CPU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aureo::node {

struct CpuTimes {
  uint64_t busy = 0;
  uint64_t total = 0;
};

// The aggregate "cpu " line of /proc/stat; nullopt if it is missing or bad.
std::optional<CpuTimes> parseProcStat(std::string_view text);

// Percent busy (0-100) between two samples; 0 when no time passed.
double cpuPercent(const CpuTimes& before, const CpuTimes& after);

// Not thread-safe: one sampler per caller.
class CpuSampler {
 public:
  explicit CpuSampler(std::string path = "/proc/stat");
  // Usage since the previous call (or construction); nullopt if unreadable.
  std::optional<double> sample();

 private:
  std::optional<CpuTimes> read() const;

  std::string path_;
  std::optional<CpuTimes> last_;
};

}  // namespace aureo::node
