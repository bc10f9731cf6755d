// /keel/v1 SCRAM users (DescribeUserScramCredentials,
// AlterUserScramCredentials) and client quotas (DescribeClientQuotas,
// AlterClientQuotas), under the caller's principal. A password given over
// REST is turned into a salted password here, with a fresh random salt, as
// an admin client does; it is never logged nor answered.
#include <boost/json.hpp>

#include "protocol/generated/alter_client_quotas_request.h"
#include "protocol/generated/alter_client_quotas_response.h"
#include "protocol/generated/alter_user_scram_credentials_request.h"
#include "protocol/generated/alter_user_scram_credentials_response.h"
#include "protocol/generated/describe_client_quotas_request.h"
#include "protocol/generated/describe_client_quotas_response.h"
#include "protocol/generated/describe_user_scram_credentials_request.h"
#include "protocol/generated/describe_user_scram_credentials_response.h"
#include "security/scram.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;

// Kafka's wire numbers of the SCRAM mechanisms.
constexpr int8_t kWireSha256 = 1;
constexpr int8_t kWireSha512 = 2;

std::optional<int8_t> wire_mechanism(std::string_view name) {
  if (name == "SCRAM-SHA-256") return kWireSha256;
  if (name == "SCRAM-SHA-512") return kWireSha512;
  return std::nullopt;
}

std::string mechanism_text(int8_t m) {
  return m == kWireSha256 ? "SCRAM-SHA-256" : m == kWireSha512 ? "SCRAM-SHA-512" : "UNKNOWN";
}

boost::json::value user_json(const protocol::DescribeUserScramCredentialsResponse::DescribeUserScramCredentialsResult& u) {
  boost::json::object v;
  v["kind"] = "KeelScramUser";
  v["user_name"] = u.user;
  boost::json::array creds;
  for (const auto& c : u.credential_infos) {
    boost::json::object ci;
    ci["mechanism"] = mechanism_text(c.mechanism);
    ci["iterations"] = c.iterations;
    creds.push_back(std::move(ci));
  }
  v["credentials"] = std::move(creds);
  return v;
}

void describe_users(KafkaBridge& bridge, const Caller& who, std::optional<std::string> user,
                    std::function<void(Result<protocol::DescribeUserScramCredentialsResponse>)> done) {
  protocol::DescribeUserScramCredentialsRequest d;
  if (user) {
    protocol::DescribeUserScramCredentialsRequest::UserName n;
    n.name = *user;
    d.users->push_back(n);
  } else {
    d.users = std::nullopt;
  }
  bridge.call<protocol::DescribeUserScramCredentialsResponse>(who, d, 0, std::move(done));
}

void alter_users(KafkaBridge& bridge, const Caller& who, const protocol::AlterUserScramCredentialsRequest& a,
                 http::Reply reply) {
  bridge.call<protocol::AlterUserScramCredentialsResponse>(
      who, a, 0, [reply](Result<protocol::AlterUserScramCredentialsResponse> r) {
        if (!r) return reply(bridge_error(r.error()));
        for (const auto& u : r->results) {
          if (u.error_code != 0) return reply(keel_kafka_error(u.error_code, u.error_message.value_or("")));
        }
        reply(no_content());
      });
}

const std::vector<std::string>& quota_entity_types() {
  static const std::vector<std::string> kTypes = {"user", "client-id", "ip"};
  return kTypes;
}

}  // namespace

void RestApi::list_scram_users(const http::Request&, const Caller& who, http::Reply reply) {
  describe_users(bridge_, who, std::nullopt, [reply](Result<protocol::DescribeUserScramCredentialsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, r->error_message.value_or("")));
    boost::json::array data;
    for (const auto& u : r->results) {
      if (u.error_code == 0) data.push_back(user_json(u));
    }
    boost::json::object v;
    v["kind"] = "KeelScramUserList";
    v["data"] = std::move(data);
    reply(json_response(200, v));
  });
}

void RestApi::get_scram_user(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_users(bridge_, who, req.param("user_name"), [reply](Result<protocol::DescribeUserScramCredentialsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, r->error_message.value_or("")));
    if (r->results.size() != 1) return reply(error(500, kKafkaError, "DescribeUserScramCredentials answered no user"));
    const auto& u = r->results[0];
    if (u.error_code != 0) return reply(keel_kafka_error(u.error_code, u.error_message.value_or("")));
    reply(json_response(200, user_json(u)));
  });
}

