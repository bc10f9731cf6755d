// Produce: validate each partition's batch, append it on the leader, answer
// per acks (0: no answer; 1: after the local append; all: once the high
// watermark passes the batch, or REQUEST_TIMED_OUT after timeout_ms). A
// producer's first transactional batch on a partition whose transaction
// coordinator is on another broker is held until that coordinator has
// verified the partition is in the transaction (KIP-890, txn_verification.h).

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "common/log.h"
#include "protocol/compression.h"
#include "protocol/error_code.h"
#include "protocol/generated/produce_request.h"
#include "protocol/generated/produce_response.h"
#include "protocol/record_batch.h"
#include "server/authorization.h"
#include "server/broker_metrics.h"
#include "server/handlers.h"
#include "server/txn_verification.h"
#include "server/leader_hint.h"
#include "server/quota_throttle.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;
using protocol::ProduceRequest;
using protocol::ProduceResponse;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("produce");
  return l;
}

// The decoded records borrow from the request frame, which this handler owns
// (ctx.frame): find them in it to get a writable span for the in-place append.
std::span<uint8_t> writable(RequestContext& ctx, ByteView view) {
  net::Frame& frame = *ctx.frame;
  if (view.empty() || view.data() < frame.data() || view.data() + view.size() > frame.data() + frame.size()) {
    return {};
  }
  return {frame.data() + (view.data() - frame.data()), view.size()};
}

// KIP-951 (v10+): a partition answered NOT_LEADER_OR_FOLLOWER names the leader
// the metadata has, and the response carries its endpoint.
void add_leader_hints(ProduceResponse& response, int16_t version, const cluster::MetadataCache& metadata,
                      const std::string& listener) {
  if (version < 10) return;
  std::shared_ptr<const cluster::ClusterSnapshot> snapshot;
  for (auto& topic : response.responses) {
    for (auto& p : topic.partition_responses) {
      if (p.error_code != static_cast<int16_t>(ErrorCode::kNotLeaderOrFollower)) continue;
      if (!snapshot) snapshot = metadata.snapshot();
      const LeaderHint hint = leader_hint(*snapshot, topic.name, p.index, listener);
      p.current_leader.leader_id = hint.leader_id;
      p.current_leader.leader_epoch = hint.leader_epoch;
      add_node_endpoint(response.node_endpoints, hint);
    }
  }
}

// One produce request until it is answered: partitions held for KIP-890's
// verification append later, acks=all partitions wait for the high
// watermark, then the response goes out.
struct PendingProduce : std::enable_shared_from_this<PendingProduce> {
  ProduceResponse response;
  Responder responder;
  int16_t version;
  int16_t acks;
  std::mutex mu;  // waiting
  struct Waiting {
    std::shared_ptr<cluster::Partition> partition;
    int64_t last_offset;
    uint64_t leader_term;  // the leadership the records were appended under
    ProduceResponse::PartitionProduceResponse* slot;
    // Replicated under the same leadership: a broker that lost it (and
    // perhaps truncated these records and fetched others since) cannot
    // vouch for them, as Kafka's DelayedProduce requires the leader. An ISR
    // change bumps the leader epoch but keeps the leadership.
    bool still_leading() const { return partition->leads_in_term(leader_term); }
  };
  std::vector<Waiting> waiting;
  std::atomic<bool> any_error{false};
  // The handler's own count plus one per partition held for verification;
  // whoever drops it to zero calls complete().
  std::atomic<int> holds{1};
  int64_t deadline_ms = 0;  // acks=all, on the purgatory's clock

  const Services* services;
  std::string listener;
  std::string connection;  // for the log

  PendingProduce(Responder r, int16_t v, int16_t a, const Services* s, std::string l, std::string c)
      : responder(std::move(r)), version(v), acks(a), services(s), listener(std::move(l)), connection(std::move(c)) {}

  void release() {
    if (holds.fetch_sub(1, std::memory_order_acq_rel) == 1) complete();
  }

