// /keel/v1 routes for the cluster: preferred and unclean leader elections
// (ElectLeaders, under the caller's principal) and the schema of the broker's
// configuration (read-only, from config/config_def: every key's type,
// default, and whether it changes at run time). Also the table of the
// /keel/v1 routes.
#include <boost/json.hpp>

#include "config/config_def.h"
#include "protocol/generated/elect_leaders_request.h"
#include "protocol/generated/elect_leaders_response.h"
#include "server/dynamic_config.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"
#include "server/tls_listeners.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;

// Kafka's dynamic update modes (kafka-configs / the broker config docs):
// "read-only" needs a restart; "per-broker" may be set for one broker;
// "cluster-wide" for one broker or as the cluster default.
std::string update_mode(const config::KeyDef& k) {
  const std::string key(k.name);
  if (config::listener_overridable(key) && TlsListeners::is_dynamic_key("listener.name.x." + key)) return "per-broker";
  if (DynamicBrokerConfig::is_dynamic(key)) return "cluster-wide";
  return "read-only";
}

}  // namespace

void RestApi::register_keel_routes(http::Routes& routes) {
  const std::string group = kKeelCluster + "/consumer-groups/{consumer_group_id}";
  add(routes, "POST", group + "/offsets:reset", &RestApi::reset_group_offsets);
  add(routes, "DELETE", group, &RestApi::delete_group);
  add(routes, "GET", kKeelCluster + "/scram-users", &RestApi::list_scram_users);
  add(routes, "GET", kKeelCluster + "/scram-users/{user_name}", &RestApi::get_scram_user);
  add(routes, "PUT", kKeelCluster + "/scram-users/{user_name}", &RestApi::upsert_scram_user);
  add(routes, "DELETE", kKeelCluster + "/scram-users/{user_name}", &RestApi::delete_scram_user);
  add(routes, "GET", kKeelCluster + "/quotas", &RestApi::list_quotas);
  add(routes, "POST", kKeelCluster + "/quotas:alter", &RestApi::alter_quotas);
  add(routes, "POST", kKeelCluster + "/leader-elections", &RestApi::elect_leaders);
  add(routes, "GET", kKeelCluster + "/config-schema", &RestApi::get_config_schema);
}

// {"type": "preferred" | "unclean", "partitions": [{"topic_name", "partition_id"}]}; no
// partitions: every partition. Answers each partition's result (ELECTION_NOT_NEEDED
// when its preferred replica already leads).
void RestApi::elect_leaders(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body, {{"type", Kind::string, true}, {"partitions", Kind::array}}, &refusal);
  if (!body) return reply(std::move(refusal));
  protocol::ElectLeadersRequest e;
  const std::string type(json::string_member(*body, "type"));
  if (type == "preferred") {
    e.election_type = 0;
  } else if (type == "unclean") {
    e.election_type = 1;
  } else {
    return reply(error(400, "field 'type' must be preferred or unclean"));
  }
  if (const boost::json::value* ps = json::find(*body, "partitions"); ps && ps->is_array()) {
    if (ps->as_array().empty()) return reply(error(400, "field 'partitions' is empty (leave it out for all partitions)"));
    for (const auto& p : ps->as_array()) {
      if (!check_object(p, {{"topic_name", Kind::string, true}, {"partition_id", Kind::int64, true}}, "partitions[]",
                        &refusal)) {
        return reply(std::move(refusal));
      }
      const std::string topic(json::string_member(p, "topic_name"));
      const int64_t id = json::find(p, "partition_id")->as_int64();
      if (id < 0 || id > INT32_MAX) return reply(error(400, "partition_id must be 0 or more"));
      auto it = std::find_if(e.topic_partitions->begin(), e.topic_partitions->end(),
                             [&](const auto& t) { return t.topic == topic; });
      if (it == e.topic_partitions->end()) {
        e.topic_partitions->emplace_back();
        e.topic_partitions->back().topic = topic;
        it = e.topic_partitions->end() - 1;
      }
      it->partitions.push_back(static_cast<int32_t>(id));
    }
  } else {
    e.topic_partitions = std::nullopt;
  }
  bridge_.call<protocol::ElectLeadersResponse>(who, e, 2, [reply](Result<protocol::ElectLeadersResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, ""));
    boost::json::array data;
    for (const auto& t : r->replica_election_results) {
      for (const auto& p : t.partition_result) {
        boost::json::object v;
        v["topic_name"] = t.topic;
        v["partition_id"] = p.partition_id;
        v["error_code"] = p.error_code;
        v["error"] = p.error_code ? boost::json::value(std::string(protocol::error_name(p.error_code)))
                                    : boost::json::value();
        v["message"] = p.error_message ? boost::json::value(*p.error_message) : boost::json::value();
        data.push_back(std::move(v));
      }
    }
    boost::json::object v;
    v["kind"] = "KeelLeaderElectionResult";
    v["data"] = std::move(data);
    reply(json_response(200, v));
  });
}

void RestApi::get_config_schema(const http::Request&, const Caller&, http::Reply reply) {
  boost::json::array data;
  for (const config::KeyDef& k : config::all_keys()) {
    boost::json::object v;
    v["name"] = std::string(k.name);
    v["type"] = std::string(config::key_type_name(k.type));
    v["default"] = k.default_text ? boost::json::value(std::string(*k.default_text)) : boost::json::value();
    const std::string mode = update_mode(k);
    v["dynamic_update_mode"] = mode;
    v["requires_restart"] = mode == "read-only";
    v["sensitive"] = config::is_sensitive_key(k.name);
    v["topic_config_name"] = k.topic_name.empty() ? boost::json::value() : boost::json::value(std::string(k.topic_name));
    if (k.min) v["min"] = *k.min;
    if (k.max) v["max"] = *k.max;
    if (!k.valid_values.empty()) {
      boost::json::array values;
      for (auto s : k.valid_values) values.push_back(boost::json::value(std::string(s)));
      v["valid_values"] = std::move(values);
    }
    v["documentation"] = std::string(k.doc);
    data.push_back(std::move(v));
  }
  boost::json::object v;
  v["kind"] = "KeelConfigSchema";
  v["data"] = std::move(data);
  reply(json_response(200, v));
}

}  // namespace keel::server::rest
