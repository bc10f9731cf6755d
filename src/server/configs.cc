// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (the
// overrides stored in the coordination store under /config/topics, applied
// to the partitions at once) and brokers (the YAML file, plus dynamic broker
// configs stored under /config/brokers/<default> and /config/brokers/<id>;
// the topic-default keys may change at run time, see dynamic_config.h).

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/config_def.h"
#include "config/topic_config.h"
#include "protocol/error_code.h"
#include "protocol/generated/alter_configs_request.h"
#include "protocol/generated/alter_configs_response.h"
#include "protocol/generated/describe_configs_request.h"
#include "protocol/generated/describe_configs_response.h"
#include "protocol/generated/incremental_alter_configs_request.h"
#include "protocol/generated/incremental_alter_configs_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "server/dynamic_config.h"
#include "cluster/topic_admin.h"
#include "server/topic_configs.h"

namespace keel::server {

using cluster::AdminResult;
using protocol::ErrorCode;

namespace {

constexpr int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }
constexpr int8_t kTopic = 2;
constexpr int8_t kBroker = 4;
constexpr int8_t kBrokerLogger = 8;

// Kafka's check before a config resource is described or altered: `op`
// (DESCRIBE_CONFIGS or ALTER_CONFIGS) on the topic, or on the cluster for a
// broker's or its loggers' configs. kNone when allowed or not a type
// checked here (answered INVALID_REQUEST later).
ErrorCode config_access(RequestAuthorization& auth, security::AclOperation op, int8_t type, const std::string& name) {
  if (type == kTopic) {
    return auth.allows_topic(op, name) ? ErrorCode::kNone : ErrorCode::kTopicAuthorizationFailed;
  }
  if (type == kBroker || type == kBrokerLogger) {
    return auth.allows_cluster(op) ? ErrorCode::kNone : ErrorCode::kClusterAuthorizationFailed;
  }
  return ErrorCode::kNone;
}

// Kafka's ConfigSource values.
constexpr int8_t kDynamicTopic = 1;
constexpr int8_t kDynamicDefaultBroker = 3;
constexpr int8_t kStaticBroker = 4;
constexpr int8_t kDefault = 5;

// Kafka's ConfigType for DescribeConfigs v3+.
int8_t config_type(config::KeyType t) {
  switch (t) {
    case config::KeyType::kBool: return 1;
    case config::KeyType::kString: return 2;
    case config::KeyType::kInt: return 3;
    case config::KeyType::kShort: return 4;
    case config::KeyType::kLong: return 5;
    case config::KeyType::kDouble: return 6;
    case config::KeyType::kList:
    case config::KeyType::kListeners: return 7;
    default: return 2;
  }
}

// The broker key behind a topic-level key (log.retention.ms for retention.ms).
const config::KeyDef* broker_synonym(const std::string& topic_key) {
  for (const auto& k : config::all_keys()) {
    if (k.topic_name == topic_key) return &k;
  }
  return nullptr;
}

std::map<std::string, std::string> dynamic_values(const RequestContext& ctx) {
  return ctx.services.dynamic ? ctx.services.dynamic->merged() : std::map<std::string, std::string>{};
}

// The store's entity name for a BROKER resource: "" is the cluster default.
std::string broker_entity(const std::string& resource_name) {
  return resource_name.empty() ? "<default>" : resource_name;
}


// Whether a DescribeConfigs resource asks for `key` (no list, or an empty one: every key).
bool asked_for(const protocol::DescribeConfigsRequest::DescribeConfigsResource& res, const std::string& key) {
  return !res.configuration_keys || res.configuration_keys->empty() ||
         std::find(res.configuration_keys->begin(), res.configuration_keys->end(), key) !=
             res.configuration_keys->end();
}

// A broker key's entry with what every broker entry carries: its value (none
// when sensitive), and from v3 its type and documentation.
protocol::DescribeConfigsResponse::DescribeConfigsResourceResult& broker_entry(
    protocol::DescribeConfigsResponse::DescribeConfigsResult& out, const std::string& key, const std::string& value,
    int16_t version) {
  auto& c = out.configs.emplace_back();
  c.name = key;
  c.is_sensitive = config::is_sensitive_key(key);
  c.value = c.is_sensitive ? std::nullopt : std::optional<std::string>(value);
  const config::KeyDef* def = config::find_key(key);
  if (version >= 3 && def) {
    c.config_type = config_type(def->type);
    c.documentation = std::string(def->doc);
  }
  return c;
}

void describe_topic(RequestContext& ctx, const protocol::DescribeConfigsRequest::DescribeConfigsResource& res,
                    protocol::DescribeConfigsResponse::DescribeConfigsResult& out, bool synonyms, int16_t version) {
  auto overrides = ctx.services.topics->overrides("topics", res.resource_name);
  if (!overrides) {
    out.error_code = code(ErrorCode::kUnknownTopicOrPartition);
    out.error_message = "topic '" + res.resource_name + "' does not exist";
    return;
  }
  const auto values = effective_topic_config(ctx.config, dynamic_values(ctx), *overrides).to_map();
  for (const auto& [key, value] : values) {
    if (!asked_for(res, key)) continue;
    auto& c = out.configs.emplace_back();
    c.name = key;
    c.value = value;
    const config::KeyDef* syn = broker_synonym(key);
    const int dyn = syn && ctx.services.dynamic ? ctx.services.dynamic->source_of(std::string(syn->name)) : 0;
    if (overrides->contains(key)) {
      c.config_source = kDynamicTopic;
    } else if (dyn != 0) {
      c.config_source = static_cast<int8_t>(dyn);
    } else if (syn && ctx.config.is_explicit(syn->name)) {
      c.config_source = kStaticBroker;
    } else {
      c.config_source = kDefault;
    }
    c.is_default = c.config_source == kDefault;
    c.is_sensitive = false;
    if (version >= 3 && syn) c.config_type = config_type(syn->type);
    if (version >= 3) c.documentation = syn ? std::optional<std::string>(std::string(syn->doc)) : std::nullopt;
    if (synonyms) {
      if (overrides->contains(key)) c.synonyms.push_back({key, overrides->at(key), kDynamicTopic, {}});
      if (syn && ctx.config.is_explicit(syn->name)) c.synonyms.push_back({std::string(syn->name), value, kStaticBroker, {}});
    }
  }
}

void describe_broker(RequestContext& ctx, const protocol::DescribeConfigsRequest::DescribeConfigsResource& res,
                     protocol::DescribeConfigsResponse::DescribeConfigsResult& out, bool synonyms, int16_t version) {
  if (!res.resource_name.empty() && res.resource_name != std::to_string(ctx.broker.broker_id)) {
    out.error_code = code(ErrorCode::kInvalidRequest);
    out.error_message = "this is broker " + std::to_string(ctx.broker.broker_id) + ", not " + res.resource_name;
    return;
  }
  if (res.resource_name.empty()) {
    // The cluster-wide default entity holds only what was set on it
    // dynamically, and that is all Kafka describes for it.
    auto stored = ctx.services.topics->overrides("brokers", broker_entity(""));
    if (!stored) return;
    for (const auto& [key, value] : *stored) {
      if (!asked_for(res, key)) continue;
      auto& c = broker_entry(out, key, value, version);
      c.config_source = kDynamicDefaultBroker;
      c.is_default = false;
      c.read_only = false;
      if (synonyms) c.synonyms.push_back({key, c.value, kDynamicDefaultBroker, {}});
    }
    return;
  }
  const auto dynamic = dynamic_values(ctx);
  for (const auto& [key, static_value] : ctx.config.effective()) {
    auto dyn = dynamic.find(key);
    const std::string& value = dyn != dynamic.end() ? dyn->second : static_value;
    if (!asked_for(res, key)) continue;
    auto& c = broker_entry(out, key, value, version);
    const int dyn_source = ctx.services.dynamic ? ctx.services.dynamic->source_of(key) : 0;
    c.config_source = dyn_source != 0 ? static_cast<int8_t>(dyn_source)
                                      : (ctx.config.is_explicit(key) ? kStaticBroker : kDefault);
    c.is_default = c.config_source == kDefault;
    c.read_only = !DynamicBrokerConfig::is_dynamic(key);
    if (synonyms && ctx.config.is_explicit(key)) c.synonyms.push_back({key, c.value, kStaticBroker, {}});
  }
}

}  // namespace