  void fail(ProduceResponse::PartitionProduceResponse& rp, const TopicMeters& meters, ErrorCode code,
            std::string message = {}) {
    meters.failed_produce_requests->inc();
    rp.error_code = static_cast<int16_t>(code);
    if (!message.empty()) rp.error_message = std::move(message);
    any_error = true;
  }

  // Appends one partition's validated (and verified) records.
  void append(const std::shared_ptr<cluster::Partition>& partition, const cluster::ValidatedRecords& records,
              const TopicMeters& meters, ProduceResponse::PartitionProduceResponse& rp, int64_t now) {
    cluster::AppendOutcome appended = partition->append_as_leader(records, acks, now);
    if (appended.error != ErrorCode::kNone) {
      fail(rp, meters, appended.error, appended.message);
      return;
    }
    meters.messages_in->inc(static_cast<uint64_t>(records.record_count));
    meters.bytes_in->inc(records.records.size());
    rp.base_offset = appended.base_offset;
    rp.log_append_time_ms = appended.log_append_time;
    rp.log_start_offset = appended.log_start_offset;
    if (acks == -1 && partition->high_watermark() <= appended.last_offset) {
      std::lock_guard lock(mu);
      waiting.push_back({partition, appended.last_offset, appended.leader_term, &rp});
    }
  }

  // Every partition appended or refused: answer, or wait for acks=all.
  void complete() {
    if (acks == 0) {
      // Kafka closes the connection when an acks=0 produce fails: the client
      // gets no response, so the closed socket is how it learns.
      if (any_error) {
        log()->info("closing connection {}: acks=0 produce failed", connection);
        responder.close();
      } else {
        responder.send_nothing();
      }
      return;
    }
    if (waiting.empty()) {
      send();
      return;
    }
    // acks=all with followers still behind: wait for the high watermark.
    std::vector<storage::TopicPartition> watched;
    for (const auto& w : waiting) watched.push_back(w.partition->tp());
    auto self = shared_from_this();
    auto ready = [self] {
      for (const auto& w : self->waiting) {
        if (w.partition->high_watermark() <= w.last_offset && w.still_leading()) return false;
      }
      return true;
    };
    // Inline (Kafka's DelayedProduce): checked and answered on the thread
    // that moves the high watermark, usually a follower's fetch handler. The
    // check reads partition state; finish() takes this request's mu and
    // partition locks, and sends: nothing a notifier holds.
    services->replicas->fetch_purgatory().add(std::move(watched), deadline_ms, ready,
                                              [self](bool expired) { self->finish(expired); },
                                              cluster::DelayedFetchPurgatory::Completion::kInline);
  }

  void send() {
    add_leader_hints(response, version, *services->metadata, listener);
    ByteWriter out;
    response.encode(out, version);
    responder.send(out);
  }

  void finish(bool expired) {
    std::lock_guard lock(mu);
    for (auto& w : waiting) {
      if (w.still_leading() && w.partition->high_watermark() > w.last_offset) {
        // Kafka's DelayedProduce: replicated, but if the ISR has shrunk below
        // min.insync.replicas meanwhile the records are not as safe as
        // acks=all promised: NOT_ENOUGH_REPLICAS_AFTER_APPEND (they stay in the log).
        const auto isr = w.partition->leader_state().isr.size();
        if (static_cast<int32_t>(isr) < w.partition->config()->min_insync_replicas) {
          w.slot->error_code = static_cast<int16_t>(ErrorCode::kNotEnoughReplicasAfterAppend);
          w.slot->error_message = "the ISR shrank to " + std::to_string(isr) +
                                  " replica(s) before the records were replicated; min.insync.replicas is " +
                                  std::to_string(w.partition->config()->min_insync_replicas);
        }
        continue;
      }
      w.slot->error_code =
          static_cast<int16_t>(expired && w.still_leading() ? ErrorCode::kRequestTimedOut : ErrorCode::kNotLeaderOrFollower);
      w.slot->base_offset = -1;
    }
    send();
  }
};

