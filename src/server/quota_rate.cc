#include "server/quota_rate.h"

#include <algorithm>
#include <cmath>

namespace keel::server {

SampledStat::SampledStat(QuotaWindow window)
    : window_{std::max(1, window.samples), std::max<int64_t>(1, window.window_ms)} {}

void SampledStat::record(double value, int64_t now_ms) {
  if (samples_.empty()) {
    samples_.push_back({now_ms, 0, 0});
    current_ = 0;
  } else if (now_ms - samples_[current_].start_ms >= window_.window_ms) {
    // The current window is complete: the next one, reusing the oldest once
    // all exist.
    current_ = (current_ + 1) % static_cast<size_t>(window_.samples);
    if (current_ >= samples_.size()) {
      samples_.push_back({now_ms, 0, 0});
      current_ = samples_.size() - 1;
    } else {
      samples_[current_] = Sample{now_ms, 0, 0};
    }
  }
  samples_[current_].total += value;
  samples_[current_].count += 1;
  last_record_ms_ = now_ms;
}

void SampledStat::purge(int64_t now_ms) {
  const int64_t expire_age = window_.samples * window_.window_ms;
  for (Sample& s : samples_) {
    if (now_ms - s.start_ms >= expire_age) s = Sample{now_ms, 0, 0};
  }
}

int64_t SampledStat::span_ms(int64_t now_ms) {
  purge(now_ms);
  int64_t oldest = now_ms;
  for (const Sample& s : samples_) oldest = std::min(oldest, s.start_ms);
  int64_t elapsed = now_ms - oldest;
  const int64_t full = elapsed / window_.window_ms;
  if (full < window_.samples - 1) elapsed += (window_.samples - 1 - full) * window_.window_ms;
  return std::max<int64_t>(1, elapsed);
}

double SampledStat::rate(int64_t now_ms) {
  const int64_t span = span_ms(now_ms);  // purges first
  double total = 0;
  for (const Sample& s : samples_) total += s.total;
  return total * 1000.0 / static_cast<double>(span);
}

double SampledStat::average(int64_t now_ms) {
  purge(now_ms);
  double total = 0;
  int64_t count = 0;
  for (const Sample& s : samples_) {
    total += s.total;
    count += s.count;
  }
  return count > 0 ? total / static_cast<double>(count) : 0.0;
}

int64_t throttle_time_ms(double observed, double bound, int64_t span_ms) {
  if (!(bound > 0) || observed <= bound) return 0;
  return std::llround((observed - bound) / bound * static_cast<double>(span_ms));
}

TokenBucket::TokenBucket(QuotaWindow window, double rate)
    : window_{std::max(1, window.samples), std::max<int64_t>(1, window.window_ms)}, rate_(rate), tokens_(burst()) {}

double TokenBucket::burst() const {
  return rate_ * window_.samples * static_cast<double>(window_.window_ms) / 1000.0;
}

void TokenBucket::refill(int64_t now_ms) {
  if (last_ms_ >= 0 && now_ms > last_ms_) {
    tokens_ = std::min(burst(), tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
  }
  if (now_ms > last_ms_) last_ms_ = now_ms;
}

void TokenBucket::set_rate(double rate) {
  rate_ = rate;
  tokens_ = std::min(tokens_, burst());
}

void TokenBucket::record(double amount, int64_t now_ms) {
  refill(now_ms);
  tokens_ -= amount;
  last_record_ms_ = now_ms;
}

double TokenBucket::tokens(int64_t now_ms) {
  refill(now_ms);
  return tokens_;
}

int64_t TokenBucket::throttle_time_ms(int64_t now_ms) {
  const double t = tokens(now_ms);
  if (t >= 0 || !(rate_ > 0)) return 0;
  return std::llround(-t / rate_ * 1000.0);
}

}  // namespace keel::server