Result<void> handle_describe_configs(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DescribeConfigsRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  protocol::DescribeConfigsResponse resp;
  RequestAuthorization auth(ctx);
  for (const auto& res : req.resources) {
    auto& r = resp.results.emplace_back();
    r.resource_type = res.resource_type;
    r.resource_name = res.resource_name;
    r.error_message = std::nullopt;
    const bool synonyms = version >= 1 && req.include_synonyms;
    if (ErrorCode refused = config_access(auth, security::AclOperation::kDescribeConfigs, res.resource_type,
                                          res.resource_name);
        refused != ErrorCode::kNone) {
      r.error_code = code(refused);
    } else if (res.resource_type == kTopic) {
      describe_topic(ctx, res, r, synonyms, version);
    } else if (res.resource_type == kBroker) {
      describe_broker(ctx, res, r, synonyms, version);
    } else if (res.resource_type == kBrokerLogger) {
      r.error_code = code(ErrorCode::kInvalidRequest);
      r.error_message = "broker logger configs are not served";
    } else {
      r.error_code = code(ErrorCode::kInvalidRequest);
      r.error_message = "unknown resource type " + std::to_string(res.resource_type);
    }
    // Kafka sends documentation only to those who ask for it.
    if (!req.include_documentation) {
      for (auto& c : r.configs) c.documentation = std::nullopt;
    }
  }
  resp.encode(out, version);
  return {};
}

