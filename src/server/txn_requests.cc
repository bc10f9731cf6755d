// The transaction coordinator's APIs: AddPartitionsToTxn (v0-v3 from
// producers; v4 from brokers, KIP-890's verify_only), AddOffsetsToTxn,
// EndTxn, DescribeTransactions and ListTransactions, and FindCoordinator's
// key type 1. Each checks ACLs, topics and partitions, then calls
// txn::TransactionCoordinator (src/txn) and encodes its answer, which comes
// once the state change is replicated in __transaction_state.
// InitProducerId is in init_producer_id.cc.
//
// Authorization (Kafka's table): WRITE on the transactional id for
// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, plus WRITE on each topic
// added and READ on the group whose offsets are added; CLUSTER_ACTION on the
// cluster for AddPartitionsToTxn v4+ (brokers); DESCRIBE on the
// transactional id for FindCoordinator and DescribeTransactions, and
// ListTransactions lists only the ids the principal may describe.

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "cluster/metadata_cache.h"
#include "cluster/topic_admin.h"
#include "common/log.h"
#include "group/coordinator.h"
#include "protocol/error_code.h"
#include "protocol/generated/add_offsets_to_txn_request.h"
#include "protocol/generated/add_offsets_to_txn_response.h"
#include "protocol/generated/add_partitions_to_txn_request.h"
#include "protocol/generated/add_partitions_to_txn_response.h"
#include "protocol/generated/describe_transactions_request.h"
#include "protocol/generated/describe_transactions_response.h"
#include "protocol/generated/end_txn_request.h"
#include "protocol/generated/end_txn_response.h"
#include "protocol/generated/list_transactions_request.h"
#include "protocol/generated/list_transactions_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "server/txn_requests.h"
#include "txn/coordinator.h"
#include "txn/log_codec.h"

namespace keel::server {

using protocol::ErrorCode;
using security::AclOperation;
using security::ResourceType;
using txn::TopicPartition;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("txn");
  return l;
}

int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }

using TopicResults = std::vector<protocol::AddPartitionsToTxnResponse::AddPartitionsToTxnTopicResult>;
using RequestTopics = std::vector<protocol::AddPartitionsToTxnRequest::AddPartitionsToTxnTopic>;

// Every partition of `topics` with `error`, or with its own from `errors`.
TopicResults topic_results(const RequestTopics& topics, ErrorCode error,
                           const std::map<TopicPartition, ErrorCode>& errors = {}) {
  TopicResults out;
  for (const auto& t : topics) {
    auto& rt = out.emplace_back();
    rt.name = t.name;
    for (int32_t p : t.partitions) {
      auto it = errors.find({t.name, p});
      rt.results_by_partition.push_back({p, code(it == errors.end() ? error : it->second), {}});
    }
  }
  return out;
}

// AddPartitionsToTxn's per-partition checks (KafkaApis): WRITE on the topic
// (TOPIC_AUTHORIZATION_FAILED), a partition the metadata knows
// (UNKNOWN_TOPIC_OR_PARTITION); with any refusal, the others are
// OPERATION_NOT_ATTEMPTED. Empty when every partition may be added.
std::map<TopicPartition, ErrorCode> refused_partitions(RequestContext& ctx, RequestAuthorization& auth,
                                                        const RequestTopics& topics,
                                                        std::set<TopicPartition>* accepted) {
  std::map<TopicPartition, ErrorCode> refused;
  auto snapshot = ctx.services.metadata->snapshot();
  for (const auto& t : topics) {
    const bool writable = auth.allows_topic(AclOperation::kWrite, t.name);
    const cluster::TopicInfo* info = snapshot->topic(t.name);
    for (int32_t p : t.partitions) {
      if (!writable) {
        refused[{t.name, p}] = ErrorCode::kTopicAuthorizationFailed;
      } else if (!info || info->deleting() || !snapshot->partition(t.name, p)) {
        refused[{t.name, p}] = ErrorCode::kUnknownTopicOrPartition;
      } else {
        accepted->insert({t.name, p});
      }
    }
  }
  if (!refused.empty()) {
    for (const auto& tp : *accepted) refused[tp] = ErrorCode::kOperationNotAttempted;
    accepted->clear();
  }
  return refused;
}

