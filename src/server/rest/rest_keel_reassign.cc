// /keel/v1 partition reassignment: a generated plan, submitting moves (dry
// run, throttle), the ongoing ones with their progress, cancelling, the
// replication factor of a topic, and a cluster rebalance. Each runs the Kafka
// requests kafka-reassign-partitions runs (Metadata, AlterPartitionReassignments,
// ListPartitionReassignments, IncrementalAlterConfigs for the throttle) under
// the caller's principal; plans come from rest_keel_reassign_plan.cc.
#include <algorithm>
#include <map>

#include <boost/json.hpp>

#include "protocol/generated/alter_partition_reassignments_request.h"
#include "protocol/generated/alter_partition_reassignments_response.h"
#include "protocol/generated/describe_log_dirs_request.h"
#include "protocol/generated/describe_log_dirs_response.h"
#include "protocol/generated/list_partition_reassignments_request.h"
#include "protocol/generated/list_partition_reassignments_response.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;
using protocol::MetadataResponse;

// Topic -> partition -> replicas, from a request body's "partitions".
using Wanted = std::map<std::string, std::map<int32_t, std::optional<std::vector<int32_t>>>>;

// [{"topic","partition"[,"replicas"]}] -> Wanted; false and *refusal otherwise.
bool read_partitions(const boost::json::value& list, bool with_replicas, Wanted* out, http::Response* refusal) {
  std::vector<Field> fields = {{"topic", Kind::string, true}, {"partition", Kind::int64, true}};
  if (with_replicas) fields.push_back({"replicas", Kind::array, true});
  for (const boost::json::value& p : list.as_array()) {
    if (!check_object(p, fields, "partitions[]", refusal)) return false;
    const int64_t id = json::find(p, "partition")->as_int64();
    if (id < 0 || id > INT32_MAX) {
      *refusal = error(400, "partition must be 0 or more");
      return false;
    }
    std::optional<std::vector<int32_t>> replicas;
    if (with_replicas) {
      replicas = int_list(*json::find(p, "replicas"), "replicas", refusal);
      if (!replicas) return false;
      if (replicas->empty()) {
        *refusal = error(400, "replicas of " + json::string_member(p, "topic") + "-" + std::to_string(id) + " is empty");
        return false;
      }
    }
    (*out)[json::string_member(p, "topic")][static_cast<int32_t>(id)] = std::move(replicas);
  }
  return true;
}

std::vector<std::string> topics_of(const Wanted& w) {
  std::vector<std::string> topics;
  for (const auto& [t, ps] : w) topics.push_back(t);
  return topics;
}

}  // namespace

std::optional<std::vector<int32_t>> int_list(const boost::json::value& v, std::string_view what, http::Response* refusal) {
  std::vector<int32_t> out;
  for (const boost::json::value& x : v.as_array()) {
    if (!x.is_int64() || x.as_int64() < 0 || x.as_int64() > INT32_MAX) {
      *refusal = error(400, std::string(what) + " must hold broker ids (integers, 0 or more)");
      return std::nullopt;
    }
    if (std::find(out.begin(), out.end(), static_cast<int32_t>(x.as_int64())) != out.end()) {
      *refusal = error(400, std::string(what) + " names broker " + std::to_string(x.as_int64()) + " twice");
      return std::nullopt;
    }
    out.push_back(static_cast<int32_t>(x.as_int64()));
  }
  return out;
}

boost::json::array ints_json(const std::vector<int32_t>& ids) {
  boost::json::array a;
  for (int32_t id : ids) a.push_back(boost::json::value(id));
  return a;
}

boost::json::array moves_json(const std::vector<Move>& moves) {
  boost::json::array a;
  for (const auto& m : moves) {
    boost::json::object v;
    v["topic"] = m.topic;
    v["partition"] = m.partition;
    v["current_replicas"] = ints_json(m.current);
    v["target_replicas"] = ints_json(m.target);
    a.push_back(std::move(v));
  }
  return a;
}

http::Response misdirected(int32_t controller) {
  auto r = error(421, kMisdirected,
                 controller < 0 ? std::string("no controller is elected; try again")
                                : "broker " + std::to_string(controller) +
                                      " is the controller: call its HTTP listener (reassignments are its requests)",
                 static_cast<int16_t>(protocol::ErrorCode::kNotController));
  if (controller >= 0) r.headers.emplace_back("Keel-Controller-Id", std::to_string(controller));
  return r;
}

