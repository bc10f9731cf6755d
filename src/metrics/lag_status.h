#pragma once
// A consumer group's health from its lag over time, in the spirit of
// LinkedIn's Burrow (docs/metrics.md, "Consumer status"). The broker samples
// each (group, partition) it coordinates — committed offset and lag — at
// most once per kSampleMs when /metrics is scraped, keeps the last
// kWindowSamples, and judges each partition by the window:
//
//   OK     fewer than two samples, or the lag was 0 in some sample;
//   REWIND the committed offset went backwards between two samples (an offset
//          reset, or a lost commit);
//   STOP   the committed offset never moved over the window, the lag is
//          above 0, and the group has no members (nobody is consuming);
//   STALL  the same with members (consumers connected, not progressing);
//   WARN   the offset moved, yet the lag grew between every two consecutive
//          samples (at least three samples: the consumer falls behind);
//   else OK.
//
// The group's status is the worst of its partitions' (OK < WARN < STALL <
// STOP), and ERR when any partition rewound. Pure functions: no clock, no
// state (the caller keeps the window).

#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

namespace keel::metrics {

enum class LagStatus : uint8_t { kOk, kWarn, kStall, kStop, kErr };
enum class PartitionLagStatus : uint8_t { kOk, kWarn, kStall, kStop, kRewind };

struct LagSample {
  int64_t at_ms = 0;      // any monotonic clock
  int64_t committed = 0;  // the group's committed offset
  int64_t lag = 0;        // end offset minus committed
};

inline constexpr int64_t kSampleMs = 10000;
inline constexpr size_t kWindowSamples = 10;

// `window` oldest first.
PartitionLagStatus evaluate_partition(const std::deque<LagSample>& window, bool has_members);
LagStatus group_status(const std::vector<PartitionLagStatus>& partitions);
// "OK", "WARN", "STALL", "STOP", "ERR".
std::string_view status_name(LagStatus s);
// burrow_exporter's number for the status (OK 2, WARN 3, ERR 4, STOP 5, STALL 6).
int burrow_code(LagStatus s);

// Adds `sample` to `window` when the newest one is at least kSampleMs older
// (or the window is empty), dropping the oldest past kWindowSamples.
void add_sample(std::deque<LagSample>& window, const LagSample& sample);

}  // namespace keel::metrics
