// keel-load: end-to-end load against a Kafka-compatible broker, on
// librdkafka (the client most of our users run), printing one JSON line of
// results per run. Modes:
//   produce  --bootstrap H:P --topic T [--records N | --duration S] [--record-size B]
//            [--acks 0|1|all] [--linger-ms L] [--batch-bytes B] [--compression C]
//            [--rate R] [--partitions P] [--latency-every K] [--copy 1|0]
//            [--set key=value,key=value...]
//            records/s, MB/s, and latency from produce() to the delivery
//            report (p50, p99, p99.9, max) of every K-th record (default every
//            record with --rate, every 16th without: two clock reads per record
//            took ~17% of the client's CPU at 100 B, on cores it shares).
//            --copy 0 hands librdkafka the payload without RD_KAFKA_MSG_F_COPY
//            (every record points at one constant buffer, as an application
//            producing from memory it keeps does); --set passes librdkafka
//            settings through (message.copy.max.bytes, say).
//   consume  --bootstrap H:P --topic T --records N [--partitions P] [--debug C] [--set ...]
//            reads from the beginning until N records: records/s, MB/s from
//            the first batch to the last (the client's start apart, as
//            startup_s); --debug passes librdkafka debug contexts through.
//   create   --bootstrap H:P --topic T [--partitions P]
//            creates the topic with the Admin API (ok if it exists).
//   mock     [--partitions P] [--topic T]
//            starts librdkafka's in-memory mock cluster, prints its bootstrap
//            address on stdout and serves until killed (the same producer
//            then runs against it over loopback, for a comparison).
// Exit code 0 on success; errors go to stderr.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode;
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long long num(const std::string& k, long long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::atoll(it->second.c_str());
  }
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "keel-load: %s\n", msg.c_str());
  std::exit(1);
}

void set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    die(std::string("config ") + key + "=" + value + ": " + err);
  }
}

// "k1=v1,k2=v2": librdkafka settings from the command line, applied last.
void set_all(rd_kafka_conf_t* conf, const std::string& list) {
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) die("--set expects key=value, got " + item);
    set(conf, item.substr(0, eq).c_str(), item.substr(eq + 1));
    pos = end + 1;
  }
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// --- produce ---------------------------------------------------------------------

struct ProduceState {
  std::vector<Clock::time_point> sent;
  std::vector<float> latency_us;
  std::atomic<long long> delivered{0};
  std::atomic<long long> failed{0};
  long long every = 1;  // latency of records whose index is a multiple of this
  long long total = 0;
  Clock::time_point last_delivery;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<ProduceState*>(opaque);
  const size_t i = reinterpret_cast<size_t>(m->_private);
  const bool sampled = static_cast<long long>(i) % st->every == 0;
  const auto now = sampled ? Clock::now() : Clock::time_point{};
  if (m->err) {
    if (st->failed.fetch_add(1) < 5) std::fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
  } else {
    if (sampled && i < st->sent.size()) {
      st->latency_us[i] = static_cast<float>(std::chrono::duration<double, std::micro>(now - st->sent[i]).count());
    }
    st->delivered.fetch_add(1);
  }
  // The run ends with the last report.
  if (st->delivered.load() + st->failed.load() == st->total) st->last_delivery = sampled ? now : Clock::now();
}

int run_produce(const Args& a) {
  const std::string topic = a.get("topic", "load");
  const long long records = a.num("records", 1000000);
  const long long size = a.num("record-size", 100);
  const long long rate = a.num("rate", 0);
  const int partitions = static_cast<int>(a.num("partitions", 1));
  ProduceState st;
  st.every = std::max(1LL, a.num("latency-every", rate > 0 ? 1 : 16));
  st.total = records;
  st.sent.resize(static_cast<size_t>(records));
  st.latency_us.assign(static_cast<size_t>(records), -1.0f);

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.get("bootstrap"));
  set(conf, "acks", a.get("acks", "1"));
  set(conf, "linger.ms", a.get("linger-ms", "5"));
  set(conf, "batch.size", a.get("batch-bytes", "1000000"));
  set(conf, "compression.type", a.get("compression", "none"));
  set(conf, "queue.buffering.max.messages", "2000000");
  set(conf, "queue.buffering.max.kbytes", "2097151");
  set(conf, "message.max.bytes", "10000000");
  set_all(conf, a.get("set"));
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &st);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) die(err);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  std::string payload(static_cast<size_t>(size), 'x');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);

  // Without F_COPY librdkafka keeps the pointer until the delivery report;
  // `payload` outlives every record.
  const int msg_flags = a.num("copy", 1) != 0 ? RD_KAFKA_MSG_F_COPY : 0;

  const auto start = Clock::now();
  for (long long i = 0; i < records; ++i) {
    if (rate > 0) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                   static_cast<double>(i) / static_cast<double>(rate)));
      while (Clock::now() < due) {
        rd_kafka_poll(rk, 0);
        std::this_thread::sleep_until(std::min(due, Clock::now() + std::chrono::milliseconds(1)));
      }
    }
    const bool sampled = i % st.every == 0;
    if (sampled) st.sent[static_cast<size_t>(i)] = Clock::now();
    while (rd_kafka_produce(rkt, static_cast<int32_t>(i % partitions), msg_flags, payload.data(),
                            payload.size(), nullptr, 0, reinterpret_cast<void*>(static_cast<size_t>(i))) != 0) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(rd_kafka_err2str(rd_kafka_last_error()));
      rd_kafka_poll(rk, 1);
      if (sampled) st.sent[static_cast<size_t>(i)] = Clock::now();
    }
    if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
  }
  while (st.delivered.load() + st.failed.load() < records) rd_kafka_poll(rk, 50);
  const double elapsed = std::chrono::duration<double>(st.last_delivery - start).count();
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);

  std::vector<float> lat;
  lat.reserve(st.latency_us.size());
  for (float l : st.latency_us)
    if (l >= 0) lat.push_back(l);
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    if (lat.empty()) return 0.0;
    const size_t i = std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size())));
    return static_cast<double>(lat[i]) / 1000.0;
  };
  const double mb = static_cast<double>(records * size) / 1e6;
  std::printf(
      "{\"mode\":\"produce\",\"records\":%lld,\"failed\":%lld,\"record_size\":%lld,\"acks\":\"%s\","
      "\"seconds\":%.3f,\"records_per_s\":%.0f,\"mb_per_s\":%.1f,"
      "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}}\n",
      records, st.failed.load(), size, a.get("acks", "1").c_str(), elapsed, static_cast<double>(records) / elapsed,
      mb / elapsed, pct(0.5), pct(0.99), pct(0.999), lat.empty() ? 0.0 : lat.back() / 1000.0);
  return st.failed.load() == 0 ? 0 : 1;
}