void RestApi::register_reassign_routes(http::Routes& routes) {
  add(routes, "POST", "/keel/v1/reassignments/plan", &RestApi::plan_reassignment);
  add(routes, "POST", "/keel/v1/reassignments", &RestApi::submit_reassignments);
  add(routes, "GET", "/keel/v1/reassignments", &RestApi::list_reassignments);
  add(routes, "DELETE", "/keel/v1/reassignments", &RestApi::cancel_reassignments);
  add(routes, "POST", "/keel/v1/topics/{topic_name}/replication-factor", &RestApi::change_replication_factor);
  add(routes, "POST", "/keel/v1/rebalance", &RestApi::rebalance);
  add(routes, "POST", "/keel/v1/brokers/{broker_id}/drain", &RestApi::drain_broker);
  add(routes, "GET", "/keel/v1/brokers/{broker_id}/drain", &RestApi::drain_progress);
  add(routes, "POST", "/keel/v1/brokers/{broker_id}/decommission", &RestApi::decommission_broker);
  add(routes, "GET", "/keel/v1/brokers/{broker_id}/decommission", &RestApi::decommission_progress);
}

void RestApi::reassign_view(const Caller& who, std::optional<std::vector<std::string>> topics, bool on_controller,
                            http::Reply reply, std::function<void(ReassignView)> then) {
  const bool named = topics.has_value();
  metadata(who, std::move(topics), [this, named, on_controller, reply, then](Result<MetadataResponse> m) {
    if (!m) return reply(bridge_error(m.error()));
    if (on_controller && m->controller_id != options_.broker_id) return reply(misdirected(m->controller_id));
    ReassignView view;
    view.controller = m->controller_id;
    for (const auto& b : m->brokers) view.brokers.push_back({b.node_id, b.rack});
    for (const auto& t : m->topics) {
      // Named topics must all be there and describable; the others are those the caller may see.
      if (t.error_code != 0) {
        if (named) return reply(keel_kafka_error(t.error_code, t.name.value_or("")));
        continue;
      }
      for (const auto& p : t.partitions) {
        view.partitions.push_back({t.name.value_or(""), p.partition_index, p.replica_nodes, p.isr_nodes, p.leader_id});
      }
    }
    std::sort(view.partitions.begin(), view.partitions.end(),
              [](const auto& a, const auto& b) { return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition); });
    then(std::move(view));
  });
}

