// /keel/v1 consumer-group administration v3 lacks: resetting a group's
// committed offsets (what kafka-consumer-groups --reset-offsets does) and
// deleting a group. Each step is the Kafka request an admin client sends,
// under the caller's principal: DescribeGroups (the group must have no
// members), OffsetFetch (current offsets), Metadata (a topic's partitions),
// ListOffsets (log start, log end, a timestamp's offset), OffsetCommit;
// DeleteGroups. The group must be coordinated, and the partitions led, by
// this broker (as for the v3 lag routes).
#include <map>

#include <boost/json.hpp>

#include "protocol/generated/delete_groups_request.h"
#include "protocol/generated/delete_groups_response.h"
#include "protocol/generated/describe_groups_request.h"
#include "protocol/generated/describe_groups_response.h"
#include "protocol/generated/list_offsets_request.h"
#include "protocol/generated/list_offsets_response.h"
#include "protocol/generated/offset_commit_request.h"
#include "protocol/generated/offset_commit_response.h"
#include "protocol/generated/offset_fetch_request.h"
#include "protocol/generated/offset_fetch_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;

constexpr int64_t kEarliest = -2;
constexpr int64_t kLatest = -1;

enum class ResetTo { kEarliest, kLatest, kTimestamp, kOffset, kShiftBy };

struct Target {
  int64_t current = -1;  // committed offset, -1 when none
  int64_t start = -1;
  int64_t end = -1;
  int64_t at_timestamp = -1;  // first offset at or after the timestamp, -1 when none
  int64_t next = -1;
};

// One reset in progress, shared by the chain of Kafka calls.
struct Reset {
  std::string group;
  ResetTo to = ResetTo::kEarliest;
  int64_t value = 0;
  bool dry_run = false;
  // Named topics: explicit partitions, or empty for all of the topic's.
  std::optional<std::map<std::string, std::vector<int32_t>>> topics;
  std::map<std::pair<std::string, int32_t>, Target> targets;
};

std::optional<ResetTo> parse_to(const std::string& s) {
  if (s == "earliest") return ResetTo::kEarliest;
  if (s == "latest") return ResetTo::kLatest;
  if (s == "timestamp") return ResetTo::kTimestamp;
  if (s == "offset") return ResetTo::kOffset;
  if (s == "shift-by") return ResetTo::kShiftBy;
  return std::nullopt;
}

// Reads the body into `reset`; false and *refusal (400) when it is not valid.
bool read_reset_body(const http::Request& req, Reset& reset, http::Response* refusal) {
  auto body = parse_body(req.body,
                         {{"topics", Kind::array}, {"to", Kind::string, true}, {"value", Kind::int64},
                          {"dry_run", Kind::bool_}},
                         refusal);
  if (!body) return false;
  auto to = parse_to(json::string_member(*body, "to"));
  if (!to) {
    *refusal = error(400, "field 'to' must be one of earliest, latest, timestamp, offset, shift-by");
    return false;
  }
  reset.to = *to;
  const boost::json::value* value = json::find(*body, "value");
  const bool has_value = value && !value->is_null();
  const bool needs_value = *to == ResetTo::kTimestamp || *to == ResetTo::kOffset || *to == ResetTo::kShiftBy;
  if (needs_value != has_value) {
    *refusal = error(400, needs_value ? "field 'value' is required with 'to': " + json::string_member(*body, "to")
                                      : "field 'value' is not taken with 'to': " + json::string_member(*body, "to"));
    return false;
  }
  if (has_value) reset.value = value->as_int64();
  if ((*to == ResetTo::kTimestamp || *to == ResetTo::kOffset) && reset.value < 0) {
    *refusal = error(400, "field 'value' must be 0 or more");
    return false;
  }
  if (const boost::json::value* d = json::find(*body, "dry_run"); d && d->is_bool()) reset.dry_run = d->as_bool();
  if (const boost::json::value* topics = json::find(*body, "topics"); topics && topics->is_array()) {
    reset.topics.emplace();
    for (const auto& t : topics->as_array()) {
      if (!check_object(t, {{"topic_name", Kind::string, true}, {"partitions", Kind::array}}, "topics[]",
                        refusal)) {
        return false;
      }
      const std::string name(json::string_member(t, "topic_name"));
      if (name.empty()) {
        *refusal = error(400, "field 'topic_name' in topics[] must not be empty");
        return false;
      }
      auto& parts = (*reset.topics)[name];
      if (const boost::json::value* ps = json::find(t, "partitions"); ps && ps->is_array()) {
        for (const auto& p : ps->as_array()) {
          if (!p.is_int64() || p.as_int64() < 0 || p.as_int64() > INT32_MAX) {
            *refusal = error(400, "partitions of topic '" + name + "' must be partition ids (integers, 0 or more)");
            return false;
          }
          parts.push_back(static_cast<int32_t>(p.as_int64()));
        }
        if (parts.empty()) {
          *refusal = error(400, "partitions of topic '" + name + "' is empty (leave it out for all partitions)");
          return false;
        }
      }
    }
    if (reset.topics->empty()) {
      *refusal = error(400, "field 'topics' is empty (leave it out for the topics the group committed)");
      return false;
    }
  }
  return true;
}

