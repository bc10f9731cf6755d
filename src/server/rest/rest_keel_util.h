#pragma once
// What the /keel/v1 routes share: their path prefix and the mapping of the
// Kafka errors they meet that v3's mapping (rest_util.h) does not refine.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/error_code.h"
#include "server/rest/rest_keel_reassign_plan.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {

inline const std::string kKeelCluster = "/keel/v1/clusters/{cluster_id}";

// The /keel/v1 members of the OpenAPI document's "paths", each followed by
// a comma (rest_keel_openapi.cc).
const std::string& keel_openapi_paths();

inline constexpr int kConflictKafka = 40901;  // refused because of the resource's state

// NON_EMPTY_GROUP -> 409 (the group's state forbids it); a credential or
// mechanism the broker refuses -> 400; the rest as kafka_error().
inline http::Response keel_kafka_error(int16_t code, std::string_view message) {
  using protocol::ErrorCode;
  const std::string text = std::string(protocol::error_name(code)) + (message.empty() ? "" : ": ") +
                           std::string(message);
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::kNonEmptyGroup:
      return error(409, kConflictKafka, text, code);
    case ErrorCode::kUnacceptableCredential:
    case ErrorCode::kUnsupportedSaslMechanism:
      return error(400, kBadRequestKafka, text, code);
    default:
      return kafka_error(code, message);
  }
}

// Shared by the reassignment routes (rest_keel_reassign*.cc, rest_keel_brokers.cc).
// [ids] -> broker ids (integers >= 0, none twice); nullopt and *refusal otherwise.
std::optional<std::vector<int32_t>> int_list(const boost::json::value& v, std::string_view what,
                                             http::Response* refusal);
boost::json::array ints_json(const std::vector<int32_t>& ids);
// [{"topic","partition","current_replicas","target_replicas"}]
boost::json::array moves_json(const std::vector<Move>& moves);
// {"topic","partition","error_code","error","message"}
boost::json::object partition_result(const std::string& topic, int32_t partition, int16_t code,
                             const std::optional<std::string>& message);
// 421 with NOT_CONTROLLER naming the controller (header Keel-Controller-Id).
http::Response misdirected(int32_t controller);
// 400 INVALID_REPLICA_ASSIGNMENT: `broker` is not live.
http::Response not_live(int32_t broker);
// A boolean member, false when absent.
bool flag(const boost::json::value& body, std::string_view name);
// "throttle_bytes_per_sec": its value (>= 1) or none; nullopt and *refusal when invalid.
std::optional<std::optional<int64_t>> read_throttle(const boost::json::value& body, http::Response* refusal);

}  // namespace keel::server::rest