// {"topics":[names] (all the caller may describe when absent), "brokers":[ids]
// (the live brokers when absent), "replication_factor": N (each partition's when absent)}.
void RestApi::plan_reassignment(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body,
                         {{"topics", Kind::array}, {"brokers", Kind::array}, {"replication_factor", Kind::int64}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  std::optional<std::vector<std::string>> topics;
  if (const boost::json::value* ts = json::find(*body, "topics"); ts && ts->is_array()) {
    topics.emplace();
    for (const boost::json::value& t : ts->as_array()) {
      if (!t.is_string() || t.as_string().empty()) return reply(error(400, "topics must hold topic names"));
      topics->emplace_back(t.get_string());
    }
    if (topics->empty()) return reply(error(400, "field 'topics' is empty (leave it out for every topic)"));
  }
  std::optional<std::vector<int32_t>> brokers;
  if (const boost::json::value* bs = json::find(*body, "brokers"); bs && bs->is_array()) {
    brokers = int_list(*bs, "brokers", &refusal);
    if (!brokers) return reply(std::move(refusal));
  }
  const boost::json::value* rf_field = json::find(*body, "replication_factor");
  const int64_t rf = rf_field && rf_field->is_int64() ? rf_field->as_int64() : 0;
  if (rf_field && rf_field->is_int64() && (rf < 1 || rf > INT16_MAX)) {
    return reply(error(400, kBadRequestKafka, "INVALID_REPLICATION_FACTOR: replication_factor must be 1 or more",
                       static_cast<int16_t>(protocol::ErrorCode::kInvalidReplicationFactor)));
  }
  reassign_view(who, topics, false, reply, [reply, brokers, rf](ReassignView view) {
    std::vector<PlanBroker> target;
    if (!brokers) target = view.brokers;
    for (int32_t id : brokers.value_or(std::vector<int32_t>{})) {
      auto it = std::find_if(view.brokers.begin(), view.brokers.end(), [id](const auto& b) { return b.id == id; });
      if (it == view.brokers.end()) return reply(not_live(id));
      target.push_back(*it);
    }
    std::string why;
    auto moves = plan_placement(view.partitions, target, static_cast<int32_t>(rf), &why);
    if (!moves) {
      return reply(error(400, kBadRequestKafka, "INVALID_REPLICATION_FACTOR: " + why,
                         static_cast<int16_t>(protocol::ErrorCode::kInvalidReplicationFactor)));
    }
    boost::json::object v;
    v["kind"] = "KeelReassignmentPlan";
    v["moves"] = moves_json(*moves);
    reply(json_response(200, v));
  });
}

// {"partitions":[{"topic","partition","replicas"}], "dry_run", "throttle_bytes_per_sec"}.
void RestApi::submit_reassignments(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body,
                         {{"partitions", Kind::array, true}, {"dry_run", Kind::bool_},
                          {"throttle_bytes_per_sec", Kind::int64}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  Wanted wanted;
  if (!read_partitions(*json::find(*body, "partitions"), true, &wanted, &refusal)) return reply(std::move(refusal));
  if (wanted.empty()) return reply(error(400, "field 'partitions' is empty"));
  const bool dry_run = flag(*body, "dry_run");
  auto throttle = read_throttle(*body, &refusal);
  if (!throttle) return reply(std::move(refusal));
  reassign_view(who, topics_of(wanted), !dry_run, reply,
                [this, who, reply, wanted, dry_run, throttle = *throttle](ReassignView view) {
                  std::vector<Move> moves;
                  for (const auto& [topic, parts] : wanted) {
                    for (const auto& [p, replicas] : parts) {
                      auto it = std::find_if(view.partitions.begin(), view.partitions.end(), [&](const auto& x) {
                        return x.topic == topic && x.partition == p;
                      });
                      if (it == view.partitions.end()) {
                        return reply(keel_kafka_error(static_cast<int16_t>(protocol::ErrorCode::kUnknownTopicOrPartition),
                                                      topic + "-" + std::to_string(p)));
                      }
                      for (int32_t r : *replicas) {
                        if (std::none_of(view.brokers.begin(), view.brokers.end(), [r](const auto& b) { return b.id == r; })) {
                          return reply(not_live(r));
                        }
                      }
                      moves.push_back({topic, p, it->replicas, *replicas});
                    }
                  }
                  submit_moves(who, std::move(moves), dry_run, throttle, reply);
                });
}

// {"replication_factor", "dry_run", "throttle_bytes_per_sec"}: the plan onto the
// live brokers (kept replicas stay, new ones rack-aware), submitted unless dry_run.
void RestApi::change_replication_factor(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body,
                         {{"replication_factor", Kind::int64, true}, {"dry_run", Kind::bool_},
                          {"throttle_bytes_per_sec", Kind::int64}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  const int64_t rf = json::find(*body, "replication_factor")->as_int64();
  if (rf < 1 || rf > INT16_MAX) {
    return reply(error(400, kBadRequestKafka, "INVALID_REPLICATION_FACTOR: replication_factor must be 1 or more",
                       static_cast<int16_t>(protocol::ErrorCode::kInvalidReplicationFactor)));
  }
  const bool dry_run = flag(*body, "dry_run");
  auto throttle = read_throttle(*body, &refusal);
  if (!throttle) return reply(std::move(refusal));
  reassign_view(who, std::vector<std::string>{req.param("topic_name")}, !dry_run, reply,
                [this, who, reply, rf, dry_run, throttle = *throttle](ReassignView view) {
                  std::string why;
                  auto moves = plan_placement(view.partitions, view.brokers, static_cast<int32_t>(rf), &why);
                  if (!moves) {
                    return reply(error(400, kBadRequestKafka, "INVALID_REPLICATION_FACTOR: " + why,
                                       static_cast<int16_t>(protocol::ErrorCode::kInvalidReplicationFactor)));
                  }
                  submit_moves(who, std::move(*moves), dry_run, throttle, reply);
                });
}

// {"dry_run", "exclude_brokers", "throttle_bytes_per_sec"}.
void RestApi::rebalance(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body,
                         {{"dry_run", Kind::bool_}, {"exclude_brokers", Kind::array},
                          {"throttle_bytes_per_sec", Kind::int64}},
                         &refusal);
  if (!body) return reply(std::move(refusal));
  std::vector<int32_t> excluded;
  if (const boost::json::value* ex = json::find(*body, "exclude_brokers"); ex && ex->is_array()) {
    auto ids = int_list(*ex, "exclude_brokers", &refusal);
    if (!ids) return reply(std::move(refusal));
    excluded = std::move(*ids);
  }
  const bool dry_run = flag(*body, "dry_run");
  auto throttle = read_throttle(*body, &refusal);
  if (!throttle) return reply(std::move(refusal));
  reassign_view(who, std::nullopt, !dry_run, reply,
                [this, who, reply, excluded, dry_run, throttle = *throttle](ReassignView view) {
                  std::vector<PlanBroker> target;
                  for (const auto& b : view.brokers) {
                    if (std::find(excluded.begin(), excluded.end(), b.id) == excluded.end()) target.push_back(b);
                  }
                  std::string why;
                  auto moves = plan_rebalance(view.partitions, target, &why);
                  if (!moves) {
                    return reply(error(400, kBadRequestKafka, "INVALID_REPLICATION_FACTOR: " + why,
                                       static_cast<int16_t>(protocol::ErrorCode::kInvalidReplicationFactor)));
                  }
                  submit_moves(who, std::move(*moves), dry_run, throttle, reply);
                });
}

// Each ongoing reassignment: replicas, adding and removing ones, and for each
// adding replica whether it is in sync and, where this broker holds the
// replica or the leader, their sizes on disk (DescribeLogDirs answers for its
// own broker only).
void RestApi::list_reassignments(const http::Request&, const Caller& who, http::Reply reply) {
  reassign_view(who, std::nullopt, true, reply, [this, who, reply](ReassignView view) {
    protocol::ListPartitionReassignmentsRequest lr;
    lr.topics = std::nullopt;
    bridge_.call<protocol::ListPartitionReassignmentsResponse>(
        who, lr, 0, [this, who, reply, view](Result<protocol::ListPartitionReassignmentsResponse> r) {
          if (!r) return reply(bridge_error(r.error()));
          if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, r->error_message.value_or("")));
          protocol::DescribeLogDirsRequest dr;
          dr.topics = std::nullopt;
          bridge_.call<protocol::DescribeLogDirsResponse>(
              who, dr, 4, [this, who, reply, view, ongoing = *r](Result<protocol::DescribeLogDirsResponse> d) {
                std::map<std::pair<std::string, int32_t>, int64_t> local;  // this broker's replicas' sizes
                if (d) {
                  for (const auto& dir : d->results) {
                    for (const auto& t : dir.topics) {
                      for (const auto& p : t.partitions) {
                        if (!p.is_future_key) local[{t.name, p.partition_index}] += p.partition_size;
                      }
                    }
                  }
                }
                std::set<std::string> busy;
                boost::json::array data;
                for (const auto& t : ongoing.topics) {
                  busy.insert(t.name);
                  for (const auto& p : t.partitions) {
                    auto state = std::find_if(view.partitions.begin(), view.partitions.end(), [&](const auto& x) {
                      return x.topic == t.name && x.partition == p.partition_index;
                    });
                    const bool known = state != view.partitions.end();
                    auto size_on = [&](int32_t broker) {
                      auto it = local.find({t.name, p.partition_index});
                      return broker == options_.broker_id && it != local.end() ? boost::json::value(it->second) : boost::json::value();
                    };
                    boost::json::array adding;
                    for (int32_t a : p.adding_replicas) {
                      boost::json::object x;
                      x["broker_id"] = a;
                      x["in_sync"] = known && std::count(state->isr.begin(), state->isr.end(), a) > 0;
                      x["size_bytes"] = size_on(a);
                      x["leader_size_bytes"] = known ? size_on(state->leader) : boost::json::value();
                      adding.push_back(std::move(x));
                    }
                    boost::json::object v;
                    v["topic"] = t.name;
                    v["partition"] = p.partition_index;
                    v["replicas"] = ints_json(p.replicas);
                    v["adding_replicas"] = ints_json(p.adding_replicas);
                    v["removing_replicas"] = ints_json(p.removing_replicas);
                    v["leader"] = known ? boost::json::value(state->leader) : boost::json::value();
                    v["isr"] = known ? ints_json(state->isr) : boost::json::value();
                    v["adding"] = std::move(adding);
                    data.push_back(std::move(v));
                  }
                }
                clear_finished_throttles(who, busy, [reply, data = std::move(data)](std::vector<std::string> cleared) mutable {
                  boost::json::object v;
                  v["kind"] = "KeelReassignmentList";
                  v["data"] = std::move(data);
                  boost::json::array c;
                  for (auto& t : cleared) c.push_back(boost::json::value(std::move(t)));
                  v["throttles_removed"] = std::move(c);
                  reply(json_response(200, v));
                });
              });
        });
  });
}