// The request's entry for `name`: the last one, or a new one (the targets
// come sorted by topic).
template <class Topics>
auto& topic_entry(Topics& topics, const std::string& name) {
  if (topics.empty() || topics.back().name != name) {
    topics.emplace_back();
    topics.back().name = name;
  }
  return topics.back();
}

protocol::ListOffsetsRequest list_offsets(const Reset& reset, int64_t timestamp) {
  protocol::ListOffsetsRequest lo;
  lo.replica_id = -1;
  for (const auto& [tp, target] : reset.targets) {
    protocol::ListOffsetsRequest::ListOffsetsPartition p;
    p.partition_index = tp.second;
    p.timestamp = timestamp;
    topic_entry(lo.topics, tp.first).partitions.push_back(p);
  }
  return lo;
}

// The new offset of each target, as kafka-consumer-groups computes it:
// clamped to [log start, log end]. Returns a refusal when one cannot be computed.
std::optional<http::Response> plan(Reset& reset) {
  for (auto& [tp, t] : reset.targets) {
    int64_t next = 0;
    switch (reset.to) {
      case ResetTo::kEarliest: next = t.start; break;
      case ResetTo::kLatest: next = t.end; break;
      case ResetTo::kTimestamp: next = t.at_timestamp >= 0 ? t.at_timestamp : t.end; break;
      case ResetTo::kOffset: next = reset.value; break;
      case ResetTo::kShiftBy:
        if (t.current < 0) {
          return error(400, "cannot shift the offset of " + tp.first + "-" + std::to_string(tp.second) +
                                ": the group has no committed offset there");
        }
        next = t.current + reset.value;
        break;
    }
    t.next = std::clamp(next, t.start, t.end);
  }
  return std::nullopt;
}

boost::json::value plan_json(const Reset& reset) {
  boost::json::object v;
  v["kind"] = "KeelConsumerGroupOffsetReset";
  v["consumer_group_id"] = reset.group;
  v["dry_run"] = reset.dry_run;
  boost::json::array data;
  for (const auto& [tp, t] : reset.targets) {
    boost::json::object p;
    p["topic_name"] = tp.first;
    p["partition_id"] = tp.second;
    p["current_offset"] = t.current >= 0 ? boost::json::value(t.current) : boost::json::value();
    p["new_offset"] = t.next;
    p["log_start_offset"] = t.start;
    p["log_end_offset"] = t.end;
    data.push_back(std::move(p));
  }
  v["data"] = std::move(data);
  return v;
}

// Puts the answer's offsets into the targets through `slot`; the first
// partition error is the refusal.
std::optional<http::Response> take_offsets(Reset& reset, const protocol::ListOffsetsResponse& r,
                                           int64_t Target::*slot) {
  for (const auto& t : r.topics) {
    for (const auto& p : t.partitions) {
      if (p.error_code != 0) return keel_kafka_error(p.error_code, t.name + "-" + std::to_string(p.partition_index));
      auto it = reset.targets.find({t.name, p.partition_index});
      if (it != reset.targets.end()) it->second.*slot = p.offset;
    }
  }
  for (const auto& [tp, target] : reset.targets) {
    if (slot != &Target::at_timestamp && target.*slot < 0) {
      return error(503, kKafkaRetriable, "no offsets answered for " + tp.first + "-" + std::to_string(tp.second));
    }
  }
  return std::nullopt;
}

}  // namespace

