// Confluent v3's reassignment reads: GET /topics/{t}/partitions/{p}/reassignment,
// where "-" for the topic or the partition means all of them (v3's
// /topics/-/partitions/-/reassignment and /topics/{t}/partitions/-/reassignment).
// ListPartitionReassignments under the caller's principal (DESCRIBE on the
// cluster), answered by the controller; another broker answers 421 naming it.
#include <boost/json.hpp>

#include "protocol/generated/list_partition_reassignments_request.h"
#include "protocol/generated/list_partition_reassignments_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {


boost::json::value reassignment_json(const std::string& cluster_url, const std::string& cluster_id, const std::string& topic,
                    const protocol::ListPartitionReassignmentsResponse::OngoingPartitionReassignment& p) {
  const std::string partition_url =
      cluster_url + "/topics/" + topic + "/partitions/" + std::to_string(p.partition_index);
  boost::json::object v = resource("KafkaReassignment", partition_url + "/reassignment",
                 "crn:///kafka=" + cluster_id + "/topic=" + topic + "/partition=" + std::to_string(p.partition_index));
  v["cluster_id"] = cluster_id;
  v["topic_name"] = topic;
  v["partition_id"] = p.partition_index;
  v["adding_replicas"] = ints_json(p.adding_replicas);
  v["removing_replicas"] = ints_json(p.removing_replicas);
  v["replicas"] = related(partition_url + "/replicas");
  return v;
}

}  // namespace

void RestApi::get_reassignments(const http::Request& req, const Caller& who, http::Reply reply) {
  const std::string topic = req.param("topic_name");
  const std::string partition = req.param("partition_id");
  std::optional<int32_t> one;
  if (partition != "-") {
    auto id = parse_int(partition, 0, INT32_MAX);
    if (!id) return reply(error(404, "Partition " + partition + " cannot be found."));
    one = static_cast<int32_t>(*id);
  }
  std::optional<std::vector<std::string>> topics;
  if (topic != "-") topics = std::vector<std::string>{topic};
  reassign_view(who, topics, true, reply, [this, &req, who, reply, topic, one](ReassignView view) {
    if (topic != "-" && one && std::none_of(view.partitions.begin(), view.partitions.end(),
                                            [&](const auto& p) { return p.partition == *one; })) {
      return reply(error(404, kUnknownTopicOrPartition, "This server does not host this topic-partition.",
                         static_cast<int16_t>(protocol::ErrorCode::kUnknownTopicOrPartition)));
    }
    protocol::ListPartitionReassignmentsRequest lr;
    if (topic == "-") {
      lr.topics = std::nullopt;
    } else {
      lr.topics.emplace().emplace_back().name = topic;
      for (const auto& p : view.partitions) {
        if (!one || p.partition == *one) lr.topics->back().partition_indexes.push_back(p.partition);
      }
    }
    bridge_.call<protocol::ListPartitionReassignmentsResponse>(
        who, lr, 0, [this, &req, reply, topic, one](Result<protocol::ListPartitionReassignmentsResponse> r) {
          if (!r) return reply(bridge_error(r.error()));
          if (r->error_code != 0) return reply(kafka_error(r->error_code, r->error_message.value_or("")));
          const std::string url = cluster_url(req);
          boost::json::array data;
          for (const auto& t : r->topics) {
            for (const auto& p : t.partitions) data.push_back(reassignment_json(url, cluster_id(), t.name, p));
          }
          if (one) {
            if (data.empty()) return reply(error(404, "No ongoing reassignment of " + topic + "-" + std::to_string(*one)));
            return reply(json_response(200, data.front()));
          }
          const std::string self = url + "/topics/" + topic + "/partitions/-/reassignment";
          reply(json_response(200, list("KafkaReassignmentList", self, std::move(data))));
        });
  });
}

}  // namespace keel::server::rest
