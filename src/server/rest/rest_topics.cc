// Topics: list and get (Metadata), create (CreateTopics), delete
// (DeleteTopics), partitions increase (CreatePartitions).
#include <boost/json.hpp>

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
using Kind = boost::json::kind;

constexpr int32_t kAdminTimeoutMs = 30000;

boost::json::value topic_json(const std::string& cluster_url, const std::string& cluster_id, const std::string& name,
                       bool is_internal, int64_t replication_factor, int64_t partitions_count) {
  const std::string self = cluster_url + "/topics/" + name;
  boost::json::object v = resource("KafkaTopic", self, "crn:///kafka=" + cluster_id + "/topic=" + name);
  v["cluster_id"] = cluster_id;
  v["topic_name"] = name;
  v["is_internal"] = is_internal;
  v["replication_factor"] = replication_factor;
  v["partitions_count"] = partitions_count;
  v["partitions"] = related(self + "/partitions");
  v["configs"] = related(self + "/configs");
  v["partition_reassignments"] = related(self + "/partitions/-/reassignment");
  return v;
}

boost::json::value topic_json(const std::string& cluster_url, const std::string& cluster_id,
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
    boost::json::array data;
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
                         {{"topic_name", Kind::string, true},
                          {"partitions_count", Kind::int64},
                          {"replication_factor", Kind::int64},
                          {"replicas_assignments", Kind::array},
                          {"configs", Kind::array},
                          {"validate_only", Kind::bool_}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  protocol::CreateTopicsRequest ct;
  ct.timeout_ms = kAdminTimeoutMs;
  protocol::CreateTopicsRequest::CreatableTopic t;
  t.name = json::string_member(*body, "topic_name");
  const boost::json::value* pc = json::find(*body, "partitions_count");
  const boost::json::value* rf = json::find(*body, "replication_factor");
  t.num_partitions = pc && pc->is_int64() ? static_cast<int32_t>(std::clamp<int64_t>(pc->as_int64(), -1, INT32_MAX)) : -1;
  t.replication_factor = rf && rf->is_int64() ? static_cast<int16_t>(std::clamp<int64_t>(rf->as_int64(), -1, INT16_MAX)) : -1;
  if (const boost::json::value* ra = json::find(*body, "replicas_assignments"); ra && ra->is_array()) {
    for (const auto& a : ra->as_array()) {
      if (!check_object(a, {{"partition_id", Kind::int64, true}, {"broker_ids", Kind::array, true}},
                        "replicas_assignments", &refusal))
        return reply(std::move(refusal));
      protocol::CreateTopicsRequest::CreatableReplicaAssignment ca;
      ca.partition_index = static_cast<int32_t>(json::find(a, "partition_id")->as_int64());
      for (const auto& b : json::find(a, "broker_ids")->as_array()) {
        if (!b.is_int64()) return reply(error(400, "broker_ids must hold integers"));
        ca.broker_ids.push_back(static_cast<int32_t>(b.as_int64()));
      }
      t.assignments.push_back(std::move(ca));
    }
  }
  if (const boost::json::value* cs = json::find(*body, "configs"); cs && cs->is_array()) {
    for (const auto& c : cs->as_array()) {
      if (!check_object(c, {{"name", Kind::string, true}, {"value", Kind::string}}, "configs", &refusal))
        return reply(std::move(refusal));
      protocol::CreateTopicsRequest::CreatableTopicConfig cc;
      cc.name = json::string_member(c, "name");
      const boost::json::value* value = json::find(c, "value");
      cc.value = value && value->is_string() ? std::optional<std::string>(std::string(value->get_string())) : std::nullopt;
      t.configs.push_back(std::move(cc));
    }
  }
  if (const boost::json::value* vo = json::find(*body, "validate_only"); vo && vo->is_bool()) ct.validate_only = vo->as_bool();
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
  auto body = parse_body(req.body, {{"partitions_count", Kind::int64, true}}, &refusal);
  if (!body) return reply(std::move(refusal));
  const int64_t count = json::find(*body, "partitions_count")->as_int64();
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
