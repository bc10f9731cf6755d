#include "metrics/registry.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace keel::metrics {

// ---- Timer

int Timer::bucket_of(int64_t us) {
  if (us < kSubBuckets) return us < 0 ? 0 : static_cast<int>(us);
  const int octave = 63 - std::countl_zero(static_cast<uint64_t>(us));  // >= 3
  const int sub = static_cast<int>((us >> (octave - 3)) & (kSubBuckets - 1));
  return std::min(kBuckets - 1, (octave - 2) * kSubBuckets + sub);
}

double Timer::bucket_floor(int b) {
  if (b < kSubBuckets) return b;
  const int octave = b / kSubBuckets + 2;
  const int sub = b % kSubBuckets;
  return static_cast<double>(static_cast<uint64_t>(kSubBuckets + sub) << (octave - 3));
}

namespace {
double bucket_width(int b) {
  if (b < Timer::kSubBuckets) return 1;
  return static_cast<double>(uint64_t{1} << (b / Timer::kSubBuckets - 1));
}
}  // namespace

void Timer::record_us(int64_t us, int64_t now_ms) {
  const int64_t epoch = now_ms / kWindowMs;
  Window& w = windows_[epoch & 1];
  int64_t stamp = w.stamp.load(std::memory_order_relaxed);
  // The first value of a new window clears what it held two windows ago; a
  // value another thread adds meanwhile may be lost, which a percentile can
  // bear.
  if (stamp < epoch && w.stamp.compare_exchange_strong(stamp, epoch, std::memory_order_relaxed)) {
    for (auto& b : w.buckets) b.store(0, std::memory_order_relaxed);
  }
  w.buckets[bucket_of(us)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(us, 0)), std::memory_order_relaxed);
}

double Timer::quantile_us(double q, int64_t now_ms) const {
  const int64_t epoch = now_ms / kWindowMs;
  uint64_t counts[kBuckets] = {};
  uint64_t total = 0;
  for (const Window& w : windows_) {
    const int64_t stamp = w.stamp.load(std::memory_order_relaxed);
    if (stamp != epoch && stamp != epoch - 1) continue;
    for (int b = 0; b < kBuckets; ++b) {
      const uint64_t c = w.buckets[b].load(std::memory_order_relaxed);
      counts[b] += c;
      total += c;
    }
  }
  if (total == 0) return 0;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  uint64_t below = 0;
  for (int b = 0; b < kBuckets; ++b) {
    if (counts[b] == 0) continue;
    if (static_cast<double>(below + counts[b]) >= rank) {
      // Linear within the bucket.
      const double within = (rank - static_cast<double>(below)) / static_cast<double>(counts[b]);
      return bucket_floor(b) + bucket_width(b) * std::clamp(within, 0.0, 1.0);
    }
    below += counts[b];
  }
  return bucket_floor(kBuckets - 1);
}

// ---- Histogram

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end())) throw std::invalid_argument("histogram bounds must ascend");
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::cumulative() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t sum = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    sum += counts_[i].load(std::memory_order_relaxed);
    out[i] = sum;
  }
  return out;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return kBounds;
}

// ---- Registry

