// Confluent v3's records produce, POST /v3/clusters/{c}/topics/{t}/records:
// one record ({"partition_id", "headers":[{name, value (base64)}], "key" and
// "value" as {"type": BINARY|JSON|STRING, "data"}, "timestamp"}) written
// through the Produce path with acks=all under the caller's principal (WRITE
// on the topic, as a producer needs), answered with Confluent's
// ProduceResponse (error_code 200, partition_id, offset, timestamp, key and
// value sizes). Without partition_id the partition is Kafka's default
// partitioner's: murmur2 of the key, else round robin. The partition's leader
// writes it: another broker answers 421 naming the leader (docs/rest-api.md).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <boost/json.hpp>

#include "protocol/generated/produce_request.h"
#include "protocol/generated/produce_response.h"
#include "protocol/record_batch.h"
#include "security/scram.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;

// Kafka's murmur2 (Utils.murmur2, seed 0x9747b28c), as its default
// partitioner hashes keys: the same key lands where a Java producer puts it.
int32_t murmur2(ByteView data) {
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const size_t length = data.size();
  uint32_t h = 0x9747b28c ^ static_cast<uint32_t>(length);
  const size_t blocks = length / 4;
  for (size_t i = 0; i < blocks; ++i) {
    const size_t at = i * 4;
    uint32_t k = uint32_t{data[at]} | uint32_t{data[at + 1]} << 8 | uint32_t{data[at + 2]} << 16 |
                 uint32_t{data[at + 3]} << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const size_t tail = blocks * 4;
  switch (length % 4) {
    case 3: h ^= uint32_t{data[tail + 2]} << 16; [[fallthrough]];
    case 2: h ^= uint32_t{data[tail + 1]} << 8; [[fallthrough]];
    case 1:
      h ^= uint32_t{data[tail]};
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

// "2021-02-05T19:14:42.123Z" (UTC; milliseconds optional) -> ms since the epoch.
std::optional<int64_t> parse_time(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  int n = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &n) != 6) {
    return std::nullopt;
  }
  std::string rest = text.substr(static_cast<size_t>(n));
  if (!rest.empty() && rest[0] == '.') {
    int digits = 0;
    if (std::sscanf(rest.c_str(), ".%3d%n", &ms, &digits) != 1 || digits != 4) return std::nullopt;
    rest = rest.substr(4);
  }
  if (rest != "Z") return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const time_t secs = timegm(&tm);
  if (secs < 0) return std::nullopt;
  return int64_t{secs} * 1000 + ms;
}

std::string format_time(int64_t ms) {
  const time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

// A key or value: nullopt for a null record part; *bad set when refused.
std::optional<Bytes> record_part(const boost::json::value* part, std::string_view what, std::optional<std::string>* type,
                                 http::Response* bad) {
  if (!part || part->is_null()) return std::nullopt;
  const std::string where = std::string(what);
  if (!check_object(*part, {{"type", Kind::string, true}, {"data", json::find(*part, "data") ? json::find(*part, "data")->kind() : Kind::null}},
                    where, bad)) {
    return std::nullopt;
  }
  *type = json::string_member(*part, "type");
  const boost::json::value* data = json::find(*part, "data");
  if (*type == "BINARY") {
    if (!data || !data->is_string()) return std::nullopt;
    auto bytes = security::base64_decode(data->as_string());
    if (!bytes) *bad = error(400, where + ".data is not base64");
    return bytes;
  }
  if (*type == "STRING") {
    if (!data || !data->is_string()) {
      if (data && !data->is_null()) *bad = error(400, where + ".data must be a string for type STRING");
      return std::nullopt;
    }
    return Bytes(data->as_string().begin(), data->as_string().end());
  }
  if (*type == "JSON") {
    if (!data) return std::nullopt;
    const std::string text = json::write(*data);
    return Bytes(text.begin(), text.end());
  }
  *bad = error(400, where + ".type must be BINARY, JSON or STRING (no schema registry serves " + **type + ")");
  return std::nullopt;
}

boost::json::value size_json(const std::optional<std::string>& type, const std::optional<Bytes>& bytes) {
  if (!type) return boost::json::value();
  boost::json::object v;
  v["type"] = *type;
  v["size"] = bytes ? static_cast<int64_t>(bytes->size()) : 0;
  return v;
}

std::atomic<uint32_t> next_round_robin{0};

}  // namespace

void RestApi::produce_record(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body,
                         {{"partition_id", Kind::int64}, {"headers", Kind::array}, {"key", Kind::object},
                          {"value", Kind::object}, {"timestamp", Kind::string}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  refusal.status = 0;
  std::optional<std::string> key_type, value_type;
  auto key = record_part(json::find(*body, "key"), "key", &key_type, &refusal);
  if (refusal.status) return reply(std::move(refusal));
  auto value = record_part(json::find(*body, "value"), "value", &value_type, &refusal);
  if (refusal.status) return reply(std::move(refusal));
  std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
  if (const boost::json::value* hs = json::find(*body, "headers"); hs && hs->is_array()) {
    for (const boost::json::value& h : hs->as_array()) {
      if (!check_object(h, {{"name", Kind::string, true}, {"value", Kind::string}}, "headers[]", &refusal)) {
        return reply(std::move(refusal));
      }
      std::optional<Bytes> hv;
      if (const boost::json::value* v = json::find(h, "value"); v && v->is_string()) {
        hv = security::base64_decode(v->as_string());
        if (!hv) return reply(error(400, "headers[].value is not base64"));
      }
      headers.emplace_back(json::string_member(h, "name"), std::move(hv));
    }
  }
  int64_t timestamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  if (const boost::json::value* t = json::find(*body, "timestamp"); t && t->is_string()) {
    auto parsed = parse_time(std::string(t->get_string()));
    if (!parsed) return reply(error(400, "timestamp must be an ISO 8601 UTC time such as 2024-05-01T12:00:00.000Z"));
    timestamp = *parsed;
  }
  std::optional<int64_t> partition;
  if (const boost::json::value* p = json::find(*body, "partition_id"); p && p->is_int64()) partition = p->as_int64();
  const std::string topic = req.param("topic_name");
  metadata(who, std::vector<std::string>{topic}, [this, who, reply, topic, partition, key, value, key_type,
                                                  value_type, headers, timestamp](Result<protocol::MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    if (m->topics.size() != 1) return reply(error(500, kKafkaError, "Metadata answered no topic"));
    const auto& t = m->topics[0];
    if (t.error_code != 0) return reply(kafka_error(t.error_code, topic));
    if (t.partitions.empty()) return reply(error(404, kUnknownTopicOrPartition, "topic " + topic + " has no partitions"));
    int32_t p = 0;
    if (partition) {
      if (*partition < 0 || *partition >= static_cast<int64_t>(t.partitions.size())) {
        return reply(error(404, kUnknownTopicOrPartition,
                           "UNKNOWN_TOPIC_OR_PARTITION: " + topic + " has no partition " + std::to_string(*partition),
                           static_cast<int16_t>(protocol::ErrorCode::kUnknownTopicOrPartition)));
      }
      p = static_cast<int32_t>(*partition);
    } else if (key) {
      p = static_cast<int32_t>((murmur2(ByteView(*key)) & 0x7fffffff) % static_cast<int32_t>(t.partitions.size()));
    } else {
      p = static_cast<int32_t>(next_round_robin.fetch_add(1) % t.partitions.size());
    }
    int32_t leader = -1;
    for (const auto& part : t.partitions) {
      if (part.partition_index == p) leader = part.leader_id;
    }
    if (leader != options_.broker_id) {
      auto r = error(421, kMisdirected,
                     leader < 0 ? topic + "-" + std::to_string(p) + " has no leader; try again"
                                : "broker " + std::to_string(leader) + " leads " + topic + "-" + std::to_string(p) +
                                      ": call its HTTP listener",
                     static_cast<int16_t>(protocol::ErrorCode::kNotLeaderOrFollower));
      if (leader >= 0) r.headers.emplace_back("Keel-Leader-Id", std::to_string(leader));
      return reply(std::move(r));
    }
    protocol::RecordBatchBuilder builder;
    builder.add(timestamp, key ? std::optional<ByteView>(ByteView(*key)) : std::nullopt,
                value ? std::optional<ByteView>(ByteView(*value)) : std::nullopt, headers);
    auto batch = builder.build();
    if (!batch) return reply(error(500, kKafkaError, "the record could not be encoded: " + batch.error().message()));
    protocol::ProduceRequest pr;
    pr.acks = -1;
    pr.timeout_ms = 30000;
    auto& td = pr.topic_data.emplace_back();
    td.name = topic;
    auto& pd = td.partition_data.emplace_back();
    pd.index = p;
    pd.records = protocol::Records::own(std::move(*batch));
    bridge_.call<protocol::ProduceResponse>(
        who, pr, 9, [this, reply, topic, p, key, value, key_type, value_type, timestamp](
                        Result<protocol::ProduceResponse> r) {
          if (!r) return reply(bridge_error(r.error()));
          if (r->responses.size() != 1 || r->responses[0].partition_responses.size() != 1) {
            return reply(error(500, kKafkaError, "Produce answered no partition"));
          }
          const auto& pr = r->responses[0].partition_responses[0];
          if (pr.error_code != 0) return reply(kafka_error(pr.error_code, pr.error_message.value_or("")));
          boost::json::object v;
          v["error_code"] = 200;
          v["cluster_id"] = cluster_id();
          v["topic_name"] = topic;
          v["partition_id"] = p;
          v["offset"] = pr.base_offset;
          v["timestamp"] = format_time(pr.log_append_time_ms >= 0 ? pr.log_append_time_ms : timestamp);
          v["key"] = size_json(key_type, key);
          v["value"] = size_json(value_type, value);
          reply(json_response(200, v));
        });
  });
}

}  // namespace keel::server::rest
