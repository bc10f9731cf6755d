#include "metrics/lag_status.h"

#include <algorithm>

namespace keel::metrics {

PartitionLagStatus evaluate_partition(const std::deque<LagSample>& window, bool has_members) {
  if (window.size() < 2) return PartitionLagStatus::kOk;
  for (size_t i = 1; i < window.size(); ++i) {
    if (window[i].committed < window[i - 1].committed) return PartitionLagStatus::kRewind;
  }
  if (std::any_of(window.begin(), window.end(), [](const LagSample& s) { return s.lag <= 0; })) {
    return PartitionLagStatus::kOk;
  }
  if (window.front().committed == window.back().committed) {
    return has_members ? PartitionLagStatus::kStall : PartitionLagStatus::kStop;
  }
  if (window.size() >= 3) {
    bool growing = true;
    for (size_t i = 1; i < window.size() && growing; ++i) growing = window[i].lag > window[i - 1].lag;
    if (growing) return PartitionLagStatus::kWarn;
  }
  return PartitionLagStatus::kOk;
}

LagStatus group_status(const std::vector<PartitionLagStatus>& partitions) {
  LagStatus worst = LagStatus::kOk;
  for (PartitionLagStatus p : partitions) {
    LagStatus s = LagStatus::kOk;
    switch (p) {
      case PartitionLagStatus::kOk: s = LagStatus::kOk; break;
      case PartitionLagStatus::kWarn: s = LagStatus::kWarn; break;
      case PartitionLagStatus::kStall: s = LagStatus::kStall; break;
      case PartitionLagStatus::kStop: s = LagStatus::kStop; break;
      case PartitionLagStatus::kRewind: return LagStatus::kErr;
    }
    worst = std::max(worst, s);
  }
  return worst;
}

std::string_view status_name(LagStatus s) {
  switch (s) {
    case LagStatus::kOk: return "OK";
    case LagStatus::kWarn: return "WARN";
    case LagStatus::kStall: return "STALL";
    case LagStatus::kStop: return "STOP";
    case LagStatus::kErr: return "ERR";
  }
  return "OK";
}

int burrow_code(LagStatus s) {
  switch (s) {
    case LagStatus::kOk: return 2;
    case LagStatus::kWarn: return 3;
    case LagStatus::kErr: return 4;
    case LagStatus::kStop: return 5;
    case LagStatus::kStall: return 6;
  }
  return 2;
}

void add_sample(std::deque<LagSample>& window, const LagSample& sample) {
  if (!window.empty() && sample.at_ms - window.back().at_ms < kSampleMs) return;
  window.push_back(sample);
  while (window.size() > kWindowSamples) window.pop_front();
}

}  // namespace keel::metrics
