// Submitting the moves of a /keel/v1 reassignment route and its replication
// throttle, as kafka-reassign-partitions --execute --throttle and --verify
// do: the rate on every broker involved (leader.replication.throttled.rate,
// follower.replication.throttled.rate), the replicas on each moving topic
// (leader.replication.throttled.replicas: the current replicas,
// follower.replication.throttled.replicas: the added ones), all set by
// IncrementalAlterConfigs under the caller's principal before
// AlterPartitionReassignments; removed once no reassignment of those topics
// is ongoing (checked by GET and DELETE /keel/v1/reassignments, on whichever
// broker is the controller then: what was throttled is recorded in the
// coordination store, rest_throttle_record.h).
#include <algorithm>
#include <map>

#include <boost/json.hpp>

#include "common/log.h"
#include "protocol/generated/alter_partition_reassignments_request.h"
#include "protocol/generated/alter_partition_reassignments_response.h"
#include "protocol/generated/incremental_alter_configs_request.h"
#include "protocol/generated/incremental_alter_configs_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("rest");
  return l;
}

using protocol::IncrementalAlterConfigsRequest;
using protocol::IncrementalAlterConfigsResponse;

constexpr int8_t kTopic = 2;
constexpr int8_t kBroker = 4;
constexpr int8_t kSet = 0;
constexpr int8_t kDelete = 1;

const char* const kRateKeys[] = {"leader.replication.throttled.rate", "follower.replication.throttled.rate"};
const char* const kReplicaKeys[] = {"leader.replication.throttled.replicas", "follower.replication.throttled.replicas"};

void add_config(IncrementalAlterConfigsRequest& ia, int8_t type, const std::string& name, const std::string& key,
                std::optional<std::string> value) {
  auto it = std::find_if(ia.resources.begin(), ia.resources.end(),
                         [&](const auto& r) { return r.resource_type == type && r.resource_name == name; });
  if (it == ia.resources.end()) {
    ia.resources.emplace_back();
    it = ia.resources.end() - 1;
    it->resource_type = type;
    it->resource_name = name;
  }
  auto& c = it->configs.emplace_back();
  c.name = key;
  c.config_operation = value ? kSet : kDelete;
  c.value = std::move(value);
}

// The first refusal of an IncrementalAlterConfigs answer, if any.
std::optional<http::Response> refusal_of(const Result<IncrementalAlterConfigsResponse>& r) {
  if (!r) return bridge_error(r.error());
  for (const auto& res : r->responses) {
    if (res.error_code != 0) {
      return keel_kafka_error(res.error_code, res.resource_name + ": " + res.error_message.value_or(""));
    }
  }
  return std::nullopt;
}

// "p:b,p:b" for Kafka's *.replication.throttled.replicas.
std::string throttled_replicas(const std::map<int32_t, std::vector<int32_t>>& replicas) {
  std::string s;
  for (const auto& [p, brokers] : replicas) {
    for (int32_t b : brokers) s += (s.empty() ? "" : ",") + std::to_string(p) + ":" + std::to_string(b);
  }
  return s;
}

}  // namespace

bool flag(const boost::json::value& body, std::string_view name) {
  const boost::json::value* f = json::find(body, name);
  return f && f->is_bool() && f->as_bool();
}

std::optional<std::optional<int64_t>> read_throttle(const boost::json::value& body, http::Response* refusal) {
  const boost::json::value* t = json::find(body, "throttle_bytes_per_sec");
  if (!t || t->is_null()) return std::optional<int64_t>{};
  if (t->as_int64() < 1) {
    *refusal = error(400, "throttle_bytes_per_sec must be 1 or more");
    return std::nullopt;
  }
  return std::optional<int64_t>{t->as_int64()};
}

http::Response not_live(int32_t broker) {
  return error(400, kBadRequestKafka,
               "INVALID_REPLICA_ASSIGNMENT: broker " + std::to_string(broker) + " is not a live broker of the cluster",
               static_cast<int16_t>(protocol::ErrorCode::kInvalidReplicaAssignment));
}