// AddPartitionsToTxn v4+ from a broker: one result per transaction,
// answered once every non-verify transaction's write is done.
void add_partitions_batched(RequestContext& ctx, const protocol::AddPartitionsToTxnRequest& req,
                            Responder responder) {
  const int16_t version = ctx.api_version();
  auto resp = std::make_shared<protocol::AddPartitionsToTxnResponse>();
  if (!cluster_allowed(ctx, AclOperation::kClusterAction)) {
    resp->error_code = code(ErrorCode::kClusterAuthorizationFailed);
    return send_encoded(responder, *resp, version);
  }
  auto* txns = ctx.services.txns;
  struct Gather {
    std::mutex mu;
    size_t waiting = 1;  // + one while the loop below runs
  };
  auto gather = std::make_shared<Gather>();
  auto finish = [gather, resp, responder, version]() mutable {
    {
      std::lock_guard lock(gather->mu);
      if (--gather->waiting > 0) return;
    }
    send_encoded(responder, *resp, version);
  };
  resp->results_by_transaction.resize(req.transactions.size());
  for (size_t i = 0; i < req.transactions.size(); ++i) {
    const auto& t = req.transactions[i];
    auto& result = resp->results_by_transaction[i];
    result.transactional_id = t.transactional_id;
    std::set<TopicPartition> partitions;
    for (const auto& topic : t.topics) {
      for (int32_t p : topic.partitions) partitions.insert({topic.name, p});
    }
    if (!txns) {
      result.topic_results = topic_results(t.topics, ErrorCode::kCoordinatorNotAvailable);
    } else if (t.verify_only) {
      result.topic_results = topic_results(
          t.topics, ErrorCode::kNone,
          txns->verify_partitions(t.transactional_id, t.producer_id, t.producer_epoch, partitions));
    } else {
      {
        std::lock_guard lock(gather->mu);
        ++gather->waiting;
      }
      // The vector is sized above, so `result` stays where it is.
      txns->add_partitions_to_txn(t.transactional_id, t.producer_id, t.producer_epoch, partitions, version,
                                  [&result, topics = t.topics, gather, finish](ErrorCode error) mutable {
                                    {
                                      std::lock_guard lock(gather->mu);
                                      result.topic_results = topic_results(topics, error);
                                    }
                                    finish();
                                  });
    }
  }
  finish();
}

}  // namespace

Result<void> handle_add_partitions_to_txn(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::AddPartitionsToTxnRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  if (version >= 4) {
    add_partitions_batched(ctx, req, responder);
    return {};
  }
  const RequestTopics& topics = req.v3_and_below_topics;
  auto answer = [responder, version, topics](ErrorCode error,
                                             const std::map<TopicPartition, ErrorCode>& errors) mutable {
    protocol::AddPartitionsToTxnResponse resp;
    resp.results_by_topic_v3_and_below = topic_results(topics, error, errors);
    send_encoded(responder, resp, version);
  };
  RequestAuthorization auth(ctx);
  if (!auth.allows(AclOperation::kWrite, ResourceType::kTransactionalId, req.v3_and_below_transactional_id)) {
    answer(ErrorCode::kTransactionalIdAuthorizationFailed, {});
    return {};
  }
  std::set<TopicPartition> accepted;
  auto refused = refused_partitions(ctx, auth, topics, &accepted);
  if (!refused.empty()) {
    answer(ErrorCode::kNone, refused);
    return {};
  }
  if (!ctx.services.txns) {
    answer(ErrorCode::kCoordinatorNotAvailable, {});
    return {};
  }
  ctx.services.txns->add_partitions_to_txn(req.v3_and_below_transactional_id, req.v3_and_below_producer_id,
                                           req.v3_and_below_producer_epoch, accepted, version,
                                           [answer](ErrorCode error) mutable { answer(error, {}); });
  return {};
}

