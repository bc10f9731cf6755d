// The exact text /metrics renders for a few families of each kind, in both
// dialects. Dashboards and the JMX exporter's users match these bytes, so a
// faster renderer must produce the same ones: the expected texts below were
// produced by the renderer before it wrote into one buffer (label vectors and
// snprintf per sample) and must not change with how it is written.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "metrics/registry.h"

namespace keel::metrics {
namespace {

// A family named as Kafka's MBean is, "domain:type=T,name=N", or by a
// native Prometheus name (no colon).
Desc family(Kind kind, std::string_view bean, std::string help, std::vector<std::string> labels = {}) {
  Desc d;
  d.kind = kind;
  d.help = std::move(help);
  d.labels = std::move(labels);
  const size_t colon = bean.find(':');
  if (colon == std::string_view::npos) {
    d.name = bean;
    return d;
  }
  const size_t name = bean.find(",name=");
  d.domain = bean.substr(0, colon);
  d.type = bean.substr(colon + 6, name - colon - 6);  // after ":type="
  d.name = bean.substr(name + 6);
  return d;
}

// One family of each kind and shape the broker registers: a topic meter
// (with a label value to escape), per-partition gauges, a Percent gauge
// with Confluent's suffix, dashed types and JMX label names, an unlabelled
// meter, a timer, a histogram, native gauges, and families with no series.
void populate(Registry& r) {
  auto& bytes_in = r.counter(family(Kind::kMeter, "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec",
                                    "Bytes of record batches produced to the topic.", {"topic"}));
  bytes_in.with("orders").inc(123456789);
  bytes_in.with(LabelValues{"we\"ird\\name\nx"}).inc(1);
  r.counter(family(Kind::kMeter, "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec", "Never used.", {"topic"}));
  r.counter(family(Kind::kMeter, "kafka.server:type=SessionExpireListener,name=ZooKeeperExpiresPerSec",
                   "Times the ZooKeeper\nsession expired \\ (help escapes)."))
      .with(LabelValues{})
      .inc(2);
  r.callback(family(Kind::kGauge, "kafka.log:type=Log,name=Size", "Bytes of the partition's log.", {"topic", "partition"}),
             [](const Emit& emit) {
               emit({"orders", "0"}, 1048576);
               emit({"orders", "1"}, 0);
               emit({"payments-eu", "12"}, 9007199254740993.0);  // past 2^53: printed as a double
             });
  Desc idle = family(Kind::kGauge, "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent",
                     "Share of time the handler threads were idle.");
  idle.confluent_suffix = "_oneminuterate";
  r.callback(idle, [](const Emit& emit) { emit({}, 0.8712345678901234); });
  r.callback(family(Kind::kGauge, "kafka.server:type=socket-server-metrics,name=connection-count", "Connections open.",
                    {"listener", "networkProcessor"}),
             [](const Emit& emit) {
               emit({"PLAINTEXT", "0"}, 3);
               emit({"SASL_SSL", "0"}, -1.5);
             });
  r.callback(family(Kind::kGauge, "kafka.server:type=ReplicaFetcherManager,name=MaxLag", "Largest lag.", {"clientId"}),
             [](const Emit& emit) { emit({"Replica"}, 0.1); });
  r.callback(family(Kind::kNativeGauge, "kafka_consumergroup_lag", "Lag.", {"consumergroup", "topic", "partition"}),
             [](const Emit& emit) {
               emit({"g1", "orders", "0"}, 42);
               emit({"g1", "orders", "1"}, -1);
             });
  r.callback(family(Kind::kNativeGauge, "keel_consumergroup_lag_seconds", "Seconds.", {"consumergroup"}),
             [](const Emit& emit) {
               emit({"g1"}, 1.0 / 3);
               emit({"g2"}, 1e-7);
               emit({"g3"}, 2.5e20);
               emit({"g4"}, std::nan(""));
               emit({"g5"}, -INFINITY);
             });
  r.callback(family(Kind::kNativeGauge, "keel_never_emitted", "Empty callback.", {"x"}), [](const Emit&) {});
  auto& total = r.timer(family(Kind::kTimer, "kafka.network:type=RequestMetrics,name=TotalTimeMs",
                               "Time of a request, in ms.", {"request"}));
  for (int us : {150, 900, 2500, 2500, 7000, 120000}) total.with("Produce").record_us(us, 0);
  total.with("Fetch").record_us(1, 0);
  auto& latency = r.histogram(family(Kind::kHistogram, "keel_request_latency_seconds", "Request latency.", {"request"}),
                              {0.0005, 0.001, 0.0025, 0.1, 1});
  for (double s : {0.0001, 0.0007, 0.002, 0.002, 0.3}) latency.with("Produce").observe(s);
  r.counter(family(Kind::kCounter, "keel_connections_throttled_total", "Throttled.", {"listener", "reason"}))
      .with(LabelValues{"PLAIN", "ip"})
      .inc(5);
}

constexpr const char* kStrimzi = R"(# HELP kafka_server_brokertopicmetrics_bytesin_total Bytes of record batches produced to the topic.
# TYPE kafka_server_brokertopicmetrics_bytesin_total counter
kafka_server_brokertopicmetrics_bytesin_total{topic="orders"} 123456789
kafka_server_brokertopicmetrics_bytesin_total{topic="we\"ird\\name\nx"} 1
# HELP kafka_server_sessionexpirelistener_zookeeperexpires_total Times the ZooKeeper\nsession expired \\ (help escapes).
# TYPE kafka_server_sessionexpirelistener_zookeeperexpires_total counter
kafka_server_sessionexpirelistener_zookeeperexpires_total 2
# HELP kafka_log_log_size Bytes of the partition's log.
# TYPE kafka_log_log_size gauge
kafka_log_log_size{topic="orders",partition="0"} 1048576
kafka_log_log_size{topic="orders",partition="1"} 0
kafka_log_log_size{topic="payments-eu",partition="12"} 9007199254740992
# HELP kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent Share of time the handler threads were idle.
# TYPE kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent gauge
kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent 0.87123456789012343
# HELP kafka_server_socket_server_metrics_connection_count Connections open.
# TYPE kafka_server_socket_server_metrics_connection_count gauge
kafka_server_socket_server_metrics_connection_count{listener="PLAINTEXT",networkProcessor="0"} 3
kafka_server_socket_server_metrics_connection_count{listener="SASL_SSL",networkProcessor="0"} -1.5
# HELP kafka_server_replicafetchermanager_maxlag Largest lag.
# TYPE kafka_server_replicafetchermanager_maxlag gauge
kafka_server_replicafetchermanager_maxlag{clientId="Replica"} 0.1
# HELP kafka_consumergroup_lag Lag.
# TYPE kafka_consumergroup_lag gauge
kafka_consumergroup_lag{consumergroup="g1",topic="orders",partition="0"} 42
kafka_consumergroup_lag{consumergroup="g1",topic="orders",partition="1"} -1
# HELP keel_consumergroup_lag_seconds Seconds.
# TYPE keel_consumergroup_lag_seconds gauge
keel_consumergroup_lag_seconds{consumergroup="g1"} 0.33333333333333331
keel_consumergroup_lag_seconds{consumergroup="g2"} 1e-07
keel_consumergroup_lag_seconds{consumergroup="g3"} 2.5e+20
keel_consumergroup_lag_seconds{consumergroup="g4"} NaN
keel_consumergroup_lag_seconds{consumergroup="g5"} -Inf
# HELP kafka_network_requestmetrics_totaltimems Time of a request, in ms.
# TYPE kafka_network_requestmetrics_totaltimems summary
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.50"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.75"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.95"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.98"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.99"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.999"} 0.002
kafka_network_requestmetrics_totaltimems_sum{request="Fetch"} 0.001
kafka_network_requestmetrics_totaltimems_count{request="Fetch"} 1
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.50"} 2.432
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.75"} 6.912
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.95"} 120.422
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.98"} 121.897
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.99"} 122.388
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.999"} 122.831
kafka_network_requestmetrics_totaltimems_sum{request="Produce"} 133.05
kafka_network_requestmetrics_totaltimems_count{request="Produce"} 6
# HELP keel_request_latency_seconds Request latency.
# TYPE keel_request_latency_seconds histogram
keel_request_latency_seconds_bucket{request="Produce",le="0.0005"} 1
keel_request_latency_seconds_bucket{request="Produce",le="0.001"} 2
keel_request_latency_seconds_bucket{request="Produce",le="0.0025"} 4
keel_request_latency_seconds_bucket{request="Produce",le="0.1"} 4
keel_request_latency_seconds_bucket{request="Produce",le="1"} 5
keel_request_latency_seconds_bucket{request="Produce",le="+Inf"} 5
keel_request_latency_seconds_sum{request="Produce"} 0.3048
keel_request_latency_seconds_count{request="Produce"} 5
# HELP keel_connections_throttled_total Throttled.
# TYPE keel_connections_throttled_total counter
keel_connections_throttled_total{listener="PLAIN",reason="ip"} 5
)";

