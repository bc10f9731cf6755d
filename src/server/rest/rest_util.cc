#include "server/rest/rest_util.h"

#include <charconv>

#include <boost/json.hpp>

#include "protocol/error_code.h"
#include "server/rest/kafka_bridge.h"

namespace keel::server::rest {
namespace {

using protocol::ErrorCode;

}  // namespace

http::Response bridge_error(const std::error_code& ec) {
  const bool retry = ec == make_error_code(BridgeErrc::kBusy) || ec == make_error_code(BridgeErrc::kUnavailable);
  return retry ? error(503, kKafkaRetriable, ec.message()) : error(500, kKafkaError, ec.message());
}

http::Response json_response(int status, const boost::json::value& body) {
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
  boost::json::object v;
  v["error_code"] = code;
  v["message"] = message;
  if (kafka_code) v["kafka_error_code"] = *kafka_code;
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

boost::json::object related(const std::string& url) { return {{"related", url}}; }

boost::json::object resource(std::string_view kind, const std::string& self, const std::string& resource_name) {
  boost::json::object v;
  v["kind"] = kind;
  v["metadata"] = {{"self", self}, {"resource_name", resource_name}};
  return v;
}

boost::json::object list(std::string_view kind, const std::string& self, boost::json::array data) {
  boost::json::object v;
  v["kind"] = kind;
  v["metadata"] = {{"self", self}, {"next", nullptr}};
  v["data"] = std::move(data);
  return v;
}

bool check_object(const boost::json::value& v, const std::vector<Field>& fields, std::string_view where,
                  http::Response* refusal) {
  if (!v.is_object()) {
    *refusal = error(400, std::string(where) + " must be a JSON object");
    return false;
  }
  for (const auto& [json_key, value] : v.get_object()) {
    const std::string key(json_key);
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
    if (value.kind() != f->type) {
      *refusal = error(400, "field '" + key + "' in " + std::string(where) + " must be " +
                                std::string(json::kind_name(f->type)) + ", not " +
                                std::string(json::kind_name(value.kind())));
      return false;
    }
  }
  for (const auto& f : fields) {
    const boost::json::value* present = json::find(v, f.name);
    if (f.required && (!present || present->is_null())) {
      *refusal = error(400, "field '" + f.name + "' is required in " + std::string(where));
      return false;
    }
  }
  return true;
}

std::optional<boost::json::value> parse_body(std::string_view body, const std::vector<Field>& fields,
                                             http::Response* refusal) {
  boost::json::value v = boost::json::object();
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