boost::json::object partition_result(const std::string& topic, int32_t partition, int16_t code, const std::optional<std::string>& message) {
  boost::json::object v;
  v["topic"] = topic;
  v["partition"] = partition;
  v["error_code"] = code;
  v["error"] = code ? boost::json::value(std::string(protocol::error_name(code))) : boost::json::value();
  v["message"] = message && !message->empty() ? boost::json::value(*message) : boost::json::value();
  return v;
}

void RestApi::submit_moves(const Caller& who, std::vector<Move> moves, bool dry_run, std::optional<int64_t> throttle,
                           http::Reply reply) {
  auto answer = [dry_run, throttle](const std::vector<Move>& moves, const boost::json::array& results) {
    boost::json::array data = moves_json(moves);
    for (size_t i = 0; i < data.size() && i < results.size(); ++i) {
      for (const char* key : {"error_code", "error", "message"}) {
        if (const boost::json::value* m = json::find(results[i], key)) data[i].as_object()[key] = *m;
      }
    }
    boost::json::object v;
    v["kind"] = "KeelReassignment";
    v["dry_run"] = dry_run;
    v["throttle_bytes_per_sec"] = throttle ? boost::json::value(*throttle) : boost::json::value();
    v["moves"] = std::move(data);
    return json_response(200, v);
  };
  if (dry_run || moves.empty()) return reply(answer(moves, {}));

  protocol::AlterPartitionReassignmentsRequest ar;
  for (const auto& m : moves) {
    if (ar.topics.empty() || ar.topics.back().name != m.topic) ar.topics.emplace_back().name = m.topic;
    auto& p = ar.topics.back().partitions.emplace_back();
    p.partition_index = m.partition;
    p.replicas = m.target;
  }
  auto start = [this, who, reply, moves, ar, answer]() {
    bridge_.call<protocol::AlterPartitionReassignmentsResponse>(
        who, ar, 0, [reply, moves, answer](Result<protocol::AlterPartitionReassignmentsResponse> r) {
          if (!r) return reply(bridge_error(r.error()));
          if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, r->error_message.value_or("")));
          boost::json::array results;
          std::optional<http::Response> all_failed;
          size_t failed = 0;
          for (const auto& m : moves) {
            int16_t code = 0;
            std::optional<std::string> message;
            for (const auto& t : r->responses) {
              for (const auto& p : t.partitions) {
                if (t.name == m.topic && p.partition_index == m.partition) code = p.error_code, message = p.error_message;
              }
            }
            if (code != 0 && failed++ == 0) all_failed = keel_kafka_error(code, message.value_or(""));
            results.push_back(partition_result(m.topic, m.partition, code, message));
          }
          // Nothing started: the refusal itself (400, 403...), not a 200 listing it.
          if (failed == moves.size()) return reply(std::move(*all_failed));
          reply(answer(moves, results));
        });
  };
  if (!throttle) return start();

  IncrementalAlterConfigsRequest ia;
  std::set<int32_t> brokers;
  std::map<std::string, std::pair<std::map<int32_t, std::vector<int32_t>>, std::map<int32_t, std::vector<int32_t>>>> topics;
  for (const auto& m : moves) {
    brokers.insert(m.current.begin(), m.current.end());
    brokers.insert(m.target.begin(), m.target.end());
    auto& [leaders, followers] = topics[m.topic];
    leaders[m.partition] = m.current;
    for (int32_t b : m.target) {
      if (std::find(m.current.begin(), m.current.end(), b) == m.current.end()) followers[m.partition].push_back(b);
    }
  }
  for (int32_t b : brokers) {
    for (const char* key : kRateKeys) add_config(ia, kBroker, std::to_string(b), key, std::to_string(*throttle));
  }
  for (const auto& [topic, lf] : topics) {
    add_config(ia, kTopic, topic, kReplicaKeys[0], throttled_replicas(lf.first));
    add_config(ia, kTopic, topic, kReplicaKeys[1], throttled_replicas(lf.second));
  }
  ThrottledSet wanted;
  wanted.brokers = brokers;
  for (const auto& [t, unused] : topics) wanted.topics.insert(t);
  // Recorded before the configs are set: a broker dying in between leaves
  // a record of a throttle that may not exist (its removal is then a no-op),
  // never a throttle nobody will remove.
  const bool posted = bridge_.post([this, who, reply, start, ia = std::move(ia), wanted] {
    auto added = throttle_record_.add(wanted);
    if (!added) {
      return reply(error(503, kKafkaRetriable,
                         "the throttle could not be recorded in the coordination store (" + added.error().message() +
                             "); nothing was changed, try again"));
    }
    bridge_.call<IncrementalAlterConfigsResponse>(
        who, ia, 1, [this, reply, start, added = *added](Result<IncrementalAlterConfigsResponse> r) {
          auto refused = refusal_of(r);
          if (!refused) return start();
          if (!r) return reply(std::move(*refused));  // maybe set, maybe not: the record stays
          // What this call recorded and Kafka refused to set is taken back (a
          // later clean-up would otherwise remove an operator's throttle there).
          ThrottledSet unset;
          for (const auto& res : r->responses) {
            if (res.error_code == 0) continue;
            if (res.resource_type == kTopic && added.topics.count(res.resource_name)) {
              unset.topics.insert(res.resource_name);
            } else if (auto id = parse_int(res.resource_name, 0, INT32_MAX);
                       res.resource_type == kBroker && id && added.brokers.count(static_cast<int32_t>(*id))) {
              unset.brokers.insert(static_cast<int32_t>(*id));
            }
          }
          if (!unset.empty()) {
            bridge_.post([this, unset] {
              if (auto gone = throttle_record_.remove(unset); !gone) {
                log()->warn("could not take back the refused throttle's record: {}", gone.error().message());
              }
            });
          }
          reply(std::move(*refused));
        });
  });
  if (!posted) reply(error(503, kKafkaRetriable, "the broker is busy or stopping; try again"));
}

