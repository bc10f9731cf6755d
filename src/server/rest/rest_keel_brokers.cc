// /keel/v1 broker maintenance: drain (every leadership off a broker) and
// decommission (every replica off it), each with its progress. A drain
// reorders the replica lists of the partitions the broker leads or prefers,
// keeping the replica set (an AlterPartitionReassignments the controller
// completes at once when the replicas are in sync), then runs a preferred
// ElectLeaders on them, as Kafka's rules have it: only an in-sync replica is
// elected. A decommission is a reassignment of the broker's replicas onto the
// other live brokers (rest_keel_reassign_plan.cc), with the optional throttle.
#include <algorithm>

#include <boost/json.hpp>

#include "protocol/generated/alter_partition_reassignments_request.h"
#include "protocol/generated/alter_partition_reassignments_response.h"
#include "protocol/generated/describe_log_dirs_request.h"
#include "protocol/generated/describe_log_dirs_response.h"
#include "protocol/generated/elect_leaders_request.h"
#include "protocol/generated/elect_leaders_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;

std::optional<int32_t> broker_param(const http::Request& req, http::Response* refusal) {
  auto id = parse_int(req.param("broker_id"), 0, INT32_MAX);
  if (!id) *refusal = error(400, "broker_id must be an integer, 0 or more");
  return id ? std::optional<int32_t>(static_cast<int32_t>(*id)) : std::nullopt;
}

bool is_live(const std::vector<PlanBroker>& brokers, int32_t id) {
  return std::any_of(brokers.begin(), brokers.end(), [id](const auto& b) { return b.id == id; });
}

boost::json::value partitions_json(const std::vector<PlanPartition>& parts) {
  boost::json::array a;
  for (const auto& p : parts) {
    boost::json::object v;
    v["topic"] = p.topic;
    v["partition"] = p.partition;
    v["leader"] = p.leader;
    v["replicas"] = ints_json(p.replicas);
    a.push_back(std::move(v));
  }
  return boost::json::array(std::move(a));
}

}  // namespace

// {"dry_run"}: the reorders and elections that take every leadership off the broker.
void RestApi::drain_broker(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto id = broker_param(req, &refusal);
  if (!id) return reply(std::move(refusal));
  auto body = parse_body(req.body, {{"dry_run", Kind::bool_}}, &refusal);
  if (!body) return reply(std::move(refusal));
  const bool dry_run = flag(*body, "dry_run");
  reassign_view(who, std::nullopt, !dry_run, reply, [this, who, reply, broker = *id, dry_run](ReassignView view) {
    if (!is_live(view.brokers, broker)) return reply(error(404, "broker " + std::to_string(broker) + " is not live"));
    std::vector<PlanPartition> stuck;
    std::vector<Move> moves = plan_drain(view.partitions, broker, &stuck);
    auto answer = [broker, dry_run, moves, stuck](boost::json::array elections) {
      boost::json::object v;
      v["kind"] = "KeelBrokerDrain";
      v["broker_id"] = broker;
      v["dry_run"] = dry_run;
      v["moves"] = moves_json(moves);
      v["elections"] = std::move(elections);
      v["stuck"] = partitions_json(stuck);
      return json_response(200, v);
    };
    if (dry_run || moves.empty()) return reply(answer({}));
    protocol::AlterPartitionReassignmentsRequest ar;
    protocol::ElectLeadersRequest el;
    el.election_type = 0;  // preferred
    el.topic_partitions.emplace();
    for (const auto& m : moves) {
      if (el.topic_partitions->empty() || el.topic_partitions->back().topic != m.topic) {
        el.topic_partitions->emplace_back().topic = m.topic;
      }
      el.topic_partitions->back().partitions.push_back(m.partition);
      if (m.target == m.current) continue;  // led, but not preferred: only the election
      if (ar.topics.empty() || ar.topics.back().name != m.topic) ar.topics.emplace_back().name = m.topic;
      auto& p = ar.topics.back().partitions.emplace_back();
      p.partition_index = m.partition;
      p.replicas = m.target;
    }
    auto elect = [this, who, reply, el, answer]() {
      bridge_.call<protocol::ElectLeadersResponse>(who, el, 2, [reply, answer](Result<protocol::ElectLeadersResponse> r) {
        if (!r) return reply(bridge_error(r.error()));
        if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, ""));
        boost::json::array results;
        for (const auto& t : r->replica_election_results) {
          for (const auto& p : t.partition_result) {
            results.push_back(partition_result(t.topic, p.partition_id, p.error_code, p.error_message));
          }
        }
        reply(answer(std::move(results)));
      });
    };
    if (ar.topics.empty()) return elect();
    bridge_.call<protocol::AlterPartitionReassignmentsResponse>(
        who, ar, 0, [reply, elect](Result<protocol::AlterPartitionReassignmentsResponse> r) {
          if (!r) return reply(bridge_error(r.error()));
          if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, r->error_message.value_or("")));
          elect();
        });
  });
}

