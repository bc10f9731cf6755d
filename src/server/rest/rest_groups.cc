// Consumer groups: list (ListGroups), get and its consumers (DescribeGroups).
// The group must be coordinated by this broker (in a cluster, ask the
// coordinator's HTTP listener; another broker answers NOT_COORDINATOR, 503).
#include <boost/json.hpp>

#include "protocol/generated/describe_groups_request.h"
#include "protocol/generated/describe_groups_response.h"
#include "protocol/generated/list_groups_request.h"
#include "protocol/generated/list_groups_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {
namespace {

// Kafka's group states as Confluent writes them (ConsumerGroupState enum names).
std::string state_name(const std::string& s) {
  if (s == "Stable") return "STABLE";
  if (s == "PreparingRebalance") return "PREPARING_REBALANCE";
  if (s == "CompletingRebalance") return "COMPLETING_REBALANCE";
  if (s == "Empty") return "EMPTY";
  if (s == "Dead") return "DEAD";
  return "UNKNOWN";
}

boost::json::value group_json(const std::string& cluster_url, const std::string& cluster_id, int32_t coordinator,
                       const std::string& id, bool is_simple, const std::string& assignor, const std::string& state) {
  const std::string self = cluster_url + "/consumer-groups/" + id;
  boost::json::object v = resource("KafkaConsumerGroup", self, "crn:///kafka=" + cluster_id + "/consumer-group=" + id);
  v["cluster_id"] = cluster_id;
  v["consumer_group_id"] = id;
  v["is_simple"] = is_simple;
  v["partition_assignor"] = assignor;
  v["state"] = state_name(state);
  v["coordinator"] = related(cluster_url + "/brokers/" + std::to_string(coordinator));
  v["consumers"] = related(self + "/consumers");
  v["lag_summary"] = related(self + "/lag-summary");
  return v;
}

}  // namespace

void RestApi::list_groups(const http::Request& req, const Caller& who, http::Reply reply) {
  protocol::ListGroupsRequest lg;
  bridge_.call<protocol::ListGroupsResponse>(who, lg, 4, [this, &req, reply](Result<protocol::ListGroupsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->error_code != 0) return reply(kafka_error(r->error_code, ""));
    auto groups = r->groups;
    std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.group_id < b.group_id; });
    boost::json::array data;
    for (const auto& g : groups) {
      if (g.protocol_type != "consumer" && !g.protocol_type.empty()) continue;
      data.push_back(group_json(cluster_url(req), cluster_id(), options_.broker_id, g.group_id,
                                g.protocol_type.empty(), "", g.group_state));
    }
    reply(json_response(200, list("KafkaConsumerGroupList", cluster_url(req) + "/consumer-groups", std::move(data))));
  });
}

void RestApi::describe_group(const http::Request& req, const Caller& who, http::Reply reply, GroupAnswer answer) {
  protocol::DescribeGroupsRequest dg;
  dg.groups.push_back(req.param("consumer_group_id"));
  bridge_.call<protocol::DescribeGroupsResponse>(
      who, dg, 5, [reply, answer = std::move(answer)](Result<protocol::DescribeGroupsResponse> r) {
        if (!r) return reply(bridge_error(r.error()));
        if (r->groups.size() != 1) return reply(error(500, kKafkaError, "DescribeGroups answered no group"));
        const auto& g = r->groups[0];
        if (g.error_code != 0) return reply(kafka_error(g.error_code, ""));
        if (g.group_state == "Dead") return reply(error(404, "Consumer group " + g.group_id + " cannot be found."));
        reply(answer(g));
      });
}

void RestApi::get_group(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_group(req, who, std::move(reply), [this, &req](const protocol::DescribeGroupsResponse::DescribedGroup& g) {
    return json_response(200, group_json(cluster_url(req), cluster_id(), options_.broker_id, g.group_id,
                                         g.protocol_type.empty(), g.protocol_data, g.group_state));
  });
}

void RestApi::list_consumers(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_group(req, who, std::move(reply), [this, &req](const protocol::DescribeGroupsResponse::DescribedGroup& g) {
    const std::string group_url = cluster_url(req) + "/consumer-groups/" + g.group_id;
    boost::json::array data;
    for (const auto& m : g.members) {
      boost::json::object v = resource("KafkaConsumer", group_url + "/consumers/" + m.member_id,
                               "crn:///kafka=" + cluster_id() + "/consumer-group=" + g.group_id +
                                   "/consumer=" + m.member_id);
      v["cluster_id"] = cluster_id();
      v["consumer_group_id"] = g.group_id;
      v["consumer_id"] = m.member_id;
      v["instance_id"] = m.group_instance_id ? boost::json::value(*m.group_instance_id) : boost::json::value();
      v["client_id"] = m.client_id;
      v["assignments"] = related(group_url + "/consumers/" + m.member_id + "/assignments");
      data.push_back(std::move(v));
    }
    return json_response(200, list("KafkaConsumerList", group_url + "/consumers", std::move(data)));
  });
}

}  // namespace keel::server::rest
