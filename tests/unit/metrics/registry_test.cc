#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <future>
#include <thread>

#include "metrics/process.h"

namespace keel::metrics {
namespace {

Desc kafka(Kind kind, std::string domain, std::string type, std::string name, std::vector<std::string> labels = {}) {
  Desc d;
  d.kind = kind;
  d.domain = std::move(domain);
  d.type = std::move(type);
  d.name = std::move(name);
  d.help = "help text";
  d.labels = std::move(labels);
  return d;
}

TEST(Dialect, StrimziSpellsMetersAsTotalCounters) {
  const Desc d = kafka(Kind::kMeter, "kafka.server", "BrokerTopicMetrics", "BytesInPerSec", {"topic"});
  EXPECT_EQ(family_name(d, Dialect::kStrimzi), "kafka_server_brokertopicmetrics_bytesin_total");
  EXPECT_EQ(family_name(d, Dialect::kConfluent), "kafka_server_brokertopicmetrics_bytesinpersec");
  EXPECT_EQ(type_word(Kind::kMeter, Dialect::kStrimzi), "counter");
  EXPECT_EQ(type_word(Kind::kMeter, Dialect::kConfluent), "untyped");
}

TEST(Dialect, PercentGaugesAndDashedTypes) {
  const Desc idle = kafka(Kind::kGauge, "kafka.network", "SocketServer", "NetworkProcessorAvgIdlePercent");
  EXPECT_EQ(family_name(idle, Dialect::kStrimzi), "kafka_network_socketserver_networkprocessoravgidle_percent");
  EXPECT_EQ(family_name(idle, Dialect::kConfluent), "kafka_network_socketserver_networkprocessoravgidlepercent");
  const Desc conns = kafka(Kind::kGauge, "kafka.server", "socket-server-metrics", "connection-count");
  EXPECT_EQ(family_name(conns, Dialect::kStrimzi), "kafka_server_socket_server_metrics_connection_count");
  EXPECT_EQ(family_name(conns, Dialect::kConfluent), "kafka_server_socketservermetrics_connection_count");
  const Desc groups = kafka(Kind::kGauge, "kafka.coordinator.group", "GroupMetadataManager", "NumGroupsStable");
  EXPECT_EQ(family_name(groups, Dialect::kConfluent), "kafka_coordinator_group_groupmetadatamanager_numgroupsstable");
}

TEST(Dialect, ConfluentSuffixAppliesToConfluentOnly) {
  Desc idle = kafka(Kind::kGauge, "kafka.server", "KafkaRequestHandlerPool", "RequestHandlerAvgIdlePercent");
  idle.confluent_suffix = "_oneminuterate";
  EXPECT_EQ(family_name(idle, Dialect::kStrimzi), "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent");
  EXPECT_EQ(family_name(idle, Dialect::kConfluent),
            "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent_oneminuterate");
}

TEST(Dialect, LabelNames) {
  EXPECT_EQ(label_name("networkProcessor", Dialect::kStrimzi), "networkProcessor");
  EXPECT_EQ(label_name("networkProcessor", Dialect::kConfluent), "network_processor");
  EXPECT_EQ(label_name("clientId", Dialect::kConfluent), "clientid");
  EXPECT_EQ(label_name("client-id", Dialect::kConfluent), "client_id");
  EXPECT_EQ(label_name("client-id", Dialect::kStrimzi), "client_id");
  EXPECT_EQ(parse_dialect("confluent"), Dialect::kConfluent);
  EXPECT_FALSE(parse_dialect("Strimzi ").has_value());
}

TEST(Dialect, EscapingAndValues) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_help("x\\y\nz\""), "x\\\\y\\nz\"");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(0.5), "0.5");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(INFINITY), "+Inf");
}

