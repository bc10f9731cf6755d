// Fetch: reads each partition as file ranges and answers with the record
// bytes spliced in by sendfile (no copy through user space). Long polling:
// with fewer than min_bytes available the request waits in the purgatory
// until enough data arrives or max_wait_ms passes (KIP-74 size rules: the
// first batch of the first partition with data is returned whole even when
// it is larger than max_bytes).
//
// Fetch v0-3 (pre-0.11 consumers) read legacy message sets: those answers
// are down-converted in memory (magic 0 for v0-1, magic 1 for v2-3, record
// headers dropped, zstd refused with UNSUPPORTED_COMPRESSION_TYPE), as Kafka
// does — no zero-copy for them.
//
// Incremental fetch sessions (KIP-227, v7+): the FetchSessionCache resolves
// which partitions a request reads (an incremental request: the session's)
// and which of them the response carries (only those with news).
//
// v12+: a partition's last_fetched_epoch is checked against the leader-epoch
// cache, and a fetcher whose log diverged gets diverging_epoch (KIP-320,
// KIP-595) at once instead of records. v16+: NOT_LEADER_OR_FOLLOWER and
// FENCED_LEADER_EPOCH carry the current leader and its endpoint (KIP-951).
//
// Follower fetching (KIP-392): a consumer's Fetch v11+ may read from a
// follower, up to the follower's high watermark; the leader, with a replica
// selector (replica.selector.class), answers a consumer with a rack
// preferred_read_replica instead of records when another replica suits it.
//
// Transactions (v4+): every partition answer carries the last stable offset.
// A read_committed consumer reads whole batches below it only, and gets the
// aborted transactions overlapping the records returned (sorted by first
// offset, an empty list when none) so it drops their records; a
// read_uncommitted one gets a null list, as Kafka sends. A waiting
// read_committed fetch is woken when a marker moves the stable offset (the
// marker's append, or the high watermark passing it, notifies the purgatory).
//
// Replication throttles (cluster/replication_quota.h): a follower fetch gets
// no records for a throttled partition whose follower is out of the ISR while
// the leader quota is exceeded; what throttled partitions send is recorded.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string>

#include "cluster/fetch_session.h"
#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "cluster/replica_selector.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/fetch_request.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/legacy_records.h"
#include "protocol/record_batch.h"
#include "server/authorization.h"
#include "server/broker_metrics.h"
#include "server/handlers.h"
#include "server/leader_hint.h"
#include "server/quota_throttle.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;
using protocol::FetchRequest;
using protocol::FetchResponse;

// The batches of `ranges` as one legacy message set of `magic`, from
// `fetch_offset` on, at most `max_bytes` (at least one message). Errors are
// Kafka error codes.
ErrorCode down_convert(const std::vector<storage::FileRange>& ranges, int64_t fetch_offset, int8_t magic,
                       int64_t max_bytes, Bytes& out) {
  for (const auto& r : ranges) {
    Bytes raw(static_cast<size_t>(r.length));
    if (::pread(r.file->fd(), raw.data(), raw.size(), r.position) != r.length) return ErrorCode::kKafkaStorageError;
    protocol::BatchIterator it{ByteView(raw)};
    Bytes scratch;
    while (true) {
      auto next = it.next();
      if (!next) return ErrorCode::kCorruptMessage;
      if (!*next) break;
      const protocol::RecordBatchView& batch = **next;
      if (batch.is_control()) continue;
      if (batch.compression() == protocol::Compression::kZstd) return ErrorCode::kUnsupportedCompressionType;
      auto records = batch.decode_records(scratch);
      if (!records) return ErrorCode::kCorruptMessage;
      const bool log_append = batch.timestamp_type() == protocol::TimestampType::kLogAppendTime;
      for (const auto& rec : *records) {
        if (rec.offset < fetch_offset) continue;
        const int8_t attributes = (magic >= 1 && log_append) ? protocol::kTimestampTypeBit : 0;
        Bytes m = protocol::build_legacy_message(magic, rec.offset, attributes, magic == 0 ? -1 : rec.timestamp,
                                                 rec.key, rec.value);
        if (!out.empty() && static_cast<int64_t>(out.size() + m.size()) > max_bytes) return ErrorCode::kNone;
        out.insert(out.end(), m.begin(), m.end());
      }
    }
  }
  return ErrorCode::kNone;
}

