// One consumer of a group and its partition assignments, from DescribeGroups
// (the group's coordinator answers; elsewhere 421 naming it, as for the
// other group routes): GET .../consumer-groups/{g}/consumers/{consumer_id},
// .../assignments and .../assignments/{topic_name}/partitions/{partition_id}.
// The assignment is the consumer protocol's (ConsumerProtocolAssignment, any
// version), which the group's leader computed and the coordinator keeps as
// opaque bytes; a group of another protocol type has no partitions to show.
#include <algorithm>
#include <boost/json.hpp>

#include "protocol/generated/consumer_protocol_assignment.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"
#include "server/rest/rest_v3_assignments.h"

namespace keel::server::rest {
namespace {

using Member = protocol::DescribeGroupsResponse::DescribedGroupMember;
using Group = protocol::DescribeGroupsResponse::DescribedGroup;

const Member* find_member(const Group& g, const std::string& id) {
  auto it = std::find_if(g.members.begin(), g.members.end(), [&](const Member& m) { return m.member_id == id; });
  return it == g.members.end() ? nullptr : &*it;
}

http::Response no_consumer(const std::string& id) { return error(404, "Consumer " + id + " cannot be found."); }

// The member's (topic, partition) pairs sorted, as Confluent lists them; nullopt
// when the bytes are not a consumer protocol assignment.
std::optional<std::vector<std::pair<std::string, int32_t>>> assigned(const Group& g, const Member& m) {
  std::vector<std::pair<std::string, int32_t>> out;
  // No assignment yet (joining, rebalancing) or not a consumer group: nothing assigned.
  if (g.protocol_type != "consumer" || m.member_assignment.empty()) return out;
  ByteReader r{ByteView(m.member_assignment)};
  const int16_t version = r.read_i16();
  protocol::ConsumerProtocolAssignment a;
  if (!r.ok() || version < 0 ||
      !a.decode(r, std::min<int16_t>(version, protocol::ConsumerProtocolAssignment::kHighestVersion))) {
    return std::nullopt;
  }
  for (const auto& tp : a.assigned_partitions) {
    for (int32_t p : tp.partitions) out.emplace_back(tp.topic, p);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

boost::json::object consumer_json(const std::string& group_url, const std::string& cluster_id,
                                  const std::string& group, const Member& m) {
  const std::string self = group_url + "/consumers/" + m.member_id;
  boost::json::object v = resource("KafkaConsumer", self,
                                   "crn:///kafka=" + cluster_id + "/consumer-group=" + group + "/consumer=" + m.member_id);
  v["cluster_id"] = cluster_id;
  v["consumer_group_id"] = group;
  v["consumer_id"] = m.member_id;
  v["instance_id"] = m.group_instance_id ? boost::json::value(*m.group_instance_id) : boost::json::value(nullptr);
  v["client_id"] = m.client_id;
  v["assignments"] = related(self + "/assignments");
  return v;
}

boost::json::object assignment_json(const std::string& cluster_url, const std::string& cluster_id,
                                    const std::string& group, const std::string& consumer, const std::string& topic,
                                    int32_t partition) {
  const std::string tp = topic + "/partitions/" + std::to_string(partition);
  const std::string group_url = cluster_url + "/consumer-groups/" + group;
  boost::json::object v = resource("KafkaConsumerAssignment", group_url + "/consumers/" + consumer + "/assignments/" + tp,
                                   "crn:///kafka=" + cluster_id + "/consumer-group=" + group + "/consumer=" + consumer +
                                       "/assignment=" + topic + "/partition=" + std::to_string(partition));
  v["cluster_id"] = cluster_id;
  v["consumer_group_id"] = group;
  v["consumer_id"] = consumer;
  v["topic_name"] = topic;
  v["partition_id"] = partition;
  v["partition"] = related(cluster_url + "/topics/" + tp);
  v["lag"] = related(group_url + "/lags/" + tp);
  return v;
}

void RestApi::get_consumer(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_group(req, who, std::move(reply), [this, &req](const Group& g) {
    const Member* m = find_member(g, req.param("consumer_id"));
    if (!m) return no_consumer(req.param("consumer_id"));
    return json_response(200, consumer_json(cluster_url(req) + "/consumer-groups/" + g.group_id, cluster_id(),
                                            g.group_id, *m));
  });
}

void RestApi::with_assignment(const http::Request& req, const Caller& who, http::Reply reply,
                              AssignmentAnswer answer) {
  describe_group(req, who, std::move(reply), [&req, answer = std::move(answer)](const Group& g) {
    const Member* m = find_member(g, req.param("consumer_id"));
    if (!m) return no_consumer(req.param("consumer_id"));
    auto parts = assigned(g, *m);
    if (!parts) {
      return error(500, kKafkaError,
                   "the assignment of consumer " + m->member_id + " is not a consumer protocol assignment");
    }
    return answer(g.group_id, m->member_id, *parts);
  });
}

void RestApi::list_assignments(const http::Request& req, const Caller& who, http::Reply reply) {
  with_assignment(req, who, std::move(reply), [this, &req](const std::string& group, const std::string& consumer,
                                                           const Assignment& parts) {
    const std::string url = cluster_url(req);
    boost::json::array data;
    data.reserve(parts.size());
    for (const auto& [topic, p] : parts) data.push_back(assignment_json(url, cluster_id(), group, consumer, topic, p));
    return json_response(200, list("KafkaConsumerAssignmentList",
                                   url + "/consumer-groups/" + group + "/consumers/" + consumer + "/assignments",
                                   std::move(data)));
  });
}

void RestApi::get_assignment(const http::Request& req, const Caller& who, http::Reply reply) {
  with_assignment(req, who, std::move(reply), [this, &req](const std::string& group, const std::string& consumer,
                                                           const Assignment& parts) {
    const std::string& topic = req.param("topic_name");
    const auto partition = parse_int(req.param("partition_id"), 0, INT32_MAX);
    if (!partition ||
        !std::binary_search(parts.begin(), parts.end(), std::make_pair(topic, static_cast<int32_t>(*partition)))) {
      return error(404, "Consumer " + consumer + " is not assigned " + topic + " partition " +
                            req.param("partition_id") + ".");
    }
    return json_response(200, assignment_json(cluster_url(req), cluster_id(), group, consumer, topic,
                                              static_cast<int32_t>(*partition)));
  });
}

}  // namespace keel::server::rest