namespace {

// Applies one resource's change; `next` is the complete new override map.
AdminResult alter_resource(RequestContext& ctx, int8_t type, const std::string& name,
                           const std::map<std::string, std::string>& next, bool validate_only) {
  if (type == kTopic) return ctx.services.topics->set_overrides("topics", name, next, validate_only);
  if (type == kBroker) {
    if (!name.empty() && name.find_first_not_of("0123456789") != std::string::npos) {
      return {ErrorCode::kInvalidRequest, "broker resource name must be a broker id or empty (cluster default)"};
    }
    for (const auto& [key, value] : next) {
      bool not_dynamic = false;
      if (std::string why = DynamicBrokerConfig::check(key, value, &not_dynamic); !why.empty()) {
        return {not_dynamic ? ErrorCode::kInvalidRequest : ErrorCode::kInvalidConfig, why};
      }
    }
    return ctx.services.topics->set_overrides("brokers", broker_entity(name), next, validate_only);
  }
  return {ErrorCode::kInvalidRequest, "unknown resource type " + std::to_string(type)};
}

// Kafka's shape checks on the resources of an AlterConfigs or
// IncrementalAlterConfigs request (ConfigAdminManager.preprocess), made before
// any resource is looked up: a resource named twice is refused at each of its
// entries, a key named twice in one resource refuses that resource, and so
// does a null value for anything but IncrementalAlterConfigs' DELETE. One
// message per resource, in request order; empty where the resource passes.
template <typename Resources>
std::vector<std::string> shape_problems(const Resources& resources) {
  std::map<std::pair<int8_t, std::string>, int> named;
  for (const auto& res : resources) ++named[{res.resource_type, res.resource_name}];
  std::vector<std::string> problems;
  for (const auto& res : resources) {
    std::string& problem = problems.emplace_back();
    if (named[{res.resource_type, res.resource_name}] > 1) {
      problem = "Each resource must appear at most once.";
      continue;
    }
    std::set<std::string> keys;
    std::string nulls;
    for (const auto& c : res.configs) {
      if (!keys.insert(c.name).second) problem = "Error due to duplicate config keys";
      bool deletes = false;
      if constexpr (requires { c.config_operation; }) deletes = c.config_operation == 1;
      if (!c.value && !deletes) nulls += (nulls.empty() ? "" : ", ") + c.name;
    }
    if (problem.empty() && !nulls.empty()) problem = "Null value not supported for : " + nulls;
  }
  return problems;
}

}  // namespace

