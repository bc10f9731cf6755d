// Topic and broker configs: read with DescribeConfigs (v4, with synonyms),
// changed with IncrementalAlterConfigs (v1: SET and DELETE), so the broker's
// validation and its ALTER_CONFIGS / DESCRIBE_CONFIGS checks apply.
#include <boost/json.hpp>

#include "protocol/generated/describe_configs_request.h"
#include "protocol/generated/describe_configs_response.h"
#include "protocol/generated/incremental_alter_configs_request.h"
#include "protocol/generated/incremental_alter_configs_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {
namespace {

using protocol::DescribeConfigsResponse;
using Kind = boost::json::kind;

constexpr int8_t kTopic = 2;
constexpr int8_t kBroker = 4;
constexpr int8_t kSet = 0;
constexpr int8_t kDelete = 1;

// Kafka's ConfigSource names (DescribeConfigsResponse config_source).
std::string_view source_name(int8_t s) {
  switch (s) {
    case 1: return "DYNAMIC_TOPIC_CONFIG";
    case 2: return "DYNAMIC_BROKER_CONFIG";
    case 3: return "DYNAMIC_DEFAULT_BROKER_CONFIG";
    case 4: return "STATIC_BROKER_CONFIG";
    case 5: return "DEFAULT_CONFIG";
    case 6: return "DYNAMIC_BROKER_LOGGER_CONFIG";
    default: return "UNKNOWN";
  }
}

boost::json::value config_json(const std::string& cluster_url, const std::string& cluster_id, int8_t type,
                        const std::string& owner, const DescribeConfigsResponse::DescribeConfigsResourceResult& c) {
  const bool topic = type == kTopic;
  const std::string self =
      cluster_url + (topic ? "/topics/" : "/brokers/") + owner + "/configs/" + c.name;
  boost::json::object v = resource(topic ? "KafkaTopicConfig" : "KafkaBrokerConfig", self,
                           "crn:///kafka=" + cluster_id + (topic ? "/topic=" : "/broker=") + owner + "/config=" + c.name);
  v["cluster_id"] = cluster_id;
  if (topic) {
    v["topic_name"] = owner;
  } else {
    v["broker_id"] = parse_int(owner, 0, INT32_MAX).value_or(-1);
  }
  v["name"] = c.name;
  v["value"] = c.value ? boost::json::value(*c.value) : boost::json::value();
  v["is_default"] = c.is_default;
  v["is_read_only"] = c.read_only;
  v["is_sensitive"] = c.is_sensitive;
  v["source"] = std::string(source_name(c.config_source));
  boost::json::array synonyms;
  for (const auto& s : c.synonyms) {
    boost::json::object sv;
    sv["name"] = s.name;
    sv["value"] = s.value ? boost::json::value(*s.value) : boost::json::value();
    sv["source"] = std::string(source_name(s.source));
    synonyms.push_back(std::move(sv));
  }
  v["synonyms"] = std::move(synonyms);
  return v;
}

}  // namespace

void RestApi::describe_configs(const http::Request& req, const Caller& who, http::Reply reply, int8_t type,
                               std::string name, std::optional<std::string> key) {
  protocol::DescribeConfigsRequest dc;
  dc.include_synonyms = true;
  protocol::DescribeConfigsRequest::DescribeConfigsResource r;
  r.resource_type = type;
  r.resource_name = name;
  if (key) r.configuration_keys = std::vector<std::string>{*key};
  else r.configuration_keys = std::nullopt;
  dc.resources.push_back(std::move(r));
  bridge_.call<DescribeConfigsResponse>(
      who, dc, 4, [this, &req, reply, type, name, key](Result<DescribeConfigsResponse> res) {
        if (!res) return reply(bridge_error(res.error()));
        if (res->results.size() != 1) return reply(error(500, kKafkaError, "DescribeConfigs answered no resource"));
        const auto& result = res->results[0];
        if (result.error_code != 0) return reply(kafka_error(result.error_code, result.error_message.value_or("")));
        const std::string owner_url = cluster_url(req) + (type == kTopic ? "/topics/" : "/brokers/") + name;
        if (key) {
          for (const auto& c : result.configs) {
            if (c.name == *key) return reply(json_response(200, config_json(cluster_url(req), cluster_id(), type, name, c)));
          }
          return reply(error(404, "Config " + *key + " cannot be found for " + (type == kTopic ? "topic " : "broker ") +
                                      name + "."));
        }
        boost::json::array data;
        for (const auto& c : result.configs) data.push_back(config_json(cluster_url(req), cluster_id(), type, name, c));
        reply(json_response(200, list(type == kTopic ? "KafkaTopicConfigList" : "KafkaBrokerConfigList",
                                      owner_url + "/configs", std::move(data))));
      });
}