int64_t wall_ms(const Services& services) {
  if (services.now_ms) return services.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A held partition's records outlive the request frame: own them.
std::shared_ptr<cluster::ValidatedRecords> own(cluster::ValidatedRecords&& records) {
  auto held = std::make_shared<cluster::ValidatedRecords>(std::move(records));
  const uint8_t* data = held->records.data();
  const bool owned = !held->owned.empty() && data >= held->owned.data() &&
                     data + held->records.size() <= held->owned.data() + held->owned.size();
  if (!owned) {
    held->owned.assign(held->records.begin(), held->records.end());
    held->records = std::span<uint8_t>(held->owned.data(), held->owned.size());
  }
  return held;
}

std::string verification_message(ErrorCode e) {
  return e == ErrorCode::kInvalidTxnState ? "the partition is not in the producer's transaction" : std::string();
}

// A partition held for the answer of a coordinator on another broker. The
// answer may come before the handler has copied the records out of the
// request frame: whichever of the two comes second goes on.
struct HeldPartition {
  HeldPartition(std::shared_ptr<PendingProduce> p, std::shared_ptr<cluster::Partition> part, TopicMeters m,
                ProduceResponse::PartitionProduceResponse* s, const Services* svc)
      : pending(std::move(p)), partition(std::move(part)), meters(m), slot(s), services(svc) {}

  void answered(ErrorCode e) {
    {
      std::lock_guard lock(mu);
      answer = e;
      if (!records) return;
    }
    go();
  }
  void owned(cluster::ValidatedRecords&& r) {
    {
      std::lock_guard lock(mu);
      records = own(std::move(r));
      if (!answer) return;
    }
    go();
  }

 private:
  void go() {
    if (*answer == ErrorCode::kNone) {
      pending->append(partition, *records, meters, *slot, wall_ms(*services));
    } else {
      pending->fail(*slot, meters, *answer, verification_message(*answer));
    }
    records.reset();
    pending->release();
  }

  std::shared_ptr<PendingProduce> pending;
  std::shared_ptr<cluster::Partition> partition;
  TopicMeters meters;
  ProduceResponse::PartitionProduceResponse* slot;
  const Services* services;
  std::mutex mu;
  std::shared_ptr<cluster::ValidatedRecords> records;  // the handler's copy
  std::optional<ErrorCode> answer;                     // the coordinator's
};

}  // namespace

