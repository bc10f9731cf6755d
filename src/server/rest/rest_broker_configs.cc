// Confluent v3's cluster-wide broker configs (/broker-configs: Kafka's
// BROKER resource named "", the default every broker takes unless it has its
// own value) and the writes of one broker's configs (/brokers/{id}/configs).
// DescribeConfigs and IncrementalAlterConfigs under the caller's principal,
// through the same helpers as the topic configs (rest_configs.cc); the
// cluster answers take v3's KafkaClusterConfig shape.
#include <boost/json.hpp>

#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;

constexpr int8_t kBroker = 4;

// A KafkaBrokerConfig (as describe_configs makes it for broker "") -> KafkaClusterConfig.
void to_cluster_config(boost::json::value& c, const std::string& cluster_url, const std::string& cluster_id) {
  const std::string name = json::get_string(c, "name").value_or("");
  boost::json::object out = resource("KafkaClusterConfig", cluster_url + "/broker-configs/" + name,
                   "crn:///kafka=" + cluster_id + "/broker-config=" + name);
  out["cluster_id"] = cluster_id;
  out["config_type"] = "BROKER";
  for (const char* key : {"name", "value", "is_default", "is_read_only", "is_sensitive", "source", "synonyms"}) {
    if (const boost::json::value* v = json::find(c, key)) out[key] = *v;
  }
  c = std::move(out);
}

// Rewrites a 200 answer of describe_configs for the cluster-wide entity.
http::Reply as_cluster_configs(http::Reply reply, std::string cluster_url, std::string cluster_id) {
  return [reply, cluster_url, cluster_id](http::Response r) {
    if (r.status != 200) return reply(std::move(r));
    auto v = json::parse(r.body);
    if (!v || !v->is_object()) return reply(std::move(r));
    if (const boost::json::value* data = json::find(*v, "data"); data && data->is_array()) {
      boost::json::array items = data->as_array();
      for (auto& c : items) to_cluster_config(c, cluster_url, cluster_id);
      return reply(json_response(200, list("KafkaClusterConfigList", cluster_url + "/broker-configs", std::move(items))));
    }
    to_cluster_config(*v, cluster_url, cluster_id);
    reply(json_response(200, *v));
  };
}

// {"value"} of a PUT.
std::optional<std::string> put_value(const http::Request& req, http::Response* refusal) {
  auto body = parse_body(req.body, {{"value", Kind::string, true}}, refusal);
  if (!body) return std::nullopt;
  return json::get_string(*body, "value");
}

std::optional<std::string> broker_of(const http::Request& req, http::Response* refusal) {
  if (parse_int(req.param("broker_id"), 0, INT32_MAX)) return req.param("broker_id");
  *refusal = error(404, "Broker " + req.param("broker_id") + " cannot be found.");
  return std::nullopt;
}

}  // namespace

void RestApi::list_cluster_configs(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_configs(req, who, as_cluster_configs(std::move(reply), cluster_url(req), cluster_id()), kBroker, "",
                   std::nullopt);
}

void RestApi::get_cluster_config(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_configs(req, who, as_cluster_configs(std::move(reply), cluster_url(req), cluster_id()), kBroker, "",
                   req.param("name"));
}

void RestApi::update_cluster_config(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto value = put_value(req, &refusal);
  if (!value) return reply(std::move(refusal));
  alter_configs(who, std::move(reply), kBroker, "", {{req.param("name"), *value}}, false);
}

void RestApi::reset_cluster_config(const http::Request& req, const Caller& who, http::Reply reply) {
  alter_configs(who, std::move(reply), kBroker, "", {{req.param("name"), std::nullopt}}, false);
}

void RestApi::alter_cluster_configs(const http::Request& req, const Caller& who, http::Reply reply) {
  alter_configs_from_body(req, who, std::move(reply), kBroker, "");
}

void RestApi::update_broker_config(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto broker = broker_of(req, &refusal);
  if (!broker) return reply(std::move(refusal));
  auto value = put_value(req, &refusal);
  if (!value) return reply(std::move(refusal));
  alter_configs(who, std::move(reply), kBroker, *broker, {{req.param("name"), *value}}, false);
}

void RestApi::reset_broker_config(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto broker = broker_of(req, &refusal);
  if (!broker) return reply(std::move(refusal));
  alter_configs(who, std::move(reply), kBroker, *broker, {{req.param("name"), std::nullopt}}, false);
}

void RestApi::alter_broker_configs(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto broker = broker_of(req, &refusal);
  if (!broker) return reply(std::move(refusal));
  alter_configs_from_body(req, who, std::move(reply), kBroker, *broker);
}

}  // namespace keel::server::rest
