#pragma once
// The pieces every REST route shares: Confluent v3's envelope (kind,
// metadata.self, related links), its error body, the strict reading of a
// request body, and the mapping of Kafka's error codes to HTTP answers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/json/fwd.hpp>
#include <boost/json/kind.hpp>

#include "common/json_util.h"
#include "http/server.h"

namespace keel::server::rest {

// Confluent's error codes (the v3 Error schema's error_code): the HTTP status,
// or a five-digit refinement of it for Kafka's errors.
inline constexpr int kBadRequestKafka = 40002;     // a Kafka request refused as invalid
inline constexpr int kAuthenticationFailed = 40101;
inline constexpr int kAuthorizationFailed = 40301;
inline constexpr int kUnknownTopicOrPartition = 40403;
inline constexpr int kMisdirected = 42101;  // 421: another broker answers it (docs/rest-api.md, "Which broker")
inline constexpr int kKafkaError = 50002;
inline constexpr int kKafkaRetriable = 50003;

// {"error_code":code,"message":message}, plus "kafka_error_code" when a
// Kafka error caused it (a field Confluent's clients ignore).
http::Response error(int status, int code, std::string_view message, std::optional<int16_t> kafka_code = {});
inline http::Response error(int status, std::string_view message) { return error(status, status, message); }
// The answer for a Kafka error code != 0: 403 for the authorization
// failures, 404 for unknown topics and groups, 400 for what the request got
// wrong, 421 when another broker answers it (NOT_CONTROLLER, NOT_COORDINATOR,
// NOT_LEADER_OR_FOLLOWER), 5xx for the rest.
http::Response kafka_error(int16_t code, std::string_view message);
// A call that did not reach a Kafka handler (busy, stopping, bad answer): 503 or 500.
http::Response bridge_error(const std::error_code& ec);
http::Response json_response(int status, const boost::json::value& body);
http::Response no_content();  // 204

// "http://host:port" the client used (Host header), for metadata.self.
std::string base_url(const http::Request& req);

// Bodies are built as boost::json values (include <boost/json.hpp> in the .cc).
boost::json::object related(const std::string& url);
// An object of `kind` with metadata {self, resource_name}.
boost::json::object resource(std::string_view kind, const std::string& self, const std::string& resource_name);
// A list: {kind, metadata {self, next: null}, data}.
boost::json::object list(std::string_view kind, const std::string& self, boost::json::array data);

// The body's expected members: name and JSON type (kind::int64 for integers:
// one beyond int64 is refused as "a number").
struct Field {
  std::string name;
  boost::json::kind type;
  bool required = false;
};
// Parses the body as one JSON object holding only `fields`, each of its
// type; nullopt and *refusal (a 400 naming the problem) otherwise. An empty
// body is an empty object.
std::optional<boost::json::value> parse_body(std::string_view body, const std::vector<Field>& fields,
                                      http::Response* refusal);
// The same for a nested object (an element of a "data" array): `where` names it.
bool check_object(const boost::json::value& v, const std::vector<Field>& fields, std::string_view where,
                  http::Response* refusal);

// Integer in [min, max] from a path segment, or nullopt.
std::optional<int64_t> parse_int(std::string_view text, int64_t min, int64_t max);

}  // namespace keel::server::rest