// --- consume ----------------------------------------------------------------------

int run_consume(const Args& a) {
  const std::string topic = a.get("topic", "load");
  const long long records = a.num("records", 1000000);
  const int partitions = static_cast<int>(a.num("partitions", 1));
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.get("bootstrap"));
  if (!a.get("debug").empty()) set(conf, "debug", a.get("debug"));
  set(conf, "fetch.message.max.bytes", "16777216");
  set(conf, "receive.message.max.bytes", "104857600");
  set(conf, "queued.max.messages.kbytes", "1048576");
  set(conf, "fetch.max.bytes", "52428800");
  set_all(conf, a.get("set"));
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (!rk) die(err);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  for (int p = 0; p < partitions; ++p) {
    if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q) != 0) die("consume_start failed");
  }
  // The rate runs from the first batch handed over to the last, and counts
  // the records after the first batch: what comes before it is the client's
  // start (connecting, metadata, the offset lookup, which librdkafka sometimes
  // retries only after 500 ms when a partition starts before its leader is
  // known), not consuming. Each call waits at most 10 ms for a full batch, so
  // the first batch is what arrived in those 10 ms.
  long long got = 0, bytes = 0, first_records = 0, first_bytes = 0;
  std::vector<rd_kafka_message_t*> batch(10000);
  const auto start = Clock::now();
  auto first = start, last = start;
  while (got < records) {
    const ssize_t n = rd_kafka_consume_batch_queue(q, 10, batch.data(), batch.size());
    for (ssize_t i = 0; i < n; ++i) {
      if (!batch[static_cast<size_t>(i)]->err) {
        ++got;
        bytes += static_cast<long long>(batch[static_cast<size_t>(i)]->len);
      }
      rd_kafka_message_destroy(batch[static_cast<size_t>(i)]);
    }
    if (n > 0) {
      last = Clock::now();
      if (first_records == 0 && got > 0) {
        first = last;
        first_records = got;
        first_bytes = bytes;
      }
    }
    if (seconds_since(last) > 30) die("no records for 30 s (" + std::to_string(got) + " of " + std::to_string(records) + ")");
  }
  if (got == first_records) die("all records came in one batch: no rate to measure");
  const double elapsed = std::chrono::duration<double>(last - first).count();
  const double startup = std::chrono::duration<double>(first - start).count();
  const long long all_bytes = bytes;
  got -= first_records;
  bytes -= first_bytes;
  for (int p = 0; p < partitions; ++p) rd_kafka_consume_stop(rkt, p);
  rd_kafka_queue_destroy(q);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  std::printf("{\"mode\":\"consume\",\"records\":%lld,\"bytes\":%lld,\"seconds\":%.3f,\"records_per_s\":%.0f,"
              "\"mb_per_s\":%.1f,\"startup_s\":%.3f,\"all_bytes\":%lld}\n",
              got, bytes, elapsed, static_cast<double>(got) / elapsed, static_cast<double>(bytes) / 1e6 / elapsed,
              startup, all_bytes);
  return 0;
}

// --- create -----------------------------------------------------------------------

int run_create(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", a.get("bootstrap"));
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) die(err);
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(a.get("topic", "load").c_str(),
                                                  static_cast<int>(a.num("partitions", 1)), 1, err, sizeof(err));
  if (!nt) die(err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  if (!ev) die("CreateTopics timed out");
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
  size_t n = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(res, &n);
  int rc = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto e = rd_kafka_topic_result_error(topics[i]);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      std::fprintf(stderr, "create %s: %s\n", rd_kafka_topic_result_name(topics[i]), rd_kafka_err2str(e));
      rc = 1;
    }
  }
  rd_kafka_event_destroy(ev);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return rc;
}

// --- mock -------------------------------------------------------------------------

std::atomic<bool> g_stop{false};

int run_mock(const Args& a) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "log_level", "0");
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) die(err);
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, 1);
  if (!mc) die("cannot start the mock cluster");
  rd_kafka_mock_topic_create(mc, a.get("topic", "load").c_str(), static_cast<int>(a.num("partitions", 1)), 1);
  std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  std::fflush(stdout);
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGINT, [](int) { g_stop = true; });
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: keel-load produce|consume|mock [--key value ...]\n");
    return 2;
  }
  Args a;
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) die("expected --key value, got " + k);
    a.kv[k.substr(2)] = argv[i + 1];
  }
  if (a.mode == "produce") return run_produce(a);
  if (a.mode == "consume") return run_consume(a);
  if (a.mode == "mock") return run_mock(a);
  if (a.mode == "create") return run_create(a);
  die("unknown mode " + a.mode);
}