constexpr const char* kConfluent = R"(# HELP kafka_server_brokertopicmetrics_bytesinpersec Bytes of record batches produced to the topic.
# TYPE kafka_server_brokertopicmetrics_bytesinpersec untyped
kafka_server_brokertopicmetrics_bytesinpersec{topic="orders"} 123456789
kafka_server_brokertopicmetrics_bytesinpersec{topic="we\"ird\\name\nx"} 1
# HELP kafka_server_sessionexpirelistener_zookeeperexpirespersec Times the ZooKeeper\nsession expired \\ (help escapes).
# TYPE kafka_server_sessionexpirelistener_zookeeperexpirespersec untyped
kafka_server_sessionexpirelistener_zookeeperexpirespersec 2
# HELP kafka_log_log_size Bytes of the partition's log.
# TYPE kafka_log_log_size gauge
kafka_log_log_size{topic="orders",partition="0"} 1048576
kafka_log_log_size{topic="orders",partition="1"} 0
kafka_log_log_size{topic="payments-eu",partition="12"} 9007199254740992
# HELP kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent_oneminuterate Share of time the handler threads were idle.
# TYPE kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent_oneminuterate gauge
kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent_oneminuterate 0.87123456789012343
# HELP kafka_server_socketservermetrics_connection_count Connections open.
# TYPE kafka_server_socketservermetrics_connection_count gauge
kafka_server_socketservermetrics_connection_count{listener="PLAINTEXT",network_processor="0"} 3
kafka_server_socketservermetrics_connection_count{listener="SASL_SSL",network_processor="0"} -1.5
# HELP kafka_server_replicafetchermanager_maxlag Largest lag.
# TYPE kafka_server_replicafetchermanager_maxlag gauge
kafka_server_replicafetchermanager_maxlag{clientid="Replica"} 0.1
# HELP kafka_consumergroup_lag Lag.
# TYPE kafka_consumergroup_lag gauge
kafka_consumergroup_lag{consumergroup="g1",topic="orders",partition="0"} 42
kafka_consumergroup_lag{consumergroup="g1",topic="orders",partition="1"} -1
# HELP keel_consumergroup_lag_seconds Seconds.
# TYPE keel_consumergroup_lag_seconds gauge
keel_consumergroup_lag_seconds{consumergroup="g1"} 0.33333333333333331
keel_consumergroup_lag_seconds{consumergroup="g2"} 1e-07
keel_consumergroup_lag_seconds{consumergroup="g3"} 2.5e+20
keel_consumergroup_lag_seconds{consumergroup="g4"} NaN
keel_consumergroup_lag_seconds{consumergroup="g5"} -Inf
# HELP kafka_network_requestmetrics_totaltimems Time of a request, in ms.
# TYPE kafka_network_requestmetrics_totaltimems summary
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.50"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.75"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.95"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.98"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.99"} 0.002
kafka_network_requestmetrics_totaltimems{request="Fetch",quantile="0.999"} 0.002
kafka_network_requestmetrics_totaltimems_sum{request="Fetch"} 0.001
kafka_network_requestmetrics_totaltimems_count{request="Fetch"} 1
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.50"} 2.432
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.75"} 6.912
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.95"} 120.422
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.98"} 121.897
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.99"} 122.388
kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.999"} 122.831
kafka_network_requestmetrics_totaltimems_sum{request="Produce"} 133.05
kafka_network_requestmetrics_totaltimems_count{request="Produce"} 6
# HELP keel_request_latency_seconds Request latency.
# TYPE keel_request_latency_seconds histogram
keel_request_latency_seconds_bucket{request="Produce",le="0.0005"} 1
keel_request_latency_seconds_bucket{request="Produce",le="0.001"} 2
keel_request_latency_seconds_bucket{request="Produce",le="0.0025"} 4
keel_request_latency_seconds_bucket{request="Produce",le="0.1"} 4
keel_request_latency_seconds_bucket{request="Produce",le="1"} 5
keel_request_latency_seconds_bucket{request="Produce",le="+Inf"} 5
keel_request_latency_seconds_sum{request="Produce"} 0.3048
keel_request_latency_seconds_count{request="Produce"} 5
# HELP keel_connections_throttled_total Throttled.
# TYPE keel_connections_throttled_total counter
keel_connections_throttled_total{listener="PLAIN",reason="ip"} 5
)";

