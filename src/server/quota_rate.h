#pragma once
// The arithmetic of client quotas, as Kafka's metrics library does it
// (KIP-13, KIP-124, KIP-599), with the clock passed in so tests drive it:
//
// - SampledStat: `samples` windows of `window_ms` each (quota.window.num,
//   quota.window.size.seconds). A value goes into the current window; once
//   that window is window_ms old the next one starts (the oldest is reused).
//   A window older than all of them together is forgotten when measured.
// - Its rate (Kafka's Rate): the total over the retained windows divided by
//   their span, counted as at least samples - 1 full windows, so a quiet
//   client's first burst is spread over the whole window rather than
//   measured over a few milliseconds.
// - Its average (Kafka's Avg): total / number of values, for throttle-time.
// - throttle_time_ms: how long a client measured at `observed` must stay
//   quiet for its rate to come back to `bound` (QuotaUtils.throttleTime).
// - TokenBucket (KIP-599, controller_mutation_rate): tokens refill at the
//   quota's rate up to a burst of quota * samples * window; recording takes
//   tokens, possibly below zero, and a negative balance is the debt the
//   client waits out.
//
// Not thread-safe: a sensor's owner holds its lock (server/quota_throttle.h).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace keel::server {

struct QuotaWindow {
  int32_t samples = 11;     // quota.window.num
  int64_t window_ms = 1000;  // quota.window.size.seconds, in ms
};

class SampledStat {
 public:
  explicit SampledStat(QuotaWindow window);

  void record(double value, int64_t now_ms);
  // Values per second over the retained windows (Kafka's Rate.measure).
  double rate(int64_t now_ms);
  // The mean of the values in the retained windows; 0 when none.
  double average(int64_t now_ms);
  // The span the rate divides by (Kafka's Rate.windowSize), in ms.
  int64_t span_ms(int64_t now_ms);
  // When the last value was recorded (-1: never).
  int64_t last_record_ms() const { return last_record_ms_; }

 private:
  struct Sample {
    int64_t start_ms = 0;
    double total = 0;
    int64_t count = 0;
  };
  void purge(int64_t now_ms);

  QuotaWindow window_;
  std::vector<Sample> samples_;  // at most window_.samples, used as a ring
  size_t current_ = 0;
  int64_t last_record_ms_ = -1;
};

// Kafka's QuotaUtils.throttleTime: (observed - bound) / bound * span, rounded;
// 0 when the observed rate is within the bound.
int64_t throttle_time_ms(double observed, double bound, int64_t span_ms);

class TokenBucket {
 public:
  TokenBucket(QuotaWindow window, double rate);
  // A new quota keeps the balance (capped at the new burst).
  void set_rate(double rate);
  double rate() const { return rate_; }
  // Takes `amount` tokens (the balance may go negative).
  void record(double amount, int64_t now_ms);
  double tokens(int64_t now_ms);
  // The wait until the balance is back to zero: -tokens / rate, in ms.
  int64_t throttle_time_ms(int64_t now_ms);
  int64_t last_record_ms() const { return last_record_ms_; }

 private:
  void refill(int64_t now_ms);
  double burst() const;

  QuotaWindow window_;
  double rate_;
  double tokens_;
  int64_t last_ms_ = -1;
  int64_t last_record_ms_ = -1;
};

}  // namespace keel::server