void RestApi::alter_configs(const Caller& who, http::Reply reply, int8_t type, std::string name,
                            std::vector<std::pair<std::string, std::optional<std::string>>> changes,
                            bool validate_only) {
  protocol::IncrementalAlterConfigsRequest ia;
  ia.validate_only = validate_only;
  protocol::IncrementalAlterConfigsRequest::AlterConfigsResource r;
  r.resource_type = type;
  r.resource_name = std::move(name);
  for (auto& [key, value] : changes) {
    protocol::IncrementalAlterConfigsRequest::AlterableConfig c;
    c.name = key;
    c.config_operation = value ? kSet : kDelete;
    c.value = value;
    r.configs.push_back(std::move(c));
  }
  ia.resources.push_back(std::move(r));
  bridge_.call<protocol::IncrementalAlterConfigsResponse>(
      who, ia, 1, [reply](Result<protocol::IncrementalAlterConfigsResponse> res) {
        if (!res) return reply(bridge_error(res.error()));
        if (res->responses.size() != 1) return reply(error(500, kKafkaError, "IncrementalAlterConfigs answered no resource"));
        const auto& out = res->responses[0];
        if (out.error_code != 0) return reply(kafka_error(out.error_code, out.error_message.value_or("")));
        reply(no_content());
      });
}

void RestApi::list_topic_configs(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_configs(req, who, std::move(reply), kTopic, req.param("topic_name"), std::nullopt);
}

void RestApi::get_topic_config(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_configs(req, who, std::move(reply), kTopic, req.param("topic_name"), req.param("name"));
}

void RestApi::list_broker_configs(const http::Request& req, const Caller& who, http::Reply reply) {
  if (!parse_int(req.param("broker_id"), 0, INT32_MAX)) return reply(error(404, "Broker " + req.param("broker_id") + " cannot be found."));
  describe_configs(req, who, std::move(reply), kBroker, req.param("broker_id"), std::nullopt);
}

void RestApi::get_broker_config(const http::Request& req, const Caller& who, http::Reply reply) {
  if (!parse_int(req.param("broker_id"), 0, INT32_MAX)) return reply(error(404, "Broker " + req.param("broker_id") + " cannot be found."));
  describe_configs(req, who, std::move(reply), kBroker, req.param("broker_id"), req.param("name"));
}

void RestApi::update_topic_config(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body, {{"value", Kind::string, true}}, &refusal);
  if (!body) return reply(std::move(refusal));
  alter_configs(who, std::move(reply), kTopic, req.param("topic_name"),
                {{req.param("name"), json::string_member(*body, "value")}}, false);
}

void RestApi::reset_topic_config(const http::Request& req, const Caller& who, http::Reply reply) {
  alter_configs(who, std::move(reply), kTopic, req.param("topic_name"), {{req.param("name"), std::nullopt}}, false);
}

void RestApi::alter_topic_configs(const http::Request& req, const Caller& who, http::Reply reply) {
  alter_configs_from_body(req, who, std::move(reply), kTopic, req.param("topic_name"));
}

void RestApi::alter_configs_from_body(const http::Request& req, const Caller& who, http::Reply reply, int8_t type,
                                      std::string name) {
  http::Response refusal;
  auto body = parse_body(req.body, {{"data", Kind::array, true}, {"validate_only", Kind::bool_}}, &refusal);
  if (!body) return reply(std::move(refusal));
  std::vector<std::pair<std::string, std::optional<std::string>>> changes;
  for (const auto& entry : json::find(*body, "data")->as_array()) {
    if (!check_object(entry, {{"name", Kind::string, true}, {"value", Kind::string}, {"operation", Kind::string}},
                      "an element of data", &refusal))
      return reply(std::move(refusal));
    const boost::json::value* op = json::find(entry, "operation");
    const std::string operation = json::get_string(entry, "operation").value_or("SET");
    const boost::json::value* value = json::find(entry, "value");
    if (operation == "SET") {
      if (!value || !value->is_string()) return reply(error(400, "SET of '" + json::string_member(entry, "name") + "' needs a value"));
      changes.emplace_back(json::string_member(entry, "name"), std::string(value->get_string()));
    } else if (operation == "DELETE") {
      changes.emplace_back(json::string_member(entry, "name"), std::nullopt);
    } else {
      return reply(error(400, "operation must be SET or DELETE, not '" + operation + "'"));
    }
  }
  const boost::json::value* vo = json::find(*body, "validate_only");
  alter_configs(who, std::move(reply), type, std::move(name), std::move(changes), vo && vo->is_bool() && vo->as_bool());
}

}  // namespace keel::server::rest