// Cancels every ongoing reassignment, or those of {"partitions":[{"topic","partition"}]}:
// their replicas go back to what they were (AlterPartitionReassignments with null replicas).
void RestApi::cancel_reassignments(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body, {{"partitions", Kind::array}}, &refusal);
  if (!body) return reply(std::move(refusal));
  std::optional<Wanted> wanted;
  if (const boost::json::value* ps = json::find(*body, "partitions"); ps && ps->is_array()) {
    wanted.emplace();
    if (!read_partitions(*ps, false, &*wanted, &refusal)) return reply(std::move(refusal));
    if (wanted->empty()) return reply(error(400, "field 'partitions' is empty (leave it out to cancel all)"));
  }
  reassign_view(who, std::vector<std::string>{}, true, reply, [this, who, reply, wanted](ReassignView) {
    protocol::ListPartitionReassignmentsRequest lr;
    lr.topics = std::nullopt;
    bridge_.call<protocol::ListPartitionReassignmentsResponse>(
        who, lr, 0, [this, who, reply, wanted](Result<protocol::ListPartitionReassignmentsResponse> r) {
          if (!r) return reply(bridge_error(r.error()));
          if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, r->error_message.value_or("")));
          Wanted cancel;
          if (wanted) {
            cancel = *wanted;
          } else {
            for (const auto& t : r->topics) {
              for (const auto& p : t.partitions) cancel[t.name][p.partition_index] = std::nullopt;
            }
          }
          protocol::AlterPartitionReassignmentsRequest ar;
          for (const auto& [topic, parts] : cancel) {
            auto& t = ar.topics.emplace_back();
            t.name = topic;
            for (const auto& [p, unused] : parts) {
              auto& rp = t.partitions.emplace_back();
              rp.partition_index = p;
              rp.replicas = std::nullopt;
            }
          }
          auto answer = [this, who, reply](boost::json::array results) {
            // Whatever is still ongoing keeps its throttle; the rest is cleared.
            protocol::ListPartitionReassignmentsRequest again;
            again.topics = std::nullopt;
            bridge_.call<protocol::ListPartitionReassignmentsResponse>(
                who, again, 0,
                [this, who, reply, results](Result<protocol::ListPartitionReassignmentsResponse> left) {
                  std::set<std::string> busy;
                  if (left) {
                    for (const auto& t : left->topics) busy.insert(t.name);
                  }
                  clear_finished_throttles(who, busy, [reply, results](std::vector<std::string>) {
                    boost::json::object v;
                    v["kind"] = "KeelReassignmentCancel";
                    v["cancelled"] = boost::json::array(results);
                    reply(json_response(200, v));
                  });
                });
          };
          if (ar.topics.empty()) return answer({});
          bridge_.call<protocol::AlterPartitionReassignmentsResponse>(
              who, ar, 0, [reply, answer](Result<protocol::AlterPartitionReassignmentsResponse> a) {
                if (!a) return reply(bridge_error(a.error()));
                if (a->error_code != 0) return reply(keel_kafka_error(a->error_code, a->error_message.value_or("")));
                boost::json::array results;
                for (const auto& t : a->responses) {
                  for (const auto& p : t.partitions) results.push_back(partition_result(t.name, p.partition_index,
                                                                                        p.error_code, p.error_message));
                }
                answer(std::move(results));
              });
        });
  });
}

}  // namespace keel::server::rest