// Everything a fetch needs after the handler returns: the request is not kept.
struct FetchState {
  int16_t version;
  int32_t replica_id;
  std::string rack_id;  // the consumer's client.rack (v11+), "" = none
  std::string listener_name;  // the connection's, for the leader endpoints of v16+
  int32_t min_bytes;
  int32_t max_bytes;
  cluster::Isolation isolation;
  cluster::FetchContext context;  // the partitions to read, the session
  cluster::MetadataCache* metadata;
  cluster::ReplicaManager* replicas;
  Responder responder;
  // Authorization, decided once when the request arrived (Kafka decides it
  // per request too): a follower without CLUSTER_ACTION gets every partition
  // refused, a consumer the topics it may not READ.
  bool follower_refused = false;
  std::set<std::string> unreadable_topics;
  const Services* services = nullptr;  // for the topics' meters (broker_metrics.h)
  std::shared_ptr<RequestQuota> quota;  // consumers only: consumer_byte_rate (server/quota_throttle.h)
};

struct PartitionOutcome {
  FetchResponse::PartitionData data;
  cluster::FetchPartitionResult result;
  std::vector<net::FileChunk> files;
  bool throttled = false;  // a leader-throttled replica: its bytes count against the leader quota
};

struct FetchOutcome {
  std::vector<PartitionOutcome> partitions;  // one per context partition, in order
  int64_t bytes = 0;
  bool has_error = false;
  bool has_diverging_epoch = false;  // answered at once, as an error is
  bool has_preferred_replica = false;  // answered at once too (KIP-392)
};

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// KIP-392 on the leader: the replica the selector prefers for this consumer,
// or -1 to read here (no selector, not the leader, or the leader suits).
int32_t preferred_read_replica(const FetchState& st, const cluster::ClusterSnapshot& snapshot,
                               const cluster::Partition& partition, int64_t fetch_offset) {
  const cluster::ReplicaSelectorKind kind = st.replicas->replica_selector();
  if (st.replica_id >= 0 || st.version < 11 || kind == cluster::ReplicaSelectorKind::kNone) return -1;
  std::vector<cluster::ReplicaView> candidates = partition.read_replica_candidates(fetch_offset, wall_ms());
  if (candidates.empty()) return -1;
  for (auto& c : candidates) {
    auto b = snapshot.brokers.find(c.broker_id);
    if (b == snapshot.brokers.end()) continue;  // not live: no endpoint to send the consumer to
    c.rack = b->second.rack;
  }
  const int32_t leader = st.replicas->broker_id();
  const int32_t chosen = cluster::select_read_replica(kind, st.rack_id, candidates, leader);
  return chosen == leader || !snapshot.brokers.contains(chosen) ? -1 : chosen;
}

