#include "server/rest/rest_util.h"

#include <charconv>

#include "protocol/error_code.h"
#include "server/rest/kafka_bridge.h"

namespace keel::server::rest {
namespace {

using protocol::ErrorCode;

std::string_view type_name(json::Value::Type t) {
  switch (t) {
    case json::Value::Type::kNull: return "null";
    case json::Value::Type::kBool: return "a boolean";
    case json::Value::Type::kInt: return "an integer";
    case json::Value::Type::kDouble: return "a number";
    case json::Value::Type::kString: return "a string";
    case json::Value::Type::kArray: return "an array";
    case json::Value::Type::kObject: return "an object";
  }
  return "?";
}

}  // namespace

http::Response bridge_error(const std::error_code& ec) {
  const bool retry = ec == make_error_code(BridgeErrc::kBusy) || ec == make_error_code(BridgeErrc::kUnavailable);
  return retry ? error(503, kKafkaRetriable, ec.message()) : error(500, kKafkaError, ec.message());
}

http::Response json_response(int status, const json::Value& body) {
  http::Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = json::write(body);
  return r;
}

http::Response no_content() {
  http::Response r;
  r.status = 204;
  r.content_type = "application/json";
  return r;
}

http::Response error(int status, int code, std::string_view message, std::optional<int16_t> kafka_code) {
  json::Value v = json::Value::object();
  v.set("error_code", json::Value::integer(code));
  v.set("message", json::Value::string(std::string(message)));
  if (kafka_code) v.set("kafka_error_code", json::Value::integer(*kafka_code));
  return json_response(status, v);
}

http::Response kafka_error(int16_t code, std::string_view message) {
  std::string text = std::string(protocol::error_name(code));
  if (!message.empty()) text += ": " + std::string(message);
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::kTopicAuthorizationFailed:
    case ErrorCode::kGroupAuthorizationFailed:
    case ErrorCode::kClusterAuthorizationFailed:
    case ErrorCode::kTransactionalIdAuthorizationFailed:
    case ErrorCode::kDelegationTokenAuthorizationFailed:
      return error(403, kAuthorizationFailed, text, code);
    case ErrorCode::kUnknownTopicOrPartition:
    case ErrorCode::kUnknownTopicId:
      return error(404, kUnknownTopicOrPartition, text, code);
    case ErrorCode::kGroupIdNotFound:
    case ErrorCode::kResourceNotFound:
      return error(404, 404, text, code);
    case ErrorCode::kTopicAlreadyExists:
    case ErrorCode::kInvalidTopicException:
    case ErrorCode::kInvalidPartitions:
    case ErrorCode::kInvalidReplicationFactor:
    case ErrorCode::kInvalidReplicaAssignment:
    case ErrorCode::kInvalidConfig:
    case ErrorCode::kInvalidRequest:
    case ErrorCode::kPolicyViolation:
    case ErrorCode::kSecurityDisabled:
    case ErrorCode::kNonEmptyGroup:
    case ErrorCode::kInvalidGroupId:
      return error(400, kBadRequestKafka, text, code);
    // Asked of the wrong broker: the caller asks the one named (421 Misdirected Request).
    case ErrorCode::kNotController:
    case ErrorCode::kNotCoordinator:
    case ErrorCode::kNotLeaderOrFollower:
      return error(421, kMisdirected, text, code);
    default:
      break;
  }
  if (protocol::is_retriable(static_cast<ErrorCode>(code))) return error(503, kKafkaRetriable, text, code);
  return error(500, kKafkaError, text, code);
}

std::string base_url(const http::Request& req) {
  const auto host = req.header("Host");
  return std::string(req.tls ? "https://" : "http://") + std::string(host ? *host : "localhost");
}

json::Value related(const std::string& url) {
  json::Value v = json::Value::object();
  v.set("related", json::Value::string(url));
  return v;
}

json::Value resource(std::string_view kind, const std::string& self, const std::string& resource_name) {
  json::Value v = json::Value::object();
  v.set("kind", json::Value::string(std::string(kind)));
  json::Value meta = json::Value::object();
  meta.set("self", json::Value::string(self));
  meta.set("resource_name", json::Value::string(resource_name));
  v.set("metadata", std::move(meta));
  return v;
}

json::Value list(std::string_view kind, const std::string& self, json::Value::Array data) {
  json::Value v = json::Value::object();
  v.set("kind", json::Value::string(std::string(kind)));
  json::Value meta = json::Value::object();
  meta.set("self", json::Value::string(self));
  meta.set("next", json::Value());
  v.set("metadata", std::move(meta));
  v.set("data", json::Value::array(std::move(data)));
  return v;
}

bool check_object(const json::Value& v, const std::vector<Field>& fields, std::string_view where,
                  http::Response* refusal) {
  if (!v.is_object()) {
    *refusal = error(400, std::string(where) + " must be a JSON object");
    return false;
  }
  for (const auto& [key, value] : v.as_object()) {
    const Field* f = nullptr;
    for (const auto& candidate : fields) {
      if (candidate.name == key) f = &candidate;
    }
    if (!f) {
      *refusal = error(400, "unknown field '" + key + "' in " + std::string(where));
      return false;
    }
    // null stands for "absent", as Confluent's Jackson reading has it.
    if (value.is_null()) continue;
    if (value.type() != f->type) {
      *refusal = error(400, "field '" + key + "' in " + std::string(where) + " must be " +
                                std::string(type_name(f->type)) + ", not " + std::string(type_name(value.type())));
      return false;
    }
  }
  for (const auto& f : fields) {
    const json::Value* present = v.find(f.name);
    if (f.required && (!present || present->is_null())) {
      *refusal = error(400, "field '" + f.name + "' is required in " + std::string(where));
      return false;
    }
  }
  return true;
}

std::optional<json::Value> parse_body(std::string_view body, const std::vector<Field>& fields,
                                      http::Response* refusal) {
  json::Value v = json::Value::object();
  if (body.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    std::string why;
    auto parsed = json::parse(body, &why);
    if (!parsed) {
      *refusal = error(400, "malformed JSON: " + why);
      return std::nullopt;
    }
    v = std::move(*parsed);
  }
  if (!check_object(v, fields, "the request body", refusal)) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_int(std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return std::nullopt;
  return v;
}

}  // namespace keel::server::rest