void RestApi::upsert_scram_user(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body,
                         {{"mechanism", Kind::string, true}, {"password", Kind::string, true},
                          {"iterations", Kind::int64}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  const std::string name(json::string_member(*body, "mechanism"));
  const auto wire = wire_mechanism(name);
  if (!wire) return reply(error(400, "field 'mechanism' must be SCRAM-SHA-256 or SCRAM-SHA-512"));
  const std::string password(json::string_member(*body, "password"));
  if (password.empty()) return reply(error(400, "field 'password' must not be empty"));
  int64_t iterations = 4096;
  if (const boost::json::value* it = json::find(*body, "iterations"); it && it->is_int64()) iterations = it->as_int64();
  // Checked before hashing: the broker refuses these too, but only after the work.
  if (iterations < security::kScramMinIterations || iterations > security::kScramMaxIterations) {
    return reply(error(400, "field 'iterations' must be in [" + std::to_string(security::kScramMinIterations) + ", " +
                                std::to_string(security::kScramMaxIterations) + "]"));
  }
  const auto mechanism = *wire == kWireSha256 ? security::ScramMechanism::kSha256 : security::ScramMechanism::kSha512;
  protocol::AlterUserScramCredentialsRequest a;
  protocol::AlterUserScramCredentialsRequest::ScramCredentialUpsertion u;
  u.name = req.param("user_name");
  u.mechanism = *wire;
  u.iterations = static_cast<int32_t>(iterations);
  u.salt = security::random_salt();
  u.salted_password = security::salted_password(mechanism, password, ByteView(u.salt), u.iterations);
  a.upsertions.push_back(std::move(u));
  alter_users(bridge_, who, a, std::move(reply));
}

void RestApi::delete_scram_user(const http::Request& req, const Caller& who, http::Reply reply) {
  std::optional<int8_t> only;
  for (const auto& [key, value] : req.query_params()) {
    if (key != "mechanism") return reply(error(400, "unknown query parameter '" + key + "'"));
    only = wire_mechanism(value);
    if (!only) return reply(error(400, "query parameter 'mechanism' must be SCRAM-SHA-256 or SCRAM-SHA-512"));
  }
  const std::string user = req.param("user_name");
  auto remove = [this, who, user, reply](std::vector<int8_t> mechanisms) {
    protocol::AlterUserScramCredentialsRequest a;
    for (int8_t m : mechanisms) {
      protocol::AlterUserScramCredentialsRequest::ScramCredentialDeletion d;
      d.name = user;
      d.mechanism = m;
      a.deletions.push_back(d);
    }
    alter_users(bridge_, who, a, reply);
  };
  if (only) return remove({*only});
  // Every mechanism the user has.
  describe_users(bridge_, who, user, [reply, remove](Result<protocol::DescribeUserScramCredentialsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, r->error_message.value_or("")));
    if (r->results.size() != 1) return reply(error(500, kKafkaError, "DescribeUserScramCredentials answered no user"));
    const auto& u = r->results[0];
    if (u.error_code != 0) return reply(keel_kafka_error(u.error_code, u.error_message.value_or("")));
    std::vector<int8_t> mechanisms;
    for (const auto& c : u.credential_infos) mechanisms.push_back(c.mechanism);
    remove(std::move(mechanisms));
  });
}