FetchOutcome read_all(const FetchState& st) {
  FetchOutcome out;
  auto snapshot = st.metadata->snapshot();
  int64_t remaining = st.max_bytes;
  out.partitions.reserve(st.context.partitions.size());
  for (const auto& want : st.context.partitions) {
    auto& po = out.partitions.emplace_back();
    auto& rp = po.data;
    rp.partition_index = want.key.partition;
    rp.high_watermark = -1;
    rp.last_stable_offset = -1;
    rp.log_start_offset = -1;
    rp.aborted_transactions.reset();  // null unless a read_committed read fills it (Kafka's answer)
    auto fail = [&](ErrorCode code) {
      rp.error_code = static_cast<int16_t>(code);
      po.result.error = code;
      out.has_error = true;
    };
    if (st.follower_refused) {
      fail(ErrorCode::kTopicAuthorizationFailed);
      continue;
    }
    if (want.key.topic.empty()) {
      fail(ErrorCode::kUnknownTopicId);
      continue;
    }
    if (st.unreadable_topics.contains(want.key.topic)) {
      fail(ErrorCode::kTopicAuthorizationFailed);
      continue;
    }
    // A session keeps the name its id had when the partition joined it; once
    // the topic is deleted (and perhaps created again under that name) the id
    // names nothing, and the new topic's records are not the ones asked for.
    if (st.version >= 13) {
      const cluster::TopicInfo* info = snapshot->topic(want.key.topic_id);
      if (!info || info->name != want.key.topic) {
        fail(ErrorCode::kUnknownTopicId);
        continue;
      }
    }
    if (!snapshot->partition(want.key.topic, want.key.partition)) {
      fail(st.version >= 13 ? ErrorCode::kUnknownTopicId : ErrorCode::kUnknownTopicOrPartition);
      continue;
    }
    auto partition = st.replicas->partition({want.key.topic, want.key.partition});
    if (!partition) {
      fail(ErrorCode::kNotLeaderOrFollower);
      continue;
    }
    // Fetch below v10 predates zstd: Kafka refuses by the topic's codec
    // (whatever the stored batches hold), as a client this old could not
    // decompress what a zstd topic serves.
    if (st.version < 10 && partition->config()->validation.target_codec == protocol::Compression::kZstd) {
      fail(ErrorCode::kUnsupportedCompressionType);
      continue;
    }
    if (const int32_t preferred = preferred_read_replica(st, *snapshot, *partition, want.fetch_offset);
        preferred >= 0) {
      // Kafka skips the read and names the replica, with the leader's offsets.
      if (ErrorCode e = partition->check_leader_epoch(want.current_leader_epoch); e != ErrorCode::kNone) {
        fail(e);
        continue;
      }
      // The stable offset first: it never passes the high watermark read after it.
      rp.last_stable_offset = partition->last_stable_offset();
      rp.high_watermark = partition->high_watermark();
      rp.log_start_offset = partition->log_start_offset();
      rp.preferred_read_replica = preferred;
      po.result.high_watermark = rp.high_watermark;
      po.result.last_stable_offset = rp.last_stable_offset;
      po.result.log_start_offset = rp.log_start_offset;
      po.result.has_records = true;  // so an incremental session carries the answer
      out.has_preferred_replica = true;
      continue;
    }
    const int64_t limit =
        std::min<int64_t>(std::max(0, want.partition_max_bytes), std::max<int64_t>(0, remaining));
    // Consumers on Fetch v11+ may read from a follower (KIP-392); older ones and followers only from the leader.
    const bool leader_only = st.replica_id >= 0 || st.version < 11;
    cluster::ReadOutcome read =
        partition->read(want.fetch_offset, limit, /*min_one_batch=*/out.bytes == 0, want.current_leader_epoch,
                        st.isolation, st.replica_id >= 0, st.version >= 12 ? want.last_fetched_epoch : -1,
                        leader_only);
    rp.high_watermark = read.high_watermark;
    rp.last_stable_offset = read.last_stable_offset;
    rp.log_start_offset = read.log_start_offset;
    po.result.high_watermark = read.high_watermark;
    po.result.last_stable_offset = read.last_stable_offset;
    po.result.log_start_offset = read.log_start_offset;
    if (read.error != ErrorCode::kNone) {
      fail(read.error);
      continue;
    }
    // read_committed (v4+): the aborted transactions overlapping the records
    // returned, sorted by first offset (an empty list when there are none);
    // read_uncommitted and followers: null, so no client drops anything.
    if (read.aborted_transactions) {
      auto& aborted = rp.aborted_transactions.emplace();
      aborted.reserve(read.aborted_transactions->size());
      for (const storage::AbortedTxn& txn : *read.aborted_transactions) {
        auto& a = aborted.emplace_back();
        a.producer_id = txn.producer_id;
        a.first_offset = txn.first_offset;
      }
    }
    if (read.diverging_epoch) {
      rp.diverging_epoch.epoch = read.diverging_epoch->first;
      rp.diverging_epoch.end_offset = read.diverging_epoch->second;
      po.result.diverging_epoch = true;
      out.has_diverging_epoch = true;
      continue;
    }
    // A follower's fetch offset is its log end: the leader's high watermark
    // follows the ISR's slowest member.
    if (st.replica_id >= 0) {
      partition->update_follower(st.replica_id, want.fetch_offset, wall_ms());
      // Kafka's shouldLeaderThrottle: a throttled replica out of the ISR gets
      // nothing while the leader quota is exceeded.
      po.throttled = partition->config()->leader_throttled.contains(want.key.partition, st.replicas->broker_id());
      if (po.throttled && !read.ranges.empty() && st.replicas->leader_quota().exceeded(wall_ms())) {
        const auto isr = partition->leader_state().isr;
        if (std::find(isr.begin(), isr.end(), st.replica_id) == isr.end()) {
          read.ranges.clear();
          read.bytes = 0;
        }
      }
    }
    if (read.ranges.empty()) continue;
    po.result.has_records = true;
    if (st.version < 4) {
      Bytes legacy;
      const int8_t magic = st.version <= 1 ? 0 : 1;
      if (ErrorCode e = down_convert(read.ranges, want.fetch_offset, magic, limit, legacy); e != ErrorCode::kNone) {
        fail(e);
        continue;
      }
      out.bytes += static_cast<int64_t>(legacy.size());
      remaining -= static_cast<int64_t>(legacy.size());
      rp.records = protocol::Records::own(std::move(legacy));
      continue;
    }
    for (auto& r : read.ranges) po.files.push_back({r.file, r.file->fd(), r.position, r.length});
    rp.records = protocol::Records::external(static_cast<size_t>(read.bytes), 0);  // splice id set in send()
    out.bytes += read.bytes;
    remaining -= read.bytes;
  }
  return out;
}

