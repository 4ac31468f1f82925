#include "node/cpu.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace aureo::node {

std::optional<CpuTimes> parseProcStat(std::string_view text) {
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with("cpu ")) continue;
    line.remove_prefix(4);
    uint64_t fields[10] = {};
    size_t n = 0;
    while (n < 10) {
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (line.empty()) break;
      const auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), fields[n]);
      if (ec != std::errc()) return std::nullopt;
      line.remove_prefix(static_cast<size_t>(ptr - line.data()));
      ++n;
    }
    if (n < 4) return std::nullopt;
    // guest and guest_nice are already counted in user and nice.
    const size_t counted = std::min<size_t>(n, 8);
    CpuTimes t;
    for (size_t i = 0; i < counted; ++i) t.total += fields[i];
    const uint64_t idle = fields[3] + (n > 4 ? fields[4] : 0);  // idle + iowait
    t.busy = t.total - idle;
    return t;
  }
  return std::nullopt;
}

double cpuPercent(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total || after.busy < before.busy) return 0;
  const double busy = static_cast<double>(after.busy - before.busy);
  const double total = static_cast<double>(after.total - before.total);
  return std::clamp(100.0 * busy / total, 0.0, 100.0);
}

CpuSampler::CpuSampler(std::string path) : path_(std::move(path)), last_(read()) {}

std::optional<CpuTimes> CpuSampler::read() const {
  std::ifstream in(path_);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return parseProcStat(ss.str());
}

std::optional<double> CpuSampler::sample() {
  auto now = read();
  if (!now) return std::nullopt;
  std::optional<double> out;
  if (last_) out = cpuPercent(*last_, *now);
  last_ = now;
  return out;
}

}  // namespace aureo::node