namespace {

// The answer of a request whose response is only an error code.
template <typename Response>
txn::ErrorCallback error_answer(Responder responder, int16_t version) {
  return [responder, version](ErrorCode error) mutable {
    Response resp;
    resp.error_code = code(error);
    send_encoded(responder, resp, version);
  };
}

// What AddOffsetsToTxn and EndTxn check first: WRITE on the transactional
// id, and a coordinator to ask. NONE when the coordinator may be asked.
ErrorCode producer_request_error(RequestContext& ctx, RequestAuthorization& auth, const std::string& id) {
  if (!auth.allows(AclOperation::kWrite, ResourceType::kTransactionalId, id)) {
    return ErrorCode::kTransactionalIdAuthorizationFailed;
  }
  return ctx.services.txns ? ErrorCode::kNone : ErrorCode::kCoordinatorNotAvailable;
}

}  // namespace

Result<void> handle_add_offsets_to_txn(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::AddOffsetsToTxnRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto answer = error_answer<protocol::AddOffsetsToTxnResponse>(responder, version);
  RequestAuthorization auth(ctx);
  if (ErrorCode e = producer_request_error(ctx, auth, req.transactional_id); e != ErrorCode::kNone) {
    answer(e);
  } else if (!auth.allows_group(AclOperation::kRead, req.group_id)) {
    answer(ErrorCode::kGroupAuthorizationFailed);
  } else if (!ctx.services.groups) {
    answer(ErrorCode::kCoordinatorNotAvailable);
  } else {
    ctx.services.txns->add_offsets_to_txn(req.transactional_id, req.producer_id, req.producer_epoch,
                                          ctx.services.groups->partition_for(req.group_id), version, answer);
  }
  return {};
}

Result<void> handle_end_txn(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::EndTxnRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  auto answer = error_answer<protocol::EndTxnResponse>(responder, version);
  RequestAuthorization auth(ctx);
  if (ErrorCode e = producer_request_error(ctx, auth, req.transactional_id); e != ErrorCode::kNone) {
    answer(e);
  } else {
    ctx.services.txns->end_txn(req.transactional_id, req.producer_id, req.producer_epoch, req.committed, version,
                               answer);
  }
  return {};
}