// KIP-951 (v16+): a partition answered NOT_LEADER_OR_FOLLOWER or
// FENCED_LEADER_EPOCH names the leader the metadata has, with its epoch, and
// the response lists that leader's endpoint on the client's listener, so the
// client moves on without a Metadata round trip.
void add_current_leader(const FetchState& st, const cluster::ClusterSnapshot& snapshot,
                        const cluster::FetchPartitionKey& key, FetchResponse::PartitionData& rp,
                        FetchResponse& response) {
  if (rp.error_code != static_cast<int16_t>(ErrorCode::kNotLeaderOrFollower) &&
      rp.error_code != static_cast<int16_t>(ErrorCode::kFencedLeaderEpoch)) {
    return;
  }
  const LeaderHint hint = leader_hint(snapshot, key.topic, key.partition, st.listener_name);
  rp.current_leader.leader_id = hint.leader_id;
  rp.current_leader.leader_epoch = hint.leader_epoch;
  add_node_endpoint(response.node_endpoints, hint);
}

// BrokerTopicMetrics: every partition answered counts as a fetch request of
// its topic; bytes out are what consumers get (Kafka counts a follower's as
// replication bytes instead).
void count_fetched(TopicMeters& m, const FetchResponse::PartitionData& p, bool follower) {
  m.total_fetch_requests->inc();
  if (p.error_code != 0) m.failed_fetch_requests->inc();
  if (!follower && p.records) m.bytes_out->inc(p.records->size());
}

