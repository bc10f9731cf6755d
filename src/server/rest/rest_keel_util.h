#pragma once
// What the /keel/v1 routes share: their path prefix and the mapping of the
// Kafka errors they meet that v3's mapping (rest_util.h) does not refine.

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/error_code.h"
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

}  // namespace keel::server::rest