TEST(Registry, RendersCountersWithHelpTypeAndLabels) {
  Registry r;
  auto& bytes_in = r.counter(kafka(Kind::kMeter, "kafka.server", "BrokerTopicMetrics", "BytesInPerSec", {"topic"}));
  bytes_in.with("orders").inc(100);
  bytes_in.with("orders").inc(5);
  bytes_in.with(LabelValues{"we\"ird"}).inc();
  const std::string s = r.render(Dialect::kStrimzi, 0);
  EXPECT_NE(s.find("# HELP kafka_server_brokertopicmetrics_bytesin_total help text\n"
                   "# TYPE kafka_server_brokertopicmetrics_bytesin_total counter\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("kafka_server_brokertopicmetrics_bytesin_total{topic=\"orders\"} 105\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kafka_server_brokertopicmetrics_bytesin_total{topic=\"we\\\"ird\"} 1\n"), std::string::npos) << s;
  const std::string c = r.render(Dialect::kConfluent, 0);
  EXPECT_NE(c.find("kafka_server_brokertopicmetrics_bytesinpersec{topic=\"orders\"} 105\n"), std::string::npos) << c;
  EXPECT_NE(c.find("# TYPE kafka_server_brokertopicmetrics_bytesinpersec untyped\n"), std::string::npos) << c;
}

TEST(Registry, SameDescriptionGivesTheSameFamily) {
  Registry r;
  const Desc d = kafka(Kind::kMeter, "kafka.server", "BrokerTopicMetrics", "MessagesInPerSec", {"topic"});
  r.counter(d).with("t").inc(2);
  r.counter(d).with("t").inc(3);
  EXPECT_EQ(r.counter(d).with("t").value(), 5u);
  EXPECT_THROW(r.counter(kafka(Kind::kGauge, "a", "b", "c")), std::invalid_argument);
}

TEST(Registry, EmptyFamiliesAreLeftOut) {
  Registry r;
  r.counter(kafka(Kind::kMeter, "kafka.server", "BrokerTopicMetrics", "BytesOutPerSec", {"topic"}));
  EXPECT_EQ(r.render(Dialect::kStrimzi, 0), "");
}

TEST(Registry, CallbackFamiliesAreComputedAtScrape) {
  Registry r;
  int calls = 0;
  r.callback(kafka(Kind::kGauge, "kafka.server", "ReplicaManager", "PartitionCount"), [&](const Emit& emit) {
    ++calls;
    emit({}, 7);
  });
  r.callback(kafka(Kind::kGauge, "kafka.log", "Log", "Size", {"topic", "partition"}), [](const Emit& emit) {
    emit({"t", "0"}, 1024);
    emit({"t", "1"}, 0);
  });
  const std::string s = r.render(Dialect::kStrimzi, 0);
  EXPECT_EQ(calls, 1);
  EXPECT_NE(s.find("kafka_server_replicamanager_partitioncount 7\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kafka_log_log_size{topic=\"t\",partition=\"0\"} 1024\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kafka_log_log_size{topic=\"t\",partition=\"1\"} 0\n"), std::string::npos) << s;
}

TEST(Timer, BucketsAreContiguousAndWithinAnEighth) {
  for (int64_t us : {0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 123456, 99999999}) {
    const int b = Timer::bucket_of(us);
    EXPECT_LE(Timer::bucket_floor(b), double(us)) << us;
    EXPECT_GT(Timer::bucket_floor(b + 1), double(us)) << us;
    if (us >= 8) {
      EXPECT_LE(Timer::bucket_floor(b + 1) - Timer::bucket_floor(b), double(us) / 8 + 1) << us;
    }
  }
  EXPECT_EQ(Timer::bucket_of(1LL << 62), Timer::kBuckets - 1);
}

TEST(Timer, QuantilesOfAUniformSpread) {
  Timer t;
  for (int i = 1; i <= 1000; ++i) t.record_us(i * 1000, 0);  // 1..1000 ms
  EXPECT_EQ(t.count(), 1000u);
  EXPECT_NEAR(t.quantile_us(0.50, 0) / 1000, 500, 500 / 8.0);
  EXPECT_NEAR(t.quantile_us(0.99, 0) / 1000, 990, 990 / 8.0);
  EXPECT_NEAR(t.quantile_us(0.999, 0) / 1000, 999, 999 / 8.0);
}

TEST(Timer, OldWindowsAgeOut) {
  Timer t;
  for (int i = 0; i < 100; ++i) t.record_us(50000, 0);
  EXPECT_GT(t.quantile_us(0.5, Timer::kWindowMs), 40000);  // still the previous window
  EXPECT_EQ(t.quantile_us(0.5, 2 * Timer::kWindowMs), 0);  // two windows on: gone
  t.record_us(100, 2 * Timer::kWindowMs);                 // reuses and clears window 0
  EXPECT_LT(t.quantile_us(0.5, 2 * Timer::kWindowMs), 200);
  EXPECT_EQ(t.count(), 101u);  // the count is since start, as Kafka's
}

TEST(Registry, TimersRenderKafkasQuantileStrings) {
  Registry r;
  auto& total = r.timer(kafka(Kind::kTimer, "kafka.network", "RequestMetrics", "TotalTimeMs", {"request"}));
  total.with("Produce").record_us(2000, 0);
  const std::string s = r.render(Dialect::kConfluent, 0);
  EXPECT_NE(s.find("# TYPE kafka_network_requestmetrics_totaltimems summary\n"), std::string::npos) << s;
  for (const char* q : {"0.50", "0.75", "0.95", "0.98", "0.99", "0.999"}) {
    EXPECT_NE(s.find(std::string("kafka_network_requestmetrics_totaltimems{request=\"Produce\",quantile=\"") + q + "\"} "),
              std::string::npos)
        << q << "\n"
        << s;
  }
  EXPECT_NE(s.find("kafka_network_requestmetrics_totaltimems_count{request=\"Produce\"} 1\n"), std::string::npos) << s;
}

TEST(Registry, HistogramsAreCumulativeWithInf) {
  Registry r;
  Desc d;
  d.kind = Kind::kHistogram;
  d.name = "keel_request_latency_seconds";
  d.help = "h";
  d.labels = {"request"};
  auto& h = r.histogram(d, {0.001, 0.01, 0.1});
  h.with("Fetch").observe(0.0005);
  h.with("Fetch").observe(0.005);
  h.with("Fetch").observe(0.005);
  h.with("Fetch").observe(3);
  const std::string s = r.render(Dialect::kStrimzi, 0);
  EXPECT_NE(s.find("keel_request_latency_seconds_bucket{request=\"Fetch\",le=\"0.001\"} 1\n"), std::string::npos) << s;
  EXPECT_NE(s.find("keel_request_latency_seconds_bucket{request=\"Fetch\",le=\"0.01\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("keel_request_latency_seconds_bucket{request=\"Fetch\",le=\"0.1\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("keel_request_latency_seconds_bucket{request=\"Fetch\",le=\"+Inf\"} 4\n"), std::string::npos) << s;
  EXPECT_NE(s.find("keel_request_latency_seconds_count{request=\"Fetch\"} 4\n"), std::string::npos) << s;
  EXPECT_NE(s.find("keel_request_latency_seconds_sum{request=\"Fetch\"} 3.0105"), std::string::npos) << s;
  EXPECT_THROW(r.histogram(d, {1, 0.5}), std::invalid_argument);
}

TEST(Registry, CountersAddUpAcrossThreads) {
  Registry r;
  auto& f = r.counter(kafka(Kind::kMeter, "kafka.server", "BrokerTopicMetrics", "MessagesInPerSec", {"topic"}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) f.with(i % 2 ? "a" : "b").inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(f.with("a").value() + f.with("b").value(), 40000u);
}

TEST(Process, SeriesArePresentAndPlausible) {
  Registry r;
  register_process_metrics(r);
  const std::string s = r.render(Dialect::kStrimzi, 0);
  EXPECT_NE(s.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos) << s;
  const size_t fds = s.find("\nprocess_open_fds ");
  ASSERT_NE(fds, std::string::npos) << s;
  EXPECT_GT(std::stod(s.substr(fds + 18)), 2);  // stdin, stdout, stderr at least
  const size_t rss = s.find("\nprocess_resident_memory_bytes ");
  ASSERT_NE(rss, std::string::npos) << s;
  EXPECT_GT(std::stod(s.substr(rss + 31)), 1e5);
}

// A scrape runs at a lower CPU priority: while it reads a family, a request
// adding a series to it (a new topic's first produce) must not wait for it.
TEST(Family, ASeriesCanBeAddedWhileAScrapeReadsTheFamily) {
  Registry r;
  auto& topics = r.counter(kafka(Kind::kMeter, "kafka.server", "BrokerTopicMetrics", "BytesInPerSec", {"topic"}));
  topics.with("a").inc();
  // Outside each(): a future's destructor waits for its thread.
  std::future<void> adding;
  bool added = false;
  std::vector<std::string> seen;
  topics.each([&](const LabelValues& values, const Counter&) {
    seen.push_back(values.at(0));
    adding = std::async(std::launch::async, [&] { topics.with("b").inc(5); });
    added = adding.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  });
  adding.wait();
  EXPECT_TRUE(added) << "adding a series waited for the scrape to leave the family";
  EXPECT_EQ(seen, std::vector<std::string>{"a"});  // the series as listed when the scrape began
  EXPECT_EQ(topics.with("b").value(), 5u);
}

// A series removed while a scrape holds it stays readable until it is done.
TEST(Family, ASeriesRemovedDuringAScrapeIsStillRead) {
  Registry r;
  auto& topics = r.gauge(kafka(Kind::kGauge, "kafka.log", "Log", "Size", {"topic"}));
  topics.with("a").set(1);
  topics.with("b").set(2);
  std::vector<double> values;
  std::future<void> removing;
  topics.each([&](const LabelValues& v, const Gauge& g) {
    if (v.at(0) == "a") {
      removing = std::async(std::launch::async, [&] { topics.remove({"b"}); });
      ASSERT_EQ(removing.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    }
    values.push_back(g.value());
  });
  removing.wait();
  EXPECT_EQ(values, (std::vector<double>{1, 2}));
  EXPECT_EQ(r.render(Dialect::kStrimzi).find("topic=\"b\""), std::string::npos);
}

}  // namespace
}  // namespace keel::metrics