void send(FetchState& st, FetchOutcome& out) {
  // Over consumer_byte_rate: an empty answer, before the session moves on
  // (Kafka's getThrottledResponse); the router writes throttle_time_ms.
  if (throttle_consumer_fetch(*st.services, st.quota.get(), out.bytes) > 0) {
    FetchResponse empty;
    empty.session_id = st.context.incremental ? st.context.response_session_id : cluster::kInvalidSessionId;
    send_encoded(st.responder, empty, st.version);
    return;
  }
  const auto& parts = st.context.partitions;
  std::vector<bool> include(parts.size(), true);
  if (st.context.session) {
    std::vector<cluster::FetchPartitionResult> results;
    results.reserve(out.partitions.size());
    for (const auto& po : out.partitions) results.push_back(po.result);
    include = st.context.session->update(st.context, results);
  }
  FetchResponse response;
  response.session_id = st.context.response_session_id;
  std::shared_ptr<const cluster::ClusterSnapshot> snapshot;
  if (st.version >= 16 && out.has_error) snapshot = st.metadata->snapshot();
  std::vector<std::vector<net::FileChunk>> files;
  int64_t throttled_bytes = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!include[i]) continue;
    const auto& key = parts[i].key;
    // Consecutive partitions of one topic share its entry.
    if (response.responses.empty() || response.responses.back().topic_id != key.topic_id ||
        (st.version < 13 && response.responses.back().topic != key.topic)) {
      auto& rt = response.responses.emplace_back();
      rt.topic = st.version >= 13 ? std::string() : key.topic;
      rt.topic_id = key.topic_id;
    }
    auto& po = out.partitions[i];
    count_fetched(topic_meters(*st.services, key.topic), po.data, st.replica_id >= 0);
    if (!po.files.empty()) {
      po.data.records = protocol::Records::external(po.data.records->size(), static_cast<uint32_t>(files.size()));
      files.push_back(std::move(po.files));
    }
    if (snapshot) add_current_leader(st, *snapshot, key, po.data, response);
    if (po.throttled && po.data.records) throttled_bytes += static_cast<int64_t>(po.data.records->size());
    response.responses.back().partitions.push_back(std::move(po.data));
  }
  // Kafka's sizeOfThrottledPartitions: what throttled replicas take of the
  // response counts against the leader quota, whether or not they were held back.
  if (throttled_bytes > 0) st.replicas->leader_quota().record(throttled_bytes, wall_ms());
  ByteWriter w;
  response.encode(w, st.version);
  st.responder.send(w, files);
}

void send_error(int16_t version, Responder& responder, ErrorCode error) {
  FetchResponse response;
  response.error_code = static_cast<int16_t>(error);
  response.session_id = cluster::kInvalidSessionId;
  ByteWriter w;
  response.encode(w, version);
  responder.send(w);
}

}  // namespace

