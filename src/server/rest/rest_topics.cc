// Topics: list and get (Metadata), create (CreateTopics), delete
// (DeleteTopics), partitions increase (CreatePartitions).
#include "protocol/generated/create_partitions_request.h"
#include "protocol/generated/create_partitions_response.h"
#include "protocol/generated/create_topics_request.h"
#include "protocol/generated/create_topics_response.h"
#include "protocol/generated/delete_topics_request.h"
#include "protocol/generated/delete_topics_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {
namespace {

using protocol::MetadataResponse;
using Type = json::Value::Type;

constexpr int32_t kAdminTimeoutMs = 30000;

json::Value topic_json(const std::string& cluster_url, const std::string& cluster_id, const std::string& name,
                       bool is_internal, int64_t replication_factor, int64_t partitions_count) {
  const std::string self = cluster_url + "/topics/" + name;
  json::Value v = resource("KafkaTopic", self, "crn:///kafka=" + cluster_id + "/topic=" + name);
  v.set("cluster_id", json::Value::string(cluster_id));
  v.set("topic_name", json::Value::string(name));
  v.set("is_internal", json::Value::boolean(is_internal));
  v.set("replication_factor", json::Value::integer(replication_factor));
  v.set("partitions_count", json::Value::integer(partitions_count));
  v.set("partitions", related(self + "/partitions"));
  v.set("configs", related(self + "/configs"));
  v.set("partition_reassignments", related(self + "/partitions/-/reassignment"));
  return v;
}

json::Value topic_json(const std::string& cluster_url, const std::string& cluster_id,
                       const MetadataResponse::MetadataResponseTopic& t) {
  const int64_t rf = t.partitions.empty() ? 0 : static_cast<int64_t>(t.partitions.front().replica_nodes.size());
  return topic_json(cluster_url, cluster_id, t.name.value_or(""), t.is_internal, rf,
                    static_cast<int64_t>(t.partitions.size()));
}

}  // namespace

