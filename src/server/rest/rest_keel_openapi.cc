// The /keel/v1 part of the OpenAPI document (openapi.cc splices it into
// "paths"). Built from a table rather than written out: each operation's
// path parameters, body schema, and answers. rest_openapi_test checks it
// against the route table like the v3 part.
#include <algorithm>

#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {

using V = json::Value;

struct Op {
  const char* path;    // below /keel/v1/clusters/{cluster_id}
  const char* method;  // lower case
  const char* summary;
  const char* kafka;   // the Kafka requests it runs
  const char* body;    // the request body's schema (JSON), or nullptr
  int success;
  const char* success_text;
};

const Op kOps[] = {
    {"/consumer-groups/{consumer_group_id}/offsets:reset", "post", "Reset Consumer Group Offsets",
     "DescribeGroups, OffsetFetch, Metadata, ListOffsets and OffsetCommit",
     R"({"type":"object","additionalProperties":false,"required":["to"],"properties":{"topics":{"type":"array","items":{"type":"object","required":["topic_name"],"properties":{"topic_name":{"type":"string"},"partitions":{"type":"array","items":{"type":"integer"}}}}},"to":{"type":"string","enum":["earliest","latest","timestamp","offset","shift-by"]},"value":{"type":"integer","description":"timestamp (ms), offset, or shift"},"dry_run":{"type":"boolean"}}})",
     200, "The plan: current and new offset per partition (committed unless dry_run)"},
    {"/consumer-groups/{consumer_group_id}", "delete", "Delete Consumer Group", "DeleteGroups", nullptr, 204,
     "Deleted"},
    {"/scram-users", "get", "List SCRAM Users", "DescribeUserScramCredentials", nullptr, 200, "OK"},
    {"/scram-users/{user_name}", "get", "Get SCRAM User", "DescribeUserScramCredentials", nullptr, 200, "OK"},
    {"/scram-users/{user_name}", "put", "Create or Change a SCRAM Credential", "AlterUserScramCredentials",
     R"({"type":"object","additionalProperties":false,"required":["mechanism","password"],"properties":{"mechanism":{"type":"string","enum":["SCRAM-SHA-256","SCRAM-SHA-512"]},"password":{"type":"string","format":"password"},"iterations":{"type":"integer","default":4096}}})",
     204, "Stored"},
    {"/scram-users/{user_name}", "delete", "Delete SCRAM Credentials (query: mechanism, else all)",
     "DescribeUserScramCredentials and AlterUserScramCredentials", nullptr, 204, "Deleted"},
    {"/quotas", "get", "List Client Quotas (query: user, client-id, ip = name, <default> or *; strict)",
     "DescribeClientQuotas", nullptr, 200, "OK"},
    {"/quotas:alter", "post", "Set or Remove Client Quotas", "AlterClientQuotas",
     R"({"type":"object","additionalProperties":false,"required":["entity"],"properties":{"entity":{"type":"object","description":"entity type (user, client-id, ip) -> name, or null for the default"},"set":{"type":"object","additionalProperties":{"type":"number"}},"remove":{"type":"array","items":{"type":"string"}},"validate_only":{"type":"boolean"}}})",
     204, "Changed"},
    {"/leader-elections", "post", "Elect Leaders", "ElectLeaders",
     R"({"type":"object","additionalProperties":false,"required":["type"],"properties":{"type":{"type":"string","enum":["preferred","unclean"]},"partitions":{"type":"array","items":{"type":"object","required":["topic_name","partition_id"],"properties":{"topic_name":{"type":"string"},"partition_id":{"type":"integer"}}}}}})",
     200, "Each partition's result"},
    {"/config-schema", "get", "Broker Configuration Schema", nullptr, nullptr, 200,
     "Every broker key: type, default, dynamic_update_mode (read-only, per-broker, cluster-wide)"},
};

V param(const std::string& name) {
  V p = V::object();
  p.set("name", V::string(name));
  p.set("in", V::string("path"));
  p.set("required", V::boolean(true));
  V schema = V::object();
  schema.set("type", V::string("string"));
  p.set("schema", std::move(schema));
  return p;
}

V error_answer(const char* text) {
  V ref = V::object();
  ref.set("$ref", V::string("#/components/schemas/Error"));
  V schema = V::object();
  schema.set("schema", std::move(ref));
  V content = V::object();
  content.set("application/json", std::move(schema));
  V a = V::object();
  a.set("description", V::string(text));
  a.set("content", std::move(content));
  return a;
}

V operation(const Op& op, const std::string& full_path) {
  V o = V::object();
  o.set("summary", V::string(op.summary));
  o.set("description", V::string(op.kafka ? std::string("Runs the Kafka ") + op.kafka +
                                               " requests under the caller's principal; their ACL checks apply."
                                         : std::string("Read from the broker's configuration table.")));
  V::Array params;
  for (size_t at = full_path.find('{'); at != std::string::npos; at = full_path.find('{', at + 1)) {
    params.push_back(param(full_path.substr(at + 1, full_path.find('}', at) - at - 1)));
  }
  o.set("parameters", V::array(std::move(params)));
  if (op.body) {
    V schema = V::object();
    schema.set("schema", *json::parse(op.body));
    V content = V::object();
    content.set("application/json", std::move(schema));
    V body = V::object();
    body.set("required", V::boolean(true));
    body.set("content", std::move(content));
    o.set("requestBody", std::move(body));
  }
  V answers = V::object();
  V ok = V::object();
  ok.set("description", V::string(op.success_text));
  answers.set(std::to_string(op.success), std::move(ok));
  answers.set("400", error_answer("Bad request: malformed JSON, an unknown field, a wrong type, or refused by Kafka"));
  answers.set("401", error_answer("Authentication failed"));
  answers.set("403", error_answer("Not authorized: the Kafka ACLs refuse it"));
  answers.set("404", error_answer("Not found"));
  answers.set("409", error_answer("Refused by the resource's state (a group with members: NON_EMPTY_GROUP)"));
  answers.set("5XX", error_answer("Server error"));
  o.set("responses", std::move(answers));
  return o;
}

}  // namespace

const std::string& keel_openapi_paths() {
  static const std::string kPaths = [] {
    V paths = V::object();
    std::vector<std::string> done;
    for (const Op& first : kOps) {
      if (std::find(done.begin(), done.end(), first.path) != done.end()) continue;
      done.push_back(first.path);
      const std::string full = kKeelCluster + first.path;
      V methods = V::object();
      for (const Op& op : kOps) {
        if (std::string_view(op.path) == first.path) methods.set(op.method, operation(op, full));
      }
      paths.set(full, std::move(methods));
    }
    // "{...}" -> the members alone, followed by a comma, to splice into "paths".
    const std::string text = json::write(paths);
    return text.substr(1, text.size() - 2) + ",";
  }();
  return kPaths;
}

}  // namespace keel::server::rest
