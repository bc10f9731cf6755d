#pragma once
// How Kafka's metric identities become Prometheus names. Kafka's brokers
// expose JMX MBeans (kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,
// topic=t); dashboards see them through the JMX exporter, whose rules file
// picks the names. Two rule files dominate and spell counters differently
// (docs/metrics.md, ../shared/reference/operations.md §1.1):
//
//   Strimzi (default): a ...PerSec meter is a counter named
//     kafka_server_brokertopicmetrics_bytesin_total; a ...Percent gauge ends
//     in _percent; labels keep their JMX spelling (clientId, networkProcessor);
//     a type's dashes become underscores (socket_server_metrics).
//   Confluent: a meter keeps its full name (..._bytesinpersec), untyped,
//     holding the cumulative count; label names are lower-cased
//     (network_processor, client_id); a type's dashes vanish
//     (socketservermetrics).
//
// Both render Kafka's histograms alike: one series per quantile
// ("0.50" .. "0.999") plus _count.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::metrics {

enum class Dialect : uint8_t { kStrimzi, kConfluent };

// "strimzi" or "confluent" (the metrics.names key); nullopt otherwise.
std::optional<Dialect> parse_dialect(std::string_view text);

enum class Kind : uint8_t {
  kMeter,        // Kafka's ...PerSec meter: its cumulative Count
  kGauge,        // Kafka's gauge
  kTimer,        // Kafka's histogram/timer: quantile series + _count (+ _sum)
  kCounter,      // a native Prometheus counter (the name ends in _total)
  kNativeGauge,  // a native Prometheus gauge
  kHistogram,    // a native Prometheus histogram (_bucket{le}, _sum, _count)
};

// A family's identity. For Kafka's kinds (kMeter, kGauge, kTimer): the MBean's
// domain ("kafka.server"), type ("BrokerTopicMetrics") and name
// ("BytesInPerSec"). For native kinds: `name` is the Prometheus name and
// domain and type are empty. Labels are named as Kafka's MBean tags are
// ("topic", "partition", "request", "clientId", "networkProcessor").
struct Desc {
  Kind kind = Kind::kGauge;
  std::string domain;
  std::string type;
  std::string name;
  std::string help;
  std::vector<std::string> labels;
  // Appended to the name in the Confluent dialect, whose rules expose a few
  // of Kafka's meters by one attribute ("_oneminuterate").
  std::string confluent_suffix;
};

// The Prometheus family name of `desc` in `dialect` (without _count etc.).
std::string family_name(const Desc& desc, Dialect dialect);
// A label's Prometheus name in `dialect`.
std::string label_name(std::string_view jmx_name, Dialect dialect);
// The TYPE line's word for `kind` in `dialect`.
std::string_view type_word(Kind kind, Dialect dialect);

// Text-format escaping: label values escape \, " and newline; HELP text
// escapes \ and newline.
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// A sample value as Prometheus reads it: integers without a fraction, NaN,
// +Inf and -Inf spelled as the format wants.
std::string format_value(double v);

// The same, appended to `out` without a string of its own (the renderer's
// per-sample calls).
void append_label_value(std::string& out, std::string_view v);
void append_value(std::string& out, double v);

}  // namespace keel::metrics