Result<void> handle_produce(RequestContext& ctx, ByteReader& body, Responder responder) {
  ProduceRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  const int64_t now = ctx.now_ms();
  auto snapshot = ctx.services.metadata->snapshot();
  auto pending = std::make_shared<PendingProduce>(
      responder, version, req.acks, &ctx.services, ctx.connection.listener_name,
      // Only a failed acks=0 produce logs it: no string built for the others.
      req.acks == 0 ? std::to_string(ctx.connection.id) + " from " + ctx.connection.peer : std::string());
  if (ctx.services.replicas) {
    pending->deadline_ms = ctx.services.replicas->fetch_purgatory().now() + std::max<int32_t>(0, req.timeout_ms);
  }
  ProduceResponse& resp = pending->response;
  const bool valid_acks = req.acks == 0 || req.acks == 1 || req.acks == -1;
  // Kafka 3.x: WRITE on each topic (an idempotent producer needs nothing
  // more), and a transactional one WRITE on its TransactionalId too, or
  // every partition is refused.
  RequestAuthorization auth(ctx);
  const bool transactional_id_denied =
      req.transactional_id &&
      !auth.allows(security::AclOperation::kWrite, security::ResourceType::kTransactionalId, *req.transactional_id);

  resp.responses.reserve(req.topic_data.size());
  for (auto& topic : req.topic_data) {
    auto& rt = resp.responses.emplace_back();
    rt.name = topic.name;
    const bool topic_writable = auth.allows_topic(security::AclOperation::kWrite, topic.name);
    TopicMeters& meters = topic_meters(ctx.services, topic.name);
    rt.partition_responses.reserve(topic.partition_data.size());
    for (auto& pd : topic.partition_data) {
      auto& rp = rt.partition_responses.emplace_back();
      rp.index = pd.index;
      rp.base_offset = -1;
      meters.total_produce_requests->inc();
      auto fail = [&](ErrorCode code, std::string message = {}) { pending->fail(rp, meters, code, std::move(message)); };
      if (!valid_acks) {
        fail(ErrorCode::kInvalidRequiredAcks);
        continue;
      }
      if (transactional_id_denied) {
        fail(ErrorCode::kTransactionalIdAuthorizationFailed,
             auth.denied_message(security::AclOperation::kWrite, security::ResourceType::kTransactionalId,
                                 *req.transactional_id));
        continue;
      }
      if (!topic_writable) {
        fail(ErrorCode::kTopicAuthorizationFailed);
        continue;
      }
      const cluster::PartitionInfo* info = snapshot->partition(topic.name, pd.index);
      if (!info) {
        fail(ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      if (const auto* t = snapshot->topic(topic.name); t && t->internal) {
        // Only the coordinators write their internal topics (Kafka's rule).
        fail(ErrorCode::kInvalidTopicException, "cannot append to internal topic " + topic.name);
        continue;
      }
      auto partition = ctx.services.replicas->partition({topic.name, pd.index});
      if (!partition || !partition->is_leader()) {
        fail(ErrorCode::kNotLeaderOrFollower);
        continue;
      }
      if (!pd.records || pd.records->empty()) {
        fail(ErrorCode::kInvalidRecord, "no records");
        continue;
      }
      auto span = writable(ctx, pd.records->bytes());
      if (span.empty()) {
        fail(ErrorCode::kCorruptMessage);
        continue;
      }
      // Kafka's checks by request version (ProduceRequest.validateRecords): from
      // v3 only v2 batches, zstd only from v7. Byte 16 is the magic in both
      // the v2 batch header and a legacy message; byte 22 the low byte of a
      // v2 batch's attributes, whose low three bits name the codec.
      if (version >= 3 && span.size() > 16 && span[16] != protocol::kMagicV2) {
        fail(ErrorCode::kInvalidRecord, "Produce requests with version " + std::to_string(version) +
                                            " are only allowed to contain record batches with magic version 2");
        continue;
      }
      if (version < 7 && span.size() > 22 && span[16] == protocol::kMagicV2 &&
          (span[22] & 0x07) == static_cast<uint8_t>(protocol::Compression::kZstd)) {
        fail(ErrorCode::kUnsupportedCompressionType,
             "Produce requests with version " + std::to_string(version) + " are not allowed to use ZStandard compression");
        continue;
      }
      auto config = partition->config();
      cluster::ValidatedRecords records = cluster::validate_produce_records(span, config->validation, now);
      if (!records.ok()) {
        log()->debug("produce to {}-{} from {} refused: {}", topic.name, pd.index, ctx.connection.peer,
                     records.message);
        fail(records.error, records.message);
        for (auto& e : records.record_errors) {
          auto& re = rp.record_errors.emplace_back();
          re.batch_index = e.batch_index;
          re.batch_index_error_message = std::move(e.message);
        }
        continue;
      }
      if (records.transactional && ctx.services.txn_verifier && ctx.config.transaction_partition_verification_enable) {
        // KIP-890 part 1: the coordinator must have this partition in the
        // producer's transaction before its first batch here. A coordinator
        // on another broker is asked and the append waits for its answer.
        auto held = std::make_shared<HeldPartition>(pending, partition, meters, &rp, &ctx.services);
        pending->holds.fetch_add(1, std::memory_order_relaxed);
        auto verified = ctx.services.txn_verifier->verify(req.transactional_id, records, *partition, req.timeout_ms,
                                                          [held](ErrorCode e) { held->answered(e); });
        if (!verified) {
          held->owned(std::move(records));
          continue;
        }
        pending->holds.fetch_sub(1, std::memory_order_relaxed);
        if (*verified != ErrorCode::kNone) {
          fail(*verified, verification_message(*verified));
          continue;
        }
      }
      pending->append(partition, records, meters, rp, now);
    }
  }

  // producer_byte_rate, recorded after the append (server/quota_throttle.h).
  resp.throttle_time_ms = throttle_produce(ctx.services, ctx.quota.get(), req.acks);
  pending->release();
  return {};
}

}  // namespace keel::server
