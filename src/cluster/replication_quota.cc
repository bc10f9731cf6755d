#include "cluster/replication_quota.h"

#include <algorithm>
#include <charconv>

namespace keel::cluster {

ThrottledReplicas ThrottledReplicas::parse(std::string_view value) {
  ThrottledReplicas out;
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  if (trim(value) == "*") {
    out.all = true;
    return out;
  }
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view item = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos) continue;
    int32_t partition = -1, broker = -1;
    const std::string_view p = item.substr(0, colon), b = item.substr(colon + 1);
    if (std::from_chars(p.data(), p.data() + p.size(), partition).ec != std::errc() ||
        std::from_chars(b.data(), b.data() + b.size(), broker).ec != std::errc()) {
      continue;
    }
    out.replicas.insert({partition, broker});
  }
  return out;
}

ReplicationQuota::ReplicationQuota(int32_t samples, int64_t window_ms)
    : samples_(std::max(1, samples)), window_ms_(std::max<int64_t>(1, window_ms)) {}

void ReplicationQuota::set_rate(int64_t bytes_per_second) {
  std::lock_guard lock(mu_);
  rate_ = std::max<int64_t>(0, bytes_per_second);
}

int64_t ReplicationQuota::rate() const {
  std::lock_guard lock(mu_);
  return rate_;
}

// SampledStat.purgeObsoleteSamples: a window older than all the windows
// together starts afresh now.
void ReplicationQuota::purge_locked(int64_t now_ms) {
  const int64_t expire_age = samples_ * window_ms_;
  for (Sample& s : windows_) {
    if (now_ms - s.start_ms >= expire_age) s = Sample{now_ms, 0};
  }
}

double ReplicationQuota::measured_rate_locked(int64_t now_ms) {
  if (windows_.empty()) windows_.push_back({now_ms, 0});
  purge_locked(now_ms);
  int64_t total = 0;
  int64_t oldest = now_ms;
  for (const Sample& s : windows_) {
    total += s.bytes;
    oldest = std::min(oldest, s.start_ms);
  }
  // Rate.windowSize: the span of the retained windows, at least samples - 1 full ones.
  int64_t elapsed = now_ms - oldest;
  const int64_t full = elapsed / window_ms_;
  if (full < samples_ - 1) elapsed += (samples_ - 1 - full) * window_ms_;
  return static_cast<double>(total) * 1000.0 / static_cast<double>(std::max<int64_t>(1, elapsed));
}

double ReplicationQuota::measured_rate(int64_t now_ms) {
  std::lock_guard lock(mu_);
  return measured_rate_locked(now_ms);
}

bool ReplicationQuota::exceeded(int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (rate_ == kUnlimited) return false;
  return measured_rate_locked(now_ms) > static_cast<double>(rate_);
}

void ReplicationQuota::record(int64_t bytes, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (windows_.empty()) {
    windows_.push_back({now_ms, 0});
    current_ = 0;
  } else if (now_ms - windows_[current_].start_ms >= window_ms_) {
    // SampledStat.advance: the next window, reusing the oldest once all exist.
    current_ = (current_ + 1) % static_cast<size_t>(samples_);
    if (current_ >= windows_.size()) {
      windows_.push_back({now_ms, 0});
      current_ = windows_.size() - 1;
    } else {
      windows_[current_] = Sample{now_ms, 0};
    }
  }
  windows_[current_].bytes += bytes;
}

}  // namespace keel::cluster