Result<void> handle_fetch(RequestContext& ctx, ByteReader& body, Responder responder) {
  FetchRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
  const int32_t replica_id = version >= 15 ? req.replica_state.replica_id : req.replica_id;
  auto snapshot = ctx.services.metadata->snapshot();

  // Resolve topic ids (v13+) to names; unknown ids keep an empty name.
  std::vector<cluster::FetchPartitionRequest> wanted;
  for (const auto& topic : req.topics) {
    std::string name = topic.topic;
    if (version >= 13) {
      const cluster::TopicInfo* info = snapshot->topic(topic.topic_id);
      name = info ? info->name : "";
    }
    for (const auto& p : topic.partitions) {
      cluster::FetchPartitionRequest r;
      r.key = {name, version >= 13 ? topic.topic_id : protocol::Uuid{}, p.partition};
      r.fetch_offset = p.fetch_offset;
      r.log_start_offset = p.log_start_offset;
      r.partition_max_bytes = p.partition_max_bytes;
      r.current_leader_epoch = version >= 9 ? p.current_leader_epoch : -1;
      r.last_fetched_epoch = p.last_fetched_epoch;
      wanted.push_back(std::move(r));
    }
  }
  std::vector<cluster::FetchPartitionKey> forgotten;
  for (const auto& f : req.forgotten_topics_data) {
    std::string name = f.topic;
    if (version >= 13) {
      const cluster::TopicInfo* info = snapshot->topic(f.topic_id);
      name = info ? info->name : "";
    }
    for (int32_t p : f.partitions) forgotten.push_back({name, version >= 13 ? f.topic_id : protocol::Uuid{}, p});
  }

  cluster::FetchContext context;
  if (ctx.services.fetch_sessions) {
    context = ctx.services.fetch_sessions->new_context(version, req.session_id, req.session_epoch, std::move(wanted),
                                                       forgotten, replica_id >= 0);
  } else {
    context.partitions = std::move(wanted);
  }
  if (context.error != ErrorCode::kNone) {
    send_error(version, responder, context.error);
    return {};
  }

  auto st = std::make_shared<FetchState>(FetchState{
      version, replica_id, version >= 11 ? req.rack_id : std::string(), ctx.connection.listener_name, req.min_bytes, version >= 3 ? req.max_bytes : INT32_MAX,
      req.isolation_level == 1 ? cluster::Isolation::kReadCommitted : cluster::Isolation::kReadUncommitted,
      std::move(context), ctx.services.metadata, ctx.services.replicas, responder});
  st->services = &ctx.services;
  // A consumer's fetch: fetch.max.bytes and consumer_byte_rate cap what it returns (server/quota_throttle.h).
  if (replica_id < 0) {
    st->quota = ctx.quota;
    st->max_bytes = std::min({st->max_bytes, ctx.services.fetch_max_bytes,
                              consumer_fetch_max_bytes(ctx.services, ctx.quota.get())});
    st->min_bytes = std::min(st->min_bytes, st->max_bytes);
  } else {
    ctx.quota.reset();  // replication is never measured against client quotas
  }
  RequestAuthorization auth(ctx);
  if (replica_id >= 0) {
    st->follower_refused = !auth.allows_cluster(security::AclOperation::kClusterAction);
  } else if (auth.enforced()) {
    std::set<std::string> checked;
    for (const auto& p : st->context.partitions) {
      if (p.key.topic.empty() || !checked.insert(p.key.topic).second) continue;
      if (!auth.allows_topic(security::AclOperation::kRead, p.key.topic)) st->unreadable_topics.insert(p.key.topic);
    }
  }

  FetchOutcome now = read_all(*st);
  if (req.max_wait_ms <= 0 || now.bytes >= std::max(1, req.min_bytes) || now.has_error ||
      now.has_diverging_epoch || now.has_preferred_replica || st->context.partitions.empty()) {
    send(*st, now);
    return {};
  }
  // Not enough yet: wait for data on any of the partitions, or the deadline.
  std::vector<storage::TopicPartition> watched;
  for (const auto& p : st->context.partitions) {
    if (!p.key.topic.empty()) watched.push_back({p.key.topic, p.key.partition});
  }
  auto& purgatory = ctx.services.replicas->fetch_purgatory();
  auto ready = [st] {
    FetchOutcome probe = read_all(*st);
    return probe.bytes >= std::max(1, st->min_bytes) || probe.has_error || probe.has_diverging_epoch ||
           probe.has_preferred_replica;
  };
  // Inline (Kafka's DelayedFetch): checked and answered on the thread that
  // appends or moves the high watermark. The check and the answer take
  // partition, session-cache and quota locks, never a coordinator's. Fetch
  // v0-3 down-converts in its check: not cheap, left to the purgatory's thread.
  const auto where = version >= 4 ? cluster::DelayedFetchPurgatory::Completion::kInline
                                  : cluster::DelayedFetchPurgatory::Completion::kPurgatoryThread;
  purgatory.add(
      std::move(watched), purgatory.now() + req.max_wait_ms, ready,
      [st](bool) {
        FetchOutcome out = read_all(*st);
        send(*st, out);
      },
      where);
  return {};
}

}  // namespace keel::server