// Filters in the query: user=alice (exact), user=<default> (the default
// entity), user=* (any named one); the same for client-id and ip; strict=true
// leaves out entities with other entity types.
void RestApi::list_quotas(const http::Request& req, const Caller& who, http::Reply reply) {
  protocol::DescribeClientQuotasRequest d;
  for (const auto& [key, value] : req.query_params()) {
    if (key == "strict") {
      if (value != "true" && value != "false") return reply(error(400, "query parameter 'strict' must be true or false"));
      d.strict = value == "true";
      continue;
    }
    const auto& types = quota_entity_types();
    if (std::find(types.begin(), types.end(), key) == types.end()) {
      return reply(error(400, "unknown query parameter '" + key + "' (user, client-id, ip, strict)"));
    }
    protocol::DescribeClientQuotasRequest::ComponentData c;
    c.entity_type = key;
    if (value == "<default>") {
      c.match_type = 1;
      c.match = std::nullopt;
    } else if (value == "*") {
      c.match_type = 2;
      c.match = std::nullopt;
    } else {
      c.match_type = 0;
      c.match = value;
    }
    d.components.push_back(std::move(c));
  }
  bridge_.call<protocol::DescribeClientQuotasResponse>(who, d, 1, [reply](Result<protocol::DescribeClientQuotasResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, r->error_message.value_or("")));
    boost::json::array data;
    for (const auto& e : r->entries.value_or(std::vector<protocol::DescribeClientQuotasResponse::EntryData>{})) {
      boost::json::object entity;
      for (const auto& part : e.entity) {
        entity[part.entity_type] = part.entity_name ? boost::json::value(*part.entity_name) : boost::json::value();
      }
      boost::json::object values;
      for (const auto& q : e.values) values[q.key] = q.value;
      boost::json::object v;
      v["kind"] = "KeelClientQuota";
      v["entity"] = std::move(entity);
      v["values"] = std::move(values);
      data.push_back(std::move(v));
    }
    boost::json::object v;
    v["kind"] = "KeelClientQuotaList";
    v["data"] = std::move(data);
    reply(json_response(200, v));
  });
}

// {"entity": {"user": "alice", "client-id": null}, "set": {"producer_byte_rate": 1048576},
//  "remove": ["consumer_byte_rate"], "validate_only": false}; null names the default entity.
void RestApi::alter_quotas(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body,
                         {{"entity", Kind::object, true}, {"set", Kind::object}, {"remove", Kind::array},
                          {"validate_only", Kind::bool_}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  protocol::AlterClientQuotasRequest a;
  protocol::AlterClientQuotasRequest::EntryData entry;
  for (const auto& [type_view, name] : json::find(*body, "entity")->as_object()) {
    const std::string type(type_view);
    const auto& types = quota_entity_types();
    if (std::find(types.begin(), types.end(), type) == types.end()) {
      return reply(error(400, "unknown entity type '" + type + "' (user, client-id, ip)"));
    }
    if (!name.is_null() && !name.is_string()) {
      return reply(error(400, "entity '" + type + "' must be a name (a string) or null for the default"));
    }
    protocol::AlterClientQuotasRequest::EntityData e;
    e.entity_type = type;
    e.entity_name = name.is_null() ? std::nullopt : std::optional<std::string>(std::string(name.get_string()));
    entry.entity.push_back(std::move(e));
  }
  if (entry.entity.empty()) return reply(error(400, "field 'entity' must name at least one entity type"));
  if (const boost::json::value* set = json::find(*body, "set"); set && set->is_object()) {
    for (const auto& [key_view, value] : set->as_object()) {
      const std::string key(key_view);
      if (!value.is_number()) {
        return reply(error(400, "quota '" + key + "' in 'set' must be a number"));
      }
      protocol::AlterClientQuotasRequest::OpData op;
      op.key = key;
      op.value = value.to_number<double>();
      entry.ops.push_back(std::move(op));
    }
  }
  if (const boost::json::value* remove = json::find(*body, "remove"); remove && remove->is_array()) {
    for (const auto& key : remove->as_array()) {
      if (!key.is_string()) return reply(error(400, "field 'remove' must list quota names (strings)"));
      protocol::AlterClientQuotasRequest::OpData op;
      op.key = key.get_string();
      op.remove = true;
      entry.ops.push_back(std::move(op));
    }
  }
  if (entry.ops.empty()) return reply(error(400, "nothing to change: give 'set' or 'remove'"));
  if (const boost::json::value* v = json::find(*body, "validate_only"); v && v->is_bool()) a.validate_only = v->as_bool();
  a.entries.push_back(std::move(entry));
  bridge_.call<protocol::AlterClientQuotasResponse>(who, a, 1, [reply](Result<protocol::AlterClientQuotasResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    for (const auto& e : r->entries) {
      if (e.error_code != 0) return reply(keel_kafka_error(e.error_code, e.error_message.value_or("")));
    }
    reply(no_content());
  });
}

}  // namespace keel::server::rest