Result<void> handle_describe_transactions(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DescribeTransactionsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::DescribeTransactionsResponse resp;
  RequestAuthorization auth(ctx);
  for (const auto& id : req.transactional_ids) {
    auto& st = resp.transaction_states.emplace_back();
    st.transactional_id = id;
    st.producer_id = -1;
    st.producer_epoch = -1;
    st.transaction_start_time_ms = -1;
    if (!auth.allows(AclOperation::kDescribe, ResourceType::kTransactionalId, id)) {
      st.error_code = code(ErrorCode::kTransactionalIdAuthorizationFailed);
      continue;
    }
    if (!ctx.services.txns) {
      st.error_code = code(ErrorCode::kCoordinatorNotAvailable);
      continue;
    }
    txn::TxnDescription d = ctx.services.txns->describe(id);
    st.error_code = code(d.error);
    if (d.error != ErrorCode::kNone) continue;
    st.transaction_state = d.state;
    st.transaction_timeout_ms = d.timeout_ms;
    st.transaction_start_time_ms = d.start_ms;
    st.producer_id = d.producer_id;
    st.producer_epoch = d.producer_epoch;
    std::map<std::string, std::vector<int32_t>> topics;
    for (const auto& tp : d.partitions) topics[tp.topic].push_back(tp.partition);
    for (auto& [name, parts] : topics) st.topics.push_back({name, std::move(parts), {}});
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_list_transactions(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::ListTransactionsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::ListTransactionsResponse resp;
  if (!ctx.services.txns) {
    resp.error_code = code(ErrorCode::kCoordinatorNotAvailable);
  } else {
    const std::set<int64_t> producer_ids(req.producer_id_filters.begin(), req.producer_id_filters.end());
    const std::set<std::string> states(req.state_filters.begin(), req.state_filters.end());
    txn::TxnListResult listed = ctx.services.txns->list(producer_ids, states);
    resp.error_code = code(listed.error);
    resp.unknown_state_filters = listed.unknown_state_filters;
    RequestAuthorization auth(ctx);
    const int64_t now = ctx.now_ms();
    for (const auto& t : listed.transactions) {
      // v1 (KIP-994): only transactions running longer than DurationFilter
      // ms. As Kafka's listTransactionStates compares now - txnStartTimestamp,
      // an id without a transaction (start -1) passes every filter.
      if (req.duration_filter >= 0 && now - t.start_ms <= req.duration_filter) continue;
      // Only the ids the principal may describe, without a log line per id
      // left out (Kafka filters quietly too).
      if (!auth.allows_quietly(AclOperation::kDescribe, ResourceType::kTransactionalId, t.transactional_id)) {
        continue;
      }
      resp.transaction_states.push_back({t.transactional_id, t.producer_id, t.state, {}});
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

CoordinatorLocation find_transaction_coordinator(RequestContext& ctx, const std::string& transactional_id) {
  CoordinatorLocation loc;
  loc.error = ErrorCode::kCoordinatorNotAvailable;  // until the end says otherwise
  auto* txns = ctx.services.txns;
  if (!txns) return loc;
  if (transactional_id.empty()) {
    loc.error = ErrorCode::kInvalidRequest;
    return loc;
  }
  auto snapshot = ctx.services.metadata->snapshot();
  const cluster::TopicInfo* topic = snapshot->topic(txn::kTransactionStateTopic);
  if (!topic) {
    const int16_t rf = std::max<int16_t>(1, ctx.config.transaction_state_log_replication_factor);
    if (snapshot->brokers.size() < static_cast<size_t>(rf)) {
      // As for __consumer_offsets: not placed on fewer replicas than asked.
      static std::atomic<int64_t> last_warned{0};
      const int64_t now = ctx.now_ms();
      int64_t last = last_warned.load();
      if (now - last >= 10000 && last_warned.compare_exchange_strong(last, now)) {
        log()->warn("{} live brokers, fewer than transaction.state.log.replication.factor {}: {} is not created "
                    "yet (set it to 1 on a single broker)",
                    snapshot->brokers.size(), rf, txn::kTransactionStateTopic);
      }
    } else if (ctx.services.topics) {
      cluster::NewTopic nt;
      nt.name = txn::kTransactionStateTopic;
      nt.num_partitions = ctx.config.transaction_state_log_num_partitions;
      nt.replication_factor = rf;
      // min.isr above the replication factor would refuse every write.
      const int32_t min_isr = std::clamp<int32_t>(ctx.config.transaction_state_log_min_isr, 1, rf);
      nt.configs = {{"cleanup.policy", "compact"},
                    {"compression.type", "uncompressed"},
                    {"min.insync.replicas", std::to_string(min_isr)},
                    {"unclean.leader.election.enable", "false"},
                    {"segment.bytes", std::to_string(ctx.config.transaction_state_log_segment_bytes)}};
      cluster::AdminResult r = ctx.services.topics->create_topic(nt, false, nullptr);
      if (r.ok()) {
        log()->info("created {} with {} partitions, replication factor {}", nt.name, nt.num_partitions, rf);
      } else if (r.error != ErrorCode::kTopicAlreadyExists) {
        log()->warn("cannot create {}: {} ({})", nt.name, protocol::error_name(r.error), r.message);
      }
    }
    return loc;
  }
  if (topic->deleting()) return loc;
  const int32_t partition = txns->partition_for(transactional_id);
  const cluster::PartitionInfo* p = snapshot->partition(txn::kTransactionStateTopic, partition);
  if (!p || p->leader < 0) return loc;
  // Named the leader before the partition is loaded here: ask again shortly.
  if (p->leader == ctx.broker.broker_id && !txns->coordinator_epoch(partition)) return loc;
  const cluster::EndpointInfo* ep = snapshot->endpoint(p->leader, ctx.connection.listener_name);
  if (!ep) return loc;
  loc.error = ErrorCode::kNone;
  loc.node_id = p->leader;
  loc.host = ep->host;
  loc.port = ep->port;
  return loc;
}

}  // namespace keel::server
