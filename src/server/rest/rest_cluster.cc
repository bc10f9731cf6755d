// Clusters, brokers, partitions and replicas: all read from a Metadata
// request (v12), so the caller sees what a Kafka admin client would (topics
// it may not DESCRIBE are left out or refused).
#include <boost/json.hpp>

#include "protocol/generated/metadata_request.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"
#include "server/rest/rest_v3_replicas.h"

namespace keel::server::rest {
namespace {

using protocol::MetadataResponse;

boost::json::value cluster_json(const std::string& base, const std::string& cluster_id, int32_t controller) {
  const std::string self = base + "/v3/clusters/" + cluster_id;
  boost::json::object v = resource("KafkaCluster", self, "crn:///kafka=" + cluster_id);
  v["cluster_id"] = cluster_id;
  if (controller >= 0) v["controller"] = related(self + "/brokers/" + std::to_string(controller));
  v["acls"] = related(self + "/acls");
  v["brokers"] = related(self + "/brokers");
  v["broker_configs"] = related(self + "/broker-configs");
  v["consumer_groups"] = related(self + "/consumer-groups");
  v["topics"] = related(self + "/topics");
  v["partition_reassignments"] = related(self + "/topics/-/partitions/-/reassignment");
  return v;
}

boost::json::value broker_json(const std::string& cluster_url, const std::string& cluster_id,
                        const protocol::MetadataResponse::MetadataResponseBroker& b) {
  const std::string self = cluster_url + "/brokers/" + std::to_string(b.node_id);
  boost::json::object v = resource("KafkaBroker", self, "crn:///kafka=" + cluster_id + "/broker=" + std::to_string(b.node_id));
  v["cluster_id"] = cluster_id;
  v["broker_id"] = b.node_id;
  v["host"] = b.host;
  v["port"] = b.port;
  v["rack"] = b.rack ? boost::json::value(*b.rack) : boost::json::value();
  v["configs"] = related(self + "/configs");
  v["partition_replicas"] = related(self + "/partition-replicas");
  return v;
}

boost::json::value partition_json(const std::string& cluster_url, const std::string& cluster_id, const std::string& topic,
                           const protocol::MetadataResponse::MetadataResponsePartition& p) {
  const std::string self = cluster_url + "/topics/" + topic + "/partitions/" + std::to_string(p.partition_index);
  boost::json::object v = resource("KafkaPartition", self,
                           "crn:///kafka=" + cluster_id + "/topic=" + topic + "/partition=" +
                               std::to_string(p.partition_index));
  v["cluster_id"] = cluster_id;
  v["topic_name"] = topic;
  v["partition_id"] = p.partition_index;
  if (p.leader_id >= 0) v["leader"] = related(self + "/replicas/" + std::to_string(p.leader_id));
  v["replicas"] = related(self + "/replicas");
  v["reassignment"] = related(self + "/reassignment");
  return v;
}

// The one topic of a Metadata answer for one topic, or the refusal.
const MetadataResponse::MetadataResponseTopic* only_topic(const MetadataResponse& m, http::Response* refusal) {
  if (m.topics.size() != 1) {
    *refusal = error(500, kKafkaError, "Metadata answered " + std::to_string(m.topics.size()) + " topics for one");
    return nullptr;
  }
  if (m.topics[0].error_code != 0) {
    *refusal = kafka_error(m.topics[0].error_code, "");
    return nullptr;
  }
  return &m.topics[0];
}

const MetadataResponse::MetadataResponsePartition* find_partition(const MetadataResponse::MetadataResponseTopic& t,
                                                                  const std::string& id, http::Response* refusal) {
  auto n = parse_int(id, 0, INT32_MAX);
  if (n) {
    for (const auto& p : t.partitions) {
      if (p.partition_index == *n) return &p;
    }
  }
  *refusal = error(404, kUnknownTopicOrPartition, "This server does not host this topic-partition.",
                   static_cast<int16_t>(3));
  return nullptr;
}

}  // namespace

void RestApi::metadata(const Caller& who, std::optional<std::vector<std::string>> topics,
                       std::function<void(Result<MetadataResponse>)> done) {
  protocol::MetadataRequest req;
  req.allow_auto_topic_creation = false;
  if (topics) {
    req.topics = std::vector<protocol::MetadataRequest::MetadataRequestTopic>{};
    for (auto& t : *topics) {
      protocol::MetadataRequest::MetadataRequestTopic rt;
      rt.name = std::move(t);
      req.topics->push_back(std::move(rt));
    }
  } else {
    req.topics = std::nullopt;
  }
  bridge_.call<MetadataResponse>(who, req, 12, std::move(done));
}

void RestApi::list_clusters(const http::Request& req, const Caller& who, http::Reply reply) {
  metadata(who, std::vector<std::string>{}, [this, &req, reply](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    boost::json::array data;
    data.push_back(cluster_json(base_url(req), cluster_id(), m->controller_id));
    reply(json_response(200, list("KafkaClusterList", base_url(req) + "/v3/clusters", std::move(data))));
  });
}

void RestApi::get_cluster(const http::Request& req, const Caller& who, http::Reply reply) {
  metadata(who, std::vector<std::string>{}, [this, &req, reply](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    reply(json_response(200, cluster_json(base_url(req), cluster_id(), m->controller_id)));
  });
}

void RestApi::list_brokers(const http::Request& req, const Caller& who, http::Reply reply) {
  metadata(who, std::vector<std::string>{}, [this, &req, reply](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    auto brokers = m->brokers;
    std::sort(brokers.begin(), brokers.end(), [](const auto& a, const auto& b) { return a.node_id < b.node_id; });
    boost::json::array data;
    for (const auto& b : brokers) data.push_back(broker_json(cluster_url(req), cluster_id(), b));
    reply(json_response(200, list("KafkaBrokerList", cluster_url(req) + "/brokers", std::move(data))));
  });
}

void RestApi::get_broker(const http::Request& req, const Caller& who, http::Reply reply) {
  metadata(who, std::vector<std::string>{}, [this, &req, reply](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    const auto id = parse_int(req.param("broker_id"), 0, INT32_MAX);
    for (const auto& b : m->brokers) {
      if (id && b.node_id == *id) return reply(json_response(200, broker_json(cluster_url(req), cluster_id(), b)));
    }
    reply(error(404, "Broker " + req.param("broker_id") + " cannot be found."));
  });
}

void RestApi::list_partitions(const http::Request& req, const Caller& who, http::Reply reply) {
  const std::string topic = req.param("topic_name");
  metadata(who, std::vector<std::string>{topic}, [this, &req, reply, topic](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    http::Response refusal;
    const auto* t = only_topic(*m, &refusal);
    if (!t) return reply(std::move(refusal));
    boost::json::array data;
    for (const auto& p : t->partitions) data.push_back(partition_json(cluster_url(req), cluster_id(), topic, p));
    reply(json_response(200, list("KafkaPartitionList", cluster_url(req) + "/topics/" + topic + "/partitions",
                                  std::move(data))));
  });
}

void RestApi::with_partition(const http::Request& req, const Caller& who, http::Reply reply, PartitionAnswer answer) {
  metadata(who, std::vector<std::string>{req.param("topic_name")},
           [&req, reply, answer = std::move(answer)](Result<MetadataResponse> m) {
             if (!m) return reply(bridge_error(m.error()));
             http::Response refusal;
             const auto* t = only_topic(*m, &refusal);
             const auto* p = t ? find_partition(*t, req.param("partition_id"), &refusal) : nullptr;
             reply(p ? answer(*p) : std::move(refusal));
           });
}

void RestApi::get_partition(const http::Request& req, const Caller& who, http::Reply reply) {
  with_partition(req, who, std::move(reply), [this, &req](const MetadataResponse::MetadataResponsePartition& p) {
    return json_response(200, partition_json(cluster_url(req), cluster_id(), req.param("topic_name"), p));
  });
}

void RestApi::list_replicas(const http::Request& req, const Caller& who, http::Reply reply) {
  with_partition(req, who, std::move(reply), [this, &req](const MetadataResponse::MetadataResponsePartition& p) {
    const std::string& topic = req.param("topic_name");
    boost::json::array data;
    for (int32_t b : p.replica_nodes) data.push_back(partition_replica_json(cluster_url(req), cluster_id(), topic, p, b));
    return json_response(200, list("KafkaReplicaList",
                                   cluster_url(req) + "/topics/" + topic + "/partitions/" +
                                       std::to_string(p.partition_index) + "/replicas",
                                   std::move(data)));
  });
}

void RestApi::get_replica(const http::Request& req, const Caller& who, http::Reply reply) {
  with_partition(req, who, std::move(reply), [this, &req](const MetadataResponse::MetadataResponsePartition& p) {
    const auto id = parse_int(req.param("broker_id"), 0, INT32_MAX);
    for (int32_t b : p.replica_nodes) {
      if (id && b == *id) return json_response(200, partition_replica_json(cluster_url(req), cluster_id(), req.param("topic_name"), p, b));
    }
    return error(404, "Replica " + req.param("broker_id") + " cannot be found.");
  });
}

}  // namespace keel::server::rest