Result<void> handle_alter_configs(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::AlterConfigsRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  protocol::AlterConfigsResponse resp;
  const std::vector<std::string> problems = shape_problems(req.resources);
  RequestAuthorization auth(ctx);
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& res = req.resources[i];
    auto& r = resp.responses.emplace_back();
    r.resource_type = res.resource_type;
    r.resource_name = res.resource_name;
    r.error_message = std::nullopt;
    if (!problems[i].empty()) {
      r.error_code = code(ErrorCode::kInvalidRequest);
      r.error_message = problems[i];
      continue;
    }
    if (ErrorCode refused = config_access(auth, security::AclOperation::kAlterConfigs, res.resource_type,
                                          res.resource_name);
        refused != ErrorCode::kNone) {
      r.error_code = code(refused);
      continue;
    }
    // AlterConfigs replaces the whole set: keys not named go back to their defaults.
    std::map<std::string, std::string> next;
    for (const auto& c : res.configs) next[c.name] = *c.value;
    AdminResult result = alter_resource(ctx, res.resource_type, res.resource_name, next, req.validate_only);
    r.error_code = code(result.error);
    if (!result.ok()) r.error_message = result.message;
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_incremental_alter_configs(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::IncrementalAlterConfigsRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  protocol::IncrementalAlterConfigsResponse resp;
  const std::vector<std::string> problems = shape_problems(req.resources);
  RequestAuthorization auth(ctx);
  for (size_t i = 0; i < req.resources.size(); ++i) {
    const auto& res = req.resources[i];
    auto& r = resp.responses.emplace_back();
    r.resource_type = res.resource_type;
    r.resource_name = res.resource_name;
    r.error_message = std::nullopt;
    if (!problems[i].empty()) {
      r.error_code = code(ErrorCode::kInvalidRequest);
      r.error_message = problems[i];
      continue;
    }
    if (ErrorCode refused = config_access(auth, security::AclOperation::kAlterConfigs, res.resource_type,
                                          res.resource_name);
        refused != ErrorCode::kNone) {
      r.error_code = code(refused);
      continue;
    }
    if (res.resource_type != kTopic && res.resource_type != kBroker) {
      r.error_code = code(ErrorCode::kInvalidRequest);
      r.error_message = "unknown resource type " + std::to_string(res.resource_type);
      continue;
    }
    const bool broker = res.resource_type == kBroker;
    auto current = broker ? ctx.services.topics->overrides("brokers", broker_entity(res.resource_name))
                          : ctx.services.topics->overrides("topics", res.resource_name);
    if (!current) {
      r.error_code = code(ErrorCode::kUnknownTopicOrPartition);
      r.error_message = "topic '" + res.resource_name + "' does not exist";
      continue;
    }
    std::map<std::string, std::string> next = *current;
    const config::TopicConfig effective = effective_topic_config(ctx.config, dynamic_values(ctx), *current);
    const auto effective_map = effective.to_map();
    std::string problem;
    ErrorCode problem_code = ErrorCode::kInvalidRequest;
    for (const auto& c : res.configs) {
      switch (c.config_operation) {
        case 0:  // SET (never null here: shape_problems refuses that)
          next[c.name] = *c.value;
          break;
        case 1:  // DELETE
          next.erase(c.name);
          break;
        case 2:    // APPEND (list keys)
        case 3: {  // SUBTRACT
          const config::KeyDef* syn = broker ? config::find_key(c.name) : broker_synonym(c.name);
          if (!syn || syn->type != config::KeyType::kList) {
            problem = "'" + c.name + "' is not a list: APPEND and SUBTRACT need one";
            problem_code = ErrorCode::kInvalidConfig;  // Kafka's InvalidConfigurationException
            break;
          }
          std::string base;
          if (next.contains(c.name)) {
            base = next[c.name];
          } else if (!broker) {
            base = effective_map.at(c.name);
          } else {
            for (const auto& [k, v] : ctx.config.effective()) {
              if (k == c.name) base = v;
            }
          }
          std::vector<std::string> items;
          for (size_t start = 0; start <= base.size();) {
            size_t comma = base.find(',', start);
            std::string item = base.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!item.empty()) items.push_back(item);
            if (comma == std::string::npos) break;
            start = comma + 1;
          }
          const std::string value = c.value.value_or("");
          if (c.config_operation == 2) {
            if (std::find(items.begin(), items.end(), value) == items.end()) items.push_back(value);
          } else {
            std::erase(items, value);
          }
          std::string joined;
          for (const auto& i : items) joined += (joined.empty() ? "" : ",") + i;
          next[c.name] = joined;
          break;
        }
        default:
          problem = "unknown config operation " + std::to_string(c.config_operation);
      }
      if (!problem.empty()) break;
    }
    if (!problem.empty()) {
      r.error_code = code(problem_code);
      r.error_message = problem;
      continue;
    }
    AdminResult result = alter_resource(ctx, res.resource_type, res.resource_name, next, req.validate_only);
    r.error_code = code(result.error);
    if (!result.ok()) r.error_message = result.message;
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