void RestApi::list_topics(const http::Request& req, const Caller& who, http::Reply reply) {
  metadata(who, std::nullopt, [this, &req, reply](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    auto topics = m->topics;
    std::sort(topics.begin(), topics.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    json::Value::Array data;
    for (const auto& t : topics) {
      if (t.error_code == 0) data.push_back(topic_json(cluster_url(req), cluster_id(), t));
    }
    reply(json_response(200, list("KafkaTopicList", cluster_url(req) + "/topics", std::move(data))));
  });
}

void RestApi::get_topic(const http::Request& req, const Caller& who, http::Reply reply) {
  metadata(who, std::vector<std::string>{req.param("topic_name")}, [this, &req, reply](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    if (m->topics.size() != 1) return reply(error(500, kKafkaError, "Metadata answered no topic"));
    if (m->topics[0].error_code != 0) return reply(kafka_error(m->topics[0].error_code, ""));
    reply(json_response(200, topic_json(cluster_url(req), cluster_id(), m->topics[0])));
  });
}

void RestApi::create_topic(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body,
                         {{"topic_name", Type::kString, true},
                          {"partitions_count", Type::kInt},
                          {"replication_factor", Type::kInt},
                          {"replicas_assignments", Type::kArray},
                          {"configs", Type::kArray},
                          {"validate_only", Type::kBool}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  protocol::CreateTopicsRequest ct;
  ct.timeout_ms = kAdminTimeoutMs;
  protocol::CreateTopicsRequest::CreatableTopic t;
  t.name = body->find("topic_name")->as_string();
  const json::Value* pc = body->find("partitions_count");
  const json::Value* rf = body->find("replication_factor");
  t.num_partitions = pc && pc->is_int() ? static_cast<int32_t>(std::clamp<int64_t>(pc->as_int(), -1, INT32_MAX)) : -1;
  t.replication_factor = rf && rf->is_int() ? static_cast<int16_t>(std::clamp<int64_t>(rf->as_int(), -1, INT16_MAX)) : -1;
  if (const json::Value* ra = body->find("replicas_assignments"); ra && ra->is_array()) {
    for (const auto& a : ra->as_array()) {
      if (!check_object(a, {{"partition_id", Type::kInt, true}, {"broker_ids", Type::kArray, true}},
                        "replicas_assignments", &refusal))
        return reply(std::move(refusal));
      protocol::CreateTopicsRequest::CreatableReplicaAssignment ca;
      ca.partition_index = static_cast<int32_t>(a.find("partition_id")->as_int());
      for (const auto& b : a.find("broker_ids")->as_array()) {
        if (!b.is_int()) return reply(error(400, "broker_ids must hold integers"));
        ca.broker_ids.push_back(static_cast<int32_t>(b.as_int()));
      }
      t.assignments.push_back(std::move(ca));
    }
  }
  if (const json::Value* cs = body->find("configs"); cs && cs->is_array()) {
    for (const auto& c : cs->as_array()) {
      if (!check_object(c, {{"name", Type::kString, true}, {"value", Type::kString}}, "configs", &refusal))
        return reply(std::move(refusal));
      protocol::CreateTopicsRequest::CreatableTopicConfig cc;
      cc.name = c.find("name")->as_string();
      const json::Value* value = c.find("value");
      cc.value = value && value->is_string() ? std::optional<std::string>(value->as_string()) : std::nullopt;
      t.configs.push_back(std::move(cc));
    }
  }
  if (const json::Value* vo = body->find("validate_only"); vo && vo->is_bool()) ct.validate_only = vo->as_bool();
  ct.topics.push_back(std::move(t));
  bridge_.call<protocol::CreateTopicsResponse>(
      who, ct, 7, [this, &req, reply](Result<protocol::CreateTopicsResponse> r) {
        if (!r) return reply(bridge_error(r.error()));
        if (r->topics.size() != 1) return reply(error(500, kKafkaError, "CreateTopics answered no topic"));
        const auto& res = r->topics[0];
        if (res.error_code != 0) return reply(kafka_error(res.error_code, res.error_message.value_or("")));
        reply(json_response(201, topic_json(cluster_url(req), cluster_id(), res.name, false,
                                            res.replication_factor, res.num_partitions)));
      });
}

void RestApi::delete_topic(const http::Request& req, const Caller& who, http::Reply reply) {
  protocol::DeleteTopicsRequest dt;
  dt.timeout_ms = kAdminTimeoutMs;
  protocol::DeleteTopicsRequest::DeleteTopicState state;
  state.name = req.param("topic_name");
  dt.topics.push_back(std::move(state));
  bridge_.call<protocol::DeleteTopicsResponse>(who, dt, 6, [reply](Result<protocol::DeleteTopicsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->responses.size() != 1) return reply(error(500, kKafkaError, "DeleteTopics answered no topic"));
    const auto& res = r->responses[0];
    if (res.error_code != 0) return reply(kafka_error(res.error_code, res.error_message.value_or("")));
    reply(no_content());
  });
}

void RestApi::update_partition_count(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body, {{"partitions_count", Type::kInt, true}}, &refusal);
  if (!body) return reply(std::move(refusal));
  const int64_t count = body->find("partitions_count")->as_int();
  if (count < 1 || count > INT32_MAX) return reply(error(400, "partitions_count must be a positive 32-bit integer"));
  protocol::CreatePartitionsRequest cp;
  cp.timeout_ms = kAdminTimeoutMs;
  protocol::CreatePartitionsRequest::CreatePartitionsTopic t;
  t.name = req.param("topic_name");
  t.count = static_cast<int32_t>(count);
  t.assignments = std::nullopt;
  cp.topics.push_back(std::move(t));
  bridge_.call<protocol::CreatePartitionsResponse>(
      who, cp, 3, [this, &req, who, reply](Result<protocol::CreatePartitionsResponse> r) {
        if (!r) return reply(bridge_error(r.error()));
        if (r->results.size() != 1) return reply(error(500, kKafkaError, "CreatePartitions answered no topic"));
        const auto& res = r->results[0];
        if (res.error_code != 0) return reply(kafka_error(res.error_code, res.error_message.value_or("")));
        get_topic(req, who, reply);
      });
}

}  // namespace keel::server::rest