void RestApi::clear_finished_throttles(const Caller& who, const std::set<std::string>& busy,
                                       std::function<void(std::vector<std::string>)> done) {
  // The store is read on a worker: this runs on whichever thread answered
  // ListPartitionReassignments.
  const bool posted = bridge_.post([this, who, busy, done] {
    auto recorded = throttle_record_.read();
    if (!recorded) {
      log()->warn("reassignment throttles not cleared: the store answered {}", recorded.error().message());
      return done({});
    }
    ThrottledSet clear;
    bool any_busy = false;
    for (const auto& t : recorded->topics) {
      if (busy.count(t)) any_busy = true;
      else clear.topics.insert(t);
    }
    if (!any_busy) clear.brokers = recorded->brokers;
    if (clear.empty()) return done({});
    IncrementalAlterConfigsRequest ia;
    for (int32_t b : clear.brokers) {
      for (const char* key : kRateKeys) add_config(ia, kBroker, std::to_string(b), key, std::nullopt);
    }
    for (const auto& t : clear.topics) {
      for (const char* key : kReplicaKeys) add_config(ia, kTopic, t, key, std::nullopt);
    }
    bridge_.call<IncrementalAlterConfigsResponse>(
        who, ia, 1, [this, done](Result<IncrementalAlterConfigsResponse> r) {
          if (!r) return done({});
          ThrottledSet cleared;
          std::vector<std::string> topics;
          for (const auto& res : r->responses) {
            if (res.resource_type == kTopic) {
              // A deleted topic has no throttle left to remove: its record goes too.
              if (res.error_code == static_cast<int16_t>(protocol::ErrorCode::kUnknownTopicOrPartition)) {
                cleared.topics.insert(res.resource_name);
              } else if (res.error_code == 0) {
                cleared.topics.insert(res.resource_name);
                topics.push_back(res.resource_name);
              }
            } else if (auto id = parse_int(res.resource_name, 0, INT32_MAX); id && res.error_code == 0) {
              cleared.brokers.insert(static_cast<int32_t>(*id));
            }
            // Refused (the caller may not ALTER_CONFIGS): kept, a later call retries.
          }
          if (cleared.empty()) return done({});
          const bool queued = bridge_.post([this, cleared, topics, done] {
            if (auto gone = throttle_record_.remove(cleared); !gone) {
              log()->warn("throttles removed but still recorded (removed again later): {}", gone.error().message());
            }
            done(topics);
          });
          if (!queued) done(topics);
        });
  });
  if (!posted) done({});
}

}  // namespace keel::server::rest
