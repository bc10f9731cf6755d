// The /keel/v1 part of the OpenAPI document (openapi.cc splices it into
// "paths"). Built from a table rather than written out: each operation's
// path parameters, body schema, and answers. rest_openapi_test checks it
// against the route table like the v3 part.
#include <algorithm>

#include <boost/json.hpp>

#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {


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
    {"/topics/{topic_name}/records", "get",
     "Browse Records (query: partition, offset | timestamp, limit <= 1000, search, in=key,value,headers, "
     "format=json | download)",
     "ListOffsets and Fetch", nullptr, 200,
     "The records from the offset (search: the matching ones, reading at most 64 MiB per call; next_offset "
     "continues); format=download: JSON lines up to console.records.download.max.bytes"},
    {"/consumer-groups/{consumer_group_id}/lag-history", "get",
     "Consumer Group Lag Trend (sampled every console.lag.history.interval.ms by the group's coordinator)",
     "DescribeGroups", nullptr, 200, "The samples, oldest first: time, lag (offsets), lag_seconds"},
    // Reassignments (rest_keel_reassign*.cc, rest_keel_brokers.cc): answered by the controller's
    // HTTP listener; elsewhere 421 with NOT_CONTROLLER and the header Keel-Controller-Id.
    {"/keel/v1/reassignments/plan", "post", "Generate a Reassignment Plan (rack-aware, fewest moves; any broker)",
     "Metadata",
     R"({"type":"object","additionalProperties":false,"properties":{"topics":{"type":"array","items":{"type":"string"}},"brokers":{"type":"array","items":{"type":"integer"}},"replication_factor":{"type":"integer","minimum":1}}})",
     200, "{kind, moves: [{topic, partition, current_replicas, target_replicas}]}"},
    {"/keel/v1/reassignments", "post", "Reassign Partitions", "Metadata, IncrementalAlterConfigs (throttle) and AlterPartitionReassignments",
     R"({"type":"object","additionalProperties":false,"required":["partitions"],"properties":{"partitions":{"type":"array","items":{"type":"object","required":["topic","partition","replicas"],"properties":{"topic":{"type":"string"},"partition":{"type":"integer"},"replicas":{"type":"array","items":{"type":"integer"}}}}},"dry_run":{"type":"boolean"},"throttle_bytes_per_sec":{"type":"integer","minimum":1,"description":"sets leader/follower.replication.throttled.rate on the brokers involved and *.replication.throttled.replicas on the topics, removed once their reassignments are over"}}})",
     200, "The accepted moves, each with its error_code"},
    {"/keel/v1/reassignments", "get", "Ongoing Reassignments with their Progress",
     "Metadata, ListPartitionReassignments, DescribeLogDirs (and IncrementalAlterConfigs removing finished throttles)",
     nullptr, 200, "Per partition: replicas, adding and removing replicas; per adding replica in_sync and sizes"},
    {"/keel/v1/reassignments", "delete", "Cancel Reassignments (all, or body {partitions: [{topic, partition}]})",
     "ListPartitionReassignments and AlterPartitionReassignments",
     R"({"type":"object","additionalProperties":false,"properties":{"partitions":{"type":"array","items":{"type":"object","required":["topic","partition"],"properties":{"topic":{"type":"string"},"partition":{"type":"integer"}}}}}})",
     200, "Each cancelled partition's result"},
    {"/keel/v1/topics/{topic_name}/replication-factor", "post", "Change a Topic's Replication Factor",
     "Metadata, IncrementalAlterConfigs (throttle) and AlterPartitionReassignments",
     R"({"type":"object","additionalProperties":false,"required":["replication_factor"],"properties":{"replication_factor":{"type":"integer","minimum":1},"dry_run":{"type":"boolean"},"throttle_bytes_per_sec":{"type":"integer","minimum":1,"description":"sets leader/follower.replication.throttled.rate on the brokers involved and *.replication.throttled.replicas on the topics, removed once their reassignments are over"}}})",
     200, "The plan (dry_run) or the started moves"},
    {"/keel/v1/rebalance", "post", "Even out Replicas and Preferred Leaders across the Live Brokers",
     "Metadata, IncrementalAlterConfigs (throttle) and AlterPartitionReassignments",
     R"({"type":"object","additionalProperties":false,"properties":{"dry_run":{"type":"boolean"},"exclude_brokers":{"type":"array","items":{"type":"integer"}},"throttle_bytes_per_sec":{"type":"integer","minimum":1,"description":"sets leader/follower.replication.throttled.rate on the brokers involved and *.replication.throttled.replicas on the topics, removed once their reassignments are over"}}})",
     200, "The moves (dry_run) or the started moves"},
    {"/keel/v1/brokers/{broker_id}/drain", "post", "Move every Leadership off a Broker",
     "Metadata, AlterPartitionReassignments (reorders) and ElectLeaders (preferred)",
     R"({"type":"object","additionalProperties":false,"properties":{"dry_run":{"type":"boolean"}}})", 200,
     "The reorders, each election's result, and the partitions that cannot move (no other in-sync replica)"},
    {"/keel/v1/brokers/{broker_id}/drain", "get", "Drain Progress", "Metadata", nullptr, 200,
     "leaders_left, the partitions the broker still leads"},
    {"/keel/v1/brokers/{broker_id}/decommission", "post", "Move every Replica off a Broker",
     "Metadata, IncrementalAlterConfigs (throttle) and AlterPartitionReassignments",
     R"({"type":"object","additionalProperties":false,"properties":{"dry_run":{"type":"boolean"},"throttle_bytes_per_sec":{"type":"integer","minimum":1,"description":"sets leader/follower.replication.throttled.rate on the brokers involved and *.replication.throttled.replicas on the topics, removed once their reassignments are over"}}})", 200,
     "The moves (dry_run) or the started moves"},
    {"/keel/v1/brokers/{broker_id}/decommission", "get", "Decommission Progress", "Metadata and DescribeLogDirs",
     nullptr, 200, "replicas_left, bytes_left (known on that broker's own listener, else null)"},
    {"/config-schema", "get", "Broker Configuration Schema", nullptr, nullptr, 200,
     "Every broker key: type, default, dynamic_update_mode (read-only, per-broker, cluster-wide)"},
};