struct Registry::Entry {
  Desc desc;
  std::unique_ptr<Family<Counter>> counters;
  std::unique_ptr<Family<Gauge>> gauges;
  std::unique_ptr<Family<Timer>> timers;
  std::unique_ptr<Family<Histogram>> histograms;
  Collect collect;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry* Registry::find(const Desc& desc) {
  for (auto& e : entries_) {
    if (e->desc.kind == desc.kind && e->desc.domain == desc.domain && e->desc.type == desc.type &&
        e->desc.name == desc.name) {
      return e.get();
    }
  }
  return nullptr;
}

namespace {
template <class M>
std::unique_ptr<Family<M>>& slot(Registry::Entry& e);
template <>
std::unique_ptr<Family<Counter>>& slot(Registry::Entry& e) { return e.counters; }
template <>
std::unique_ptr<Family<Gauge>>& slot(Registry::Entry& e) { return e.gauges; }
template <>
std::unique_ptr<Family<Timer>>& slot(Registry::Entry& e) { return e.timers; }
template <>
std::unique_ptr<Family<Histogram>>& slot(Registry::Entry& e) { return e.histograms; }
}  // namespace

template <class M>
Family<M>& Registry::add(Desc desc, std::function<std::unique_ptr<M>()> make) {
  std::lock_guard lock(mu_);
  if (Entry* e = find(desc); e && slot<M>(*e)) return *slot<M>(*e);
  auto e = std::make_unique<Entry>();
  e->desc = desc;
  slot<M>(*e) = std::make_unique<Family<M>>(std::move(desc), std::move(make));
  entries_.push_back(std::move(e));
  return *slot<M>(*entries_.back());
}

Family<Counter>& Registry::counter(Desc desc) {
  if (desc.kind != Kind::kMeter && desc.kind != Kind::kCounter) throw std::invalid_argument("not a counter kind");
  return add<Counter>(std::move(desc), [] { return std::make_unique<Counter>(); });
}

Family<Gauge>& Registry::gauge(Desc desc) {
  if (desc.kind != Kind::kGauge && desc.kind != Kind::kNativeGauge) throw std::invalid_argument("not a gauge kind");
  return add<Gauge>(std::move(desc), [] { return std::make_unique<Gauge>(); });
}

Family<Timer>& Registry::timer(Desc desc) {
  if (desc.kind != Kind::kTimer) throw std::invalid_argument("not a timer kind");
  return add<Timer>(std::move(desc), [] { return std::make_unique<Timer>(); });
}

Family<Histogram>& Registry::histogram(Desc desc, std::vector<double> bounds) {
  if (desc.kind != Kind::kHistogram) throw std::invalid_argument("not a histogram kind");
  if (!std::is_sorted(bounds.begin(), bounds.end())) throw std::invalid_argument("histogram bounds must ascend");
  return add<Histogram>(std::move(desc),
                        [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
}

void Registry::callback(Desc desc, Collect collect) {
  if (desc.kind == Kind::kTimer || desc.kind == Kind::kHistogram)
    throw std::invalid_argument("callback families hold plain values");
  std::lock_guard lock(mu_);
  auto e = std::make_unique<Entry>();
  e->desc = std::move(desc);
  e->collect = std::move(collect);
  entries_.push_back(std::move(e));
}

int64_t Registry::steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr std::pair<double, const char*> kQuantiles[] = {
    {0.50, "0.50"}, {0.75, "0.75"}, {0.95, "0.95"}, {0.98, "0.98"}, {0.99, "0.99"}, {0.999, "0.999"}};

// Writes one family's samples straight into the scrape's text. What is the
// same for every sample of the family (its name, each label's `,name="`) is
// spelled once, so a sample costs its label values and its number.
class Writer {
 public:
  Writer(std::string& out, const Desc& desc, Dialect dialect) : out_(out), name_(family_name(desc, dialect)) {
    for (size_t i = 0; i < desc.labels.size(); ++i) {
      openers_.push_back((i ? "," : "{") + label_name(desc.labels[i], dialect) + "=\"");
    }
  }
  const std::string& name() const { return name_; }

  // name<suffix>{labels[,extra_name="extra_value"]} value. `Values` is a
  // LabelValues or LabelRefs; values past the family's labels are ignored.
  template <class Values>
  void sample(std::string_view suffix, const Values& values, double value, std::string_view extra_name = {},
              std::string_view extra_value = {}) {
    out_ += name_;
    out_ += suffix;
    const size_t n = std::min(openers_.size(), values.size());
    for (size_t i = 0; i < n; ++i) {
      out_ += openers_[i];
      append_label_value(out_, values[i]);
      out_ += '"';
    }
    if (!extra_name.empty()) {
      out_ += n ? ',' : '{';
      out_ += extra_name;
      out_ += "=\"";
      out_ += extra_value;
      out_ += '"';
    }
    if (n || !extra_name.empty()) out_ += '}';
    out_ += ' ';
    append_value(out_, value);
    out_ += '\n';
  }

 private:
  std::string& out_;
  std::string name_;
  std::vector<std::string> openers_;
};

}  // namespace

std::string Registry::render(Dialect dialect) const { return render(dialect, steady_now_ms()); }

std::string Registry::render(Dialect dialect, int64_t now_ms) const {
  std::vector<const Entry*> entries;
  {
    std::lock_guard lock(mu_);
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  // Room for a little growth (a new topic) without a copy of the whole text.
  const size_t last = last_size_.load(std::memory_order_relaxed);
  out.reserve(last + last / 8);
  for (const Entry* e : entries) {
    // The HELP and TYPE lines go first and are taken back if the family
    // turns out to have no sample.
    const size_t family_start = out.size();
    Writer w(out, e->desc, dialect);
    out += "# HELP ";
    out += w.name();
    out += ' ';
    out += escape_help(e->desc.help);
    out += "\n# TYPE ";
    out += w.name();
    out += ' ';
    out += type_word(e->desc.kind, dialect);
    out += '\n';
    const size_t samples_start = out.size();
    if (e->counters) {
      e->counters->each([&](const LabelValues& v, const Counter& c) { w.sample("", v, double(c.value())); });
    } else if (e->gauges) {
      e->gauges->each([&](const LabelValues& v, const Gauge& g) { w.sample("", v, g.value()); });
    } else if (e->timers) {
      e->timers->each([&](const LabelValues& v, const Timer& t) {
        // Whole microseconds: the buckets are no finer than that anyway.
        for (const auto& [q, text] : kQuantiles) {
          w.sample("", v, std::round(t.quantile_us(q, now_ms)) / 1000.0, "quantile", text);
        }
        w.sample("_sum", v, t.sum_us() / 1000.0);
        w.sample("_count", v, double(t.count()));
      });
    } else if (e->histograms) {
      e->histograms->each([&](const LabelValues& v, const Histogram& h) {
        const auto cumulative = h.cumulative();
        for (size_t i = 0; i < h.bounds().size(); ++i) {
          w.sample("_bucket", v, double(cumulative[i]), "le", format_value(h.bounds()[i]));
        }
        w.sample("_bucket", v, double(cumulative.back()), "le", "+Inf");
        w.sample("_sum", v, h.sum());
        w.sample("_count", v, double(cumulative.back()));
      });
    } else if (e->collect) {
      e->collect([&](LabelRefs v, double value) { w.sample("", v, value); });
    }
    if (out.size() == samples_start) out.resize(family_start);
  }
  last_size_.store(out.size(), std::memory_order_relaxed);
  return out;
}

}  // namespace keel::metrics