TEST(Render, StrimziTextIsPinned) {
  Registry r;
  populate(r);
  EXPECT_EQ(r.render(Dialect::kStrimzi, 0), kStrimzi);
}

TEST(Render, ConfluentTextIsPinned) {
  Registry r;
  populate(r);
  EXPECT_EQ(r.render(Dialect::kConfluent, 0), kConfluent);
}

TEST(Render, SecondRenderingIsTheSame) {
  // The second one reserves by the first one's size.
  Registry r;
  populate(r);
  EXPECT_EQ(r.render(Dialect::kStrimzi, 0), kStrimzi);
  EXPECT_EQ(r.render(Dialect::kStrimzi, 0), kStrimzi);
  EXPECT_EQ(r.render(Dialect::kConfluent, 0), kConfluent);
}

// What the renderer spelled values with before: printf's %lld for whole
// numbers, else %.15g, or %.17g when 15 digits do not read back the same.
std::string printf_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

TEST(Render, ValuesAreSpelledAsPrintfSpelledThem) {
  std::vector<double> values = {0,       -0.0,    1,        -1,      0.5,     0.1,      1e-7,    123.456,
                                1e15,    1e16,    1e17,     2.5e20,  -3e-300, 5e-324,   1.0 / 3, 2.0 / 3,
                                9007199254740991.0, 9007199254740993.0, -9007199254740993.0,
                                std::numeric_limits<double>::max(), std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::quiet_NaN(), INFINITY, -INFINITY};
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<double> unit(0, 1);
  std::uniform_int_distribution<int> exponent(-30, 30);
  for (int i = 0; i < 10000; ++i) {
    values.push_back((unit(rng) - 0.5) * std::pow(10.0, exponent(rng)));  // any digits
    values.push_back(std::round(unit(rng) * 1e6) / 1000.0);              // a timer's whole microseconds in ms
    uint64_t bits = rng();
    double any;
    std::memcpy(&any, &bits, sizeof any);  // any bit pattern, subnormals and NaNs included
    values.push_back(any);
  }
  for (double v : values) {
    std::string out = "x ";
    append_value(out, v);
    ASSERT_EQ(out, "x " + printf_value(v)) << v;
    ASSERT_EQ(format_value(v), printf_value(v)) << v;
  }
}

TEST(Render, LabelValuesEscapeInPlace) {
  std::string out = "a=\"";
  append_label_value(out, "plain");
  append_label_value(out, "\\q\"n\n\"");
  EXPECT_EQ(out, "a=\"plain\\\\q\\\"n\\n\\\"");
  EXPECT_EQ(escape_help("h\"\\\n"), "h\"\\\\\\n");
}

}  // namespace
}  // namespace keel::metrics