void RestApi::reset_group_offsets(const http::Request& req, const Caller& who, http::Reply reply) {
  auto reset = std::make_shared<Reset>();
  reset->group = req.param("consumer_group_id");
  http::Response refusal;
  if (!read_reset_body(req, *reset, &refusal)) return reply(std::move(refusal));

  // The offsets are committed, then the plan answered.
  auto commit = [this, who, reset, reply] {
    if (reset->dry_run) return reply(json_response(200, plan_json(*reset)));
    protocol::OffsetCommitRequest oc;
    oc.group_id = reset->group;
    for (const auto& [tp, t] : reset->targets) {
      protocol::OffsetCommitRequest::OffsetCommitRequestPartition p;
      p.partition_index = tp.second;
      p.committed_offset = t.next;
      topic_entry(oc.topics, tp.first).partitions.push_back(p);
    }
    bridge_.call<protocol::OffsetCommitResponse>(who, oc, 8, [reset, reply](Result<protocol::OffsetCommitResponse> r) {
      if (!r) return reply(bridge_error(r.error()));
      for (const auto& t : r->topics) {
        for (const auto& p : t.partitions) {
          if (p.error_code != 0) return reply(keel_kafka_error(p.error_code, "committing " + t.name));
        }
      }
      reply(json_response(200, plan_json(*reset)));
    });
  };

  // Log start, log end and (for a timestamp) the timestamp's offset.
  auto offsets = [this, who, reset, reply, commit] {
    bridge_.call<protocol::ListOffsetsResponse>(
        who, list_offsets(*reset, kEarliest), 7, [this, who, reset, reply, commit](Result<protocol::ListOffsetsResponse> r) {
          if (!r) return reply(bridge_error(r.error()));
          if (auto no = take_offsets(*reset, *r, &Target::start)) return reply(std::move(*no));
          bridge_.call<protocol::ListOffsetsResponse>(
              who, list_offsets(*reset, kLatest), 7, [this, who, reset, reply, commit](Result<protocol::ListOffsetsResponse> r) {
                if (!r) return reply(bridge_error(r.error()));
                if (auto no = take_offsets(*reset, *r, &Target::end)) return reply(std::move(*no));
                auto finish = [reset, reply, commit] {
                  if (auto no = plan(*reset)) return reply(std::move(*no));
                  commit();
                };
                if (reset->to != ResetTo::kTimestamp) return finish();
                bridge_.call<protocol::ListOffsetsResponse>(
                    who, list_offsets(*reset, reset->value), 7,
                    [reset, reply, finish](Result<protocol::ListOffsetsResponse> r) {
                      if (!r) return reply(bridge_error(r.error()));
                      if (auto no = take_offsets(*reset, *r, &Target::at_timestamp)) return reply(std::move(*no));
                      finish();
                    });
              });
        });
  };

  // The partitions: named ones, all of a named topic's (Metadata), or the
  // group's committed ones; with their committed offsets (OffsetFetch).
  auto targets = [this, who, reset, reply, offsets](std::map<std::pair<std::string, int32_t>, int64_t> committed) {
    if (!reset->topics) {
      for (const auto& [tp, offset] : committed) reset->targets[tp].current = offset;
      if (reset->targets.empty()) {
        return reply(error(400, "group " + reset->group + " has committed no offsets: name the topics to reset"));
      }
      return offsets();
    }
    std::vector<std::string> whole;
    for (const auto& [topic, parts] : *reset->topics) {
      if (parts.empty()) whole.push_back(topic);
      for (int32_t p : parts) reset->targets[{topic, p}].current = committed.count({topic, p}) ? committed[{topic, p}] : -1;
    }
    if (whole.empty()) return offsets();
    metadata(who, whole, [reset, reply, offsets, committed](Result<protocol::MetadataResponse> r) mutable {
      if (!r) return reply(bridge_error(r.error()));
      for (const auto& t : r->topics) {
        const std::string name = t.name.value_or("");
        if (t.error_code != 0) return reply(keel_kafka_error(t.error_code, name));
        for (const auto& p : t.partitions) {
          reset->targets[{name, p.partition_index}].current =
              committed.count({name, p.partition_index}) ? committed[{name, p.partition_index}] : -1;
        }
      }
      offsets();
    });
  };

  protocol::DescribeGroupsRequest dg;
  dg.groups.push_back(reset->group);
  bridge_.call<protocol::DescribeGroupsResponse>(
      who, dg, 5, [this, who, reset, reply, targets](Result<protocol::DescribeGroupsResponse> r) {
        if (!r) return reply(bridge_error(r.error()));
        if (r->groups.size() != 1) return reply(error(500, kKafkaError, "DescribeGroups answered no group"));
        const auto& g = r->groups[0];
        if (g.error_code != 0) return reply(keel_kafka_error(g.error_code, ""));
        // As kafka-consumer-groups: only an inactive group's offsets are reset.
        if (g.group_state != "Empty" && g.group_state != "Dead") {
          return reply(keel_kafka_error(static_cast<int16_t>(protocol::ErrorCode::kNonEmptyGroup),
                                        "Assignments can only be reset if the group '" + reset->group +
                                            "' is inactive, but the current state is " + g.group_state + "."));
        }
        protocol::OffsetFetchRequest of;
        of.group_id = reset->group;
        of.topics = std::nullopt;
        bridge_.call<protocol::OffsetFetchResponse>(who, of, 7, [reply, targets](Result<protocol::OffsetFetchResponse> r) {
          if (!r) return reply(bridge_error(r.error()));
          if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, ""));
          std::map<std::pair<std::string, int32_t>, int64_t> committed;
          for (const auto& t : r->topics) {
            for (const auto& p : t.partitions) {
              if (p.error_code == 0 && p.committed_offset >= 0) committed[{t.name, p.partition_index}] = p.committed_offset;
            }
          }
          targets(std::move(committed));
        });
      });
}

void RestApi::delete_group(const http::Request& req, const Caller& who, http::Reply reply) {
  protocol::DeleteGroupsRequest dg;
  dg.groups_names.push_back(req.param("consumer_group_id"));
  bridge_.call<protocol::DeleteGroupsResponse>(who, dg, 2, [reply](Result<protocol::DeleteGroupsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->results.size() != 1) return reply(error(500, kKafkaError, "DeleteGroups answered no group"));
    const auto& g = r->results[0];
    if (g.error_code != 0) return reply(keel_kafka_error(g.error_code, "group " + g.group_id));
    reply(no_content());
  });
}

}  // namespace keel::server::rest