// The partitions the broker still leads.
void RestApi::drain_progress(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto id = broker_param(req, &refusal);
  if (!id) return reply(std::move(refusal));
  reassign_view(who, std::nullopt, false, reply, [reply, broker = *id](ReassignView view) {
    std::vector<PlanPartition> led;
    int preferred = 0;
    for (const auto& p : view.partitions) {
      if (p.leader == broker) led.push_back(p);
      if (!p.replicas.empty() && p.replicas.front() == broker) ++preferred;
    }
    boost::json::object v;
    v["kind"] = "KeelBrokerDrainProgress";
    v["broker_id"] = broker;
    v["live"] = is_live(view.brokers, broker);
    v["leaders_left"] = static_cast<int64_t>(led.size());
    v["preferred_leader_of"] = preferred;
    v["drained"] = led.empty();
    v["partitions"] = partitions_json(led);
    reply(json_response(200, v));
  });
}

// {"dry_run", "throttle_bytes_per_sec"}: every replica of the broker onto the other live brokers.
void RestApi::decommission_broker(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto id = broker_param(req, &refusal);
  if (!id) return reply(std::move(refusal));
  auto body = parse_body(req.body, {{"dry_run", Kind::bool_}, {"throttle_bytes_per_sec", Kind::int64}}, &refusal);
  if (!body) return reply(std::move(refusal));
  const bool dry_run = flag(*body, "dry_run");
  auto throttle = read_throttle(*body, &refusal);
  if (!throttle) return reply(std::move(refusal));
  reassign_view(who, std::nullopt, !dry_run, reply,
                [this, who, reply, broker = *id, dry_run, throttle = *throttle](ReassignView view) {
                  std::vector<PlanPartition> on_it;
                  for (const auto& p : view.partitions) {
                    if (std::count(p.replicas.begin(), p.replicas.end(), broker)) on_it.push_back(p);
                  }
                  std::vector<PlanBroker> rest;
                  for (const auto& b : view.brokers) {
                    if (b.id != broker) rest.push_back(b);
                  }
                  std::string why;
                  auto moves = plan_placement(on_it, rest, 0, &why, view.partitions);
                  if (!moves) {
                    return reply(error(400, kBadRequestKafka, "INVALID_REPLICATION_FACTOR: " + why,
                                       static_cast<int16_t>(protocol::ErrorCode::kInvalidReplicationFactor)));
                  }
                  submit_moves(who, std::move(*moves), dry_run, throttle, reply);
                });
}

// The replicas still on the broker and, when this is that broker, their bytes on disk.
void RestApi::decommission_progress(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto id = broker_param(req, &refusal);
  if (!id) return reply(std::move(refusal));
  reassign_view(who, std::nullopt, false, reply, [this, who, reply, broker = *id](ReassignView view) {
    std::vector<PlanPartition> left;
    for (const auto& p : view.partitions) {
      if (std::count(p.replicas.begin(), p.replicas.end(), broker)) left.push_back(p);
    }
    auto answer = [reply, broker, left](boost::json::value bytes) {
      boost::json::object v;
      v["kind"] = "KeelBrokerDecommissionProgress";
      v["broker_id"] = broker;
      v["replicas_left"] = static_cast<int64_t>(left.size());
      v["bytes_left"] = std::move(bytes);
      v["done"] = left.empty();
      v["partitions"] = partitions_json(left);
      reply(json_response(200, v));
    };
    // DescribeLogDirs answers for the broker it runs on only.
    if (broker != options_.broker_id) return answer(boost::json::value());
    protocol::DescribeLogDirsRequest dr;
    dr.topics = std::nullopt;
    bridge_.call<protocol::DescribeLogDirsResponse>(who, dr, 4, [answer, left](Result<protocol::DescribeLogDirsResponse> d) {
      if (!d || d->error_code != 0) return answer(boost::json::value());
      int64_t bytes = 0;
      for (const auto& dir : d->results) {
        for (const auto& t : dir.topics) {
          for (const auto& p : t.partitions) {
            const bool still = std::any_of(left.begin(), left.end(), [&](const auto& x) {
              return x.topic == t.name && x.partition == p.partition_index;
            });
            if (still) bytes += p.partition_size;
          }
        }
      }
      answer(boost::json::value(bytes));
    });
  });
}

}  // namespace keel::server::rest