boost::json::value param(const std::string& name) {
  boost::json::object p;
  p["name"] = name;
  p["in"] = "path";
  p["required"] = true;
  boost::json::object schema;
  schema["type"] = "string";
  p["schema"] = std::move(schema);
  return p;
}

boost::json::value error_answer(const char* text) {
  boost::json::object ref;
  ref["$ref"] = "#/components/schemas/Error";
  boost::json::object schema;
  schema["schema"] = std::move(ref);
  boost::json::object content;
  content["application/json"] = std::move(schema);
  boost::json::object a;
  a["description"] = text;
  a["content"] = std::move(content);
  return a;
}

boost::json::value operation(const Op& op, const std::string& full_path) {
  boost::json::object o;
  o["summary"] = op.summary;
  o["description"] = op.kafka ? std::string("Runs the Kafka ") + op.kafka +
                                               " requests under the caller's principal; their ACL checks apply."
                                         : std::string("Read from the broker's configuration table.");
  boost::json::array params;
  for (size_t at = full_path.find('{'); at != std::string::npos; at = full_path.find('{', at + 1)) {
    params.push_back(param(full_path.substr(at + 1, full_path.find('}', at) - at - 1)));
  }
  o["parameters"] = std::move(params);
  if (op.body) {
    boost::json::object schema;
    schema["schema"] = *json::parse(op.body);
    boost::json::object content;
    content["application/json"] = std::move(schema);
    boost::json::object body;
    body["required"] = true;
    body["content"] = std::move(content);
    o["requestBody"] = std::move(body);
  }
  boost::json::object answers;
  boost::json::object ok;
  ok["description"] = op.success_text;
  answers[std::to_string(op.success)] = std::move(ok);
  answers["400"] = error_answer("Bad request: malformed JSON, an unknown field, a wrong type, or refused by Kafka");
  answers["401"] = error_answer("Authentication failed");
  answers["403"] = error_answer("Not authorized: the Kafka ACLs refuse it");
  answers["404"] = error_answer("Not found");
  answers["409"] = error_answer("Refused by the resource's state (a group with members: NON_EMPTY_GROUP)");
  answers["5XX"] = error_answer("Server error");
  o["responses"] = std::move(answers);
  return o;
}

}  // namespace

const std::string& keel_openapi_paths() {
  static const std::string kPaths = [] {
    boost::json::object paths;
    std::vector<std::string> done;
    for (const Op& first : kOps) {
      if (std::find(done.begin(), done.end(), first.path) != done.end()) continue;
      done.push_back(first.path);
      // Paths of the broker's own cluster name no cluster (/keel/v1/reassignments...).
      const std::string full = std::string_view(first.path).starts_with("/keel/") ? std::string(first.path)
                                                                                 : kKeelCluster + first.path;
      boost::json::object methods;
      for (const Op& op : kOps) {
        if (std::string_view(op.path) == first.path) methods[op.method] = operation(op, full);
      }
      paths[full] = std::move(methods);
    }
    // "{...}" -> the members alone, followed by a comma, to splice into "paths".
    const std::string text = json::write(paths);
    return text.substr(1, text.size() - 2) + ",";
  }();
  return kPaths;
}

}  // namespace keel::server::rest
