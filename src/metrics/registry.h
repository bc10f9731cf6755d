#pragma once
// Keel's metrics registry: counters, gauges, Kafka's quantile timers and
// Prometheus histograms, in labelled families, rendered in the Prometheus
// text format under either spelling of Kafka's names (dialect.h).
//
// A family is described once by its Kafka MBean identity (domain, type,
// name, tags) or, for Keel's own and the process's series, by a native
// Prometheus name. Updates are relaxed atomic adds on the caller's thread,
// with no lock: look a series up once (Family::with takes a shared lock) and
// keep the reference, which stays valid as long as the registry. Values that
// already live elsewhere (partition tables, group tables) are not copied
// into counters: a callback family computes them at scrape time.
//
// Thread-safe throughout. A scrape reads while writers add, so a scrape sees
// each value at some moment during it, not one instant for all.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/dialect.h"

namespace keel::metrics {

// A cumulative count (Kafka's meters keep their Count; rates are PromQL's).
class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Kafka's Yammer timer as the JMX exporter shows it: the 50th..99.9th
// percentiles of the recent values (here: the last 30 to 60 seconds, two
// 30 s windows) and the count since start. Values are recorded in
// microseconds into log-spaced buckets (8 per power of two, so a quantile is
// within 1/8 of the true value) and reported in the unit the family names
// (Kafka's ...TimeMs: milliseconds).
class Timer {
 public:
  static constexpr int kSubBuckets = 8;
  static constexpr int kBuckets = 40 * kSubBuckets;  // up to 2^40 us (12 days)
  static constexpr int64_t kWindowMs = 30000;

  // `now_ms` is any monotonic clock in milliseconds (windows rotate by it).
  void record_us(int64_t us, int64_t now_ms);
  // The q-quantile (0 < q <= 1) in microseconds of the last one or two
  // windows before now_ms; 0 when they hold nothing.
  double quantile_us(double q, int64_t now_ms) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_us() const { return static_cast<double>(sum_us_.load(std::memory_order_relaxed)); }

  static int bucket_of(int64_t us);
  // The smallest value in bucket b (its lower edge).
  static double bucket_floor(int b);

 private:
  struct Window {
    std::atomic<int64_t> stamp{-1};  // now_ms / kWindowMs of the values it holds
    std::atomic<uint32_t> buckets[kBuckets] = {};
  };
  Window windows_[2];
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

// A Prometheus histogram: cumulative counts per upper bound (le), sum, count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts, one per bound then +Inf.
  std::vector<uint64_t> cumulative() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, from half a millisecond to ten seconds.
const std::vector<double>& latency_buckets();

// The label values of one series, in the family's label order.
using LabelValues = std::vector<std::string>;

// One family's series, created on first use. `with` returns a reference that
// lives as long as the registry.
template <class M>
class Family {
 public:
  Family(Desc desc, std::function<std::unique_ptr<M>()> make) : desc_(std::move(desc)), make_(std::move(make)) {}
  const Desc& desc() const { return desc_; }

  M& with(const LabelValues& values) { return with_key(join(values), values); }
  // Single-label families: no allocation when the series exists.
  M& with(std::string_view value) {
    {
      std::shared_lock lock(mu_);
      if (auto it = children_.find(value); it != children_.end()) return *it->second->metric;
    }
    return with_key(std::string(value), LabelValues{std::string(value)});
  }
  // Forgets a series (its topic was deleted). References to it must be gone
  // (a scrape under way keeps its own until it ends).
  void remove(const LabelValues& values) {
    std::unique_lock lock(mu_);
    children_.erase(join(values));
  }
  // Calls f(values, metric) for each series, in label order. The series
  // are listed under the lock and read after it: a scrape runs at a lower
  // CPU priority (http::Routes::add_background), and a request creating a
  // series (a topic's first produce) must not wait while the scrape, holding
  // the lock, waits for the CPU.
  template <class F>
  void each(F&& f) const {
    std::vector<std::shared_ptr<const Child>> children;
    {
      std::shared_lock lock(mu_);
      children.reserve(children_.size());
      for (const auto& [key, child] : children_) children.push_back(child);
    }
    for (const auto& child : children) f(child->values, *child->metric);
  }

 private:
  static std::string join(const LabelValues& values) {
    std::string key;
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) key.push_back('\0');
      key += values[i];
    }
    return key;
  }
  M& with_key(std::string key, const LabelValues& values) {
    {
      std::shared_lock lock(mu_);
      if (auto it = children_.find(key); it != children_.end()) return *it->second->metric;
    }
    auto child = std::make_shared<Child>(Child{values, make_()});
    std::unique_lock lock(mu_);
    auto [it, inserted] = children_.try_emplace(std::move(key), std::move(child));
    return *it->second->metric;
  }

  struct Child {
    LabelValues values;
    std::unique_ptr<M> metric;
  };
  Desc desc_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::shared_mutex mu_;
  // Shared with a scrape that listed the series (each), so that one removed
  // meanwhile stays readable until that scrape is done with it.
  std::map<std::string, std::shared_ptr<const Child>, std::less<>> children_;
};

// The label values of one sample emitted at scrape time, borrowed rather
// than copied: a scrape emits one per partition and family, so building a
// LabelValues (a vector and its strings) for each was most of its cost.
// Made from a braced list, emit({p.topic, p.partition}, v); the strings
// must outlive the call (the list's array lives to the end of the call's
// full expression, like a temporary).
class LabelRefs {
 public:
  LabelRefs() = default;
  LabelRefs(std::initializer_list<std::string_view> values) : values_(values) {}
  size_t size() const { return values_.size(); }
  std::string_view operator[](size_t i) const { return values_.begin()[i]; }

 private:
  std::initializer_list<std::string_view> values_;
};

// Values computed at scrape time: the callback calls emit once per series.
using Emit = std::function<void(LabelRefs labels, double value)>;
using Collect = std::function<void(const Emit& emit)>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering a family whose (kind, domain, type, name) exists returns the
  // existing one. kMeter or kCounter:
  Family<Counter>& counter(Desc desc);
  // kGauge or kNativeGauge:
  Family<Gauge>& gauge(Desc desc);
  // kTimer:
  Family<Timer>& timer(Desc desc);
  // kHistogram, with upper bounds (ascending):
  Family<Histogram>& histogram(Desc desc, std::vector<double> bounds);
  // Any kind but kTimer and kHistogram, computed at scrape time. The
  // callback runs on the scraping thread, with no registry lock held.
  void callback(Desc desc, Collect collect);

  // The whole registry in the Prometheus text format (version 0.0.4), in
  // registration order. `now_ms` is the timers' monotonic clock.
  std::string render(Dialect dialect, int64_t now_ms) const;
  std::string render(Dialect dialect) const;

  // The timers' clock: steady_clock in milliseconds.
  static int64_t steady_now_ms();

  struct Entry;  // one family (registry.cc)

 private:
  Entry* find(const Desc& desc);
  template <class M>
  Family<M>& add(Desc desc, std::function<std::unique_ptr<M>()> make);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  // The size of the last rendering: the next one reserves that much once
  // instead of growing its buffer by copies (a scrape of 10,000 partitions
  // is some 12 MB).
  mutable std::atomic<size_t> last_size_{0};
};

}  // namespace keel::metrics
