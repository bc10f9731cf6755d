// GET /v3/clusters/{c}/brokers/{broker_id}/partition-replicas: every replica
// the broker holds, from one Metadata request for all the topics the caller
// may DESCRIBE (what a Kafka admin client would list), sorted by topic then
// partition as Confluent's REST proxy sorts them. Any broker answers for the
// whole cluster (Metadata is cluster-wide).
#include <algorithm>
#include <boost/json.hpp>

#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"
#include "server/rest/rest_v3_replicas.h"

namespace keel::server::rest {

using protocol::MetadataResponse;

boost::json::object partition_replica_json(const std::string& cluster_url, const std::string& cluster_id,
                                           const std::string& topic,
                                           const MetadataResponse::MetadataResponsePartition& p, int32_t broker) {
  const std::string partition = std::to_string(p.partition_index);
  const std::string id = std::to_string(broker);
  boost::json::object v =
      resource("KafkaReplica", cluster_url + "/topics/" + topic + "/partitions/" + partition + "/replicas/" + id,
               "crn:///kafka=" + cluster_id + "/topic=" + topic + "/partition=" + partition + "/replica=" + id);
  v["cluster_id"] = cluster_id;
  v["topic_name"] = topic;
  v["partition_id"] = p.partition_index;
  v["broker_id"] = broker;
  v["is_leader"] = p.leader_id == broker;
  v["is_in_sync"] = std::find(p.isr_nodes.begin(), p.isr_nodes.end(), broker) != p.isr_nodes.end();
  v["broker"] = related(cluster_url + "/brokers/" + id);
  return v;
}

void RestApi::list_broker_replicas(const http::Request& req, const Caller& who, http::Reply reply) {
  metadata(who, std::nullopt, [this, &req, reply](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    const auto id = parse_int(req.param("broker_id"), 0, INT32_MAX);
    const bool known = id && std::any_of(m->brokers.begin(), m->brokers.end(),
                                         [&](const auto& b) { return b.node_id == *id; });
    if (!known) return reply(error(404, "Broker " + req.param("broker_id") + " cannot be found."));
    const auto broker = static_cast<int32_t>(*id);
    std::vector<std::pair<std::string, const MetadataResponse::MetadataResponsePartition*>> held;
    for (const auto& t : m->topics) {
      if (t.error_code != 0 || !t.name) continue;
      for (const auto& p : t.partitions) {
        if (std::find(p.replica_nodes.begin(), p.replica_nodes.end(), broker) != p.replica_nodes.end()) {
          held.emplace_back(*t.name, &p);
        }
      }
    }
    std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second->partition_index < b.second->partition_index;
    });
    const std::string url = cluster_url(req);
    boost::json::array data;
    data.reserve(held.size());
    for (const auto& [topic, p] : held) data.push_back(partition_replica_json(url, cluster_id(), topic, *p, broker));
    reply(json_response(200, list("KafkaReplicaList", url + "/brokers/" + std::to_string(broker) + "/partition-replicas",
                                  std::move(data))));
  });
}

}  // namespace keel::server::rest
