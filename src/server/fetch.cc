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
// Incremental fetch sessions (KIP-227) are declined for now with session id
// 0 — which Kafka's protocol allows (a broker whose session cache is full
// does the same) — so clients keep sending full requests.

#include <unistd.h>

#include <memory>

#include "cluster/metadata_cache.h"
#include "cluster/replica_manager.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/fetch_request.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/legacy_records.h"
#include "protocol/record_batch.h"
#include "server/handlers.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;
using protocol::FetchRequest;
using protocol::FetchResponse;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("fetch");
  return l;
}

struct WantedPartition {
  std::string topic;        // "" when the topic id is unknown
  protocol::Uuid topic_id;
  int32_t partition;
  int64_t fetch_offset;
  int32_t partition_max_bytes;
  int32_t current_leader_epoch;
};

// Everything a fetch needs after the handler returns: the request is not kept.
struct FetchState {
  int16_t version;
  int32_t replica_id;
  int32_t min_bytes;
  int32_t max_bytes;
  cluster::Isolation isolation;
  std::vector<std::pair<std::string, protocol::Uuid>> topics;  // response order
  std::vector<std::vector<WantedPartition>> partitions;        // per topic
  cluster::MetadataCache* metadata;
  cluster::ReplicaManager* replicas;
  Responder responder;
};

struct FetchOutcome {
  FetchResponse response;
  std::vector<std::vector<net::FileChunk>> files;
  int64_t bytes = 0;
  bool has_error = false;
};

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

FetchOutcome read_all(const FetchState& st) {
  FetchOutcome out;
  auto snapshot = st.metadata->snapshot();
  int64_t remaining = st.max_bytes;
  for (size_t t = 0; t < st.topics.size(); ++t) {
    auto& rt = out.response.responses.emplace_back();
    rt.topic = st.topics[t].first;
    rt.topic_id = st.topics[t].second;
    for (const auto& want : st.partitions[t]) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = want.partition;
      rp.high_watermark = -1;
      rp.last_stable_offset = -1;
      rp.log_start_offset = -1;
      auto fail = [&](ErrorCode code) {
        rp.error_code = static_cast<int16_t>(code);
        out.has_error = true;
      };
      if (want.topic.empty()) {
        fail(ErrorCode::kUnknownTopicId);
        continue;
      }
      if (!snapshot->partition(want.topic, want.partition)) {
        fail(st.version >= 13 && !want.topic_id.is_zero() ? ErrorCode::kUnknownTopicId
                                                           : ErrorCode::kUnknownTopicOrPartition);
        continue;
      }
      auto partition = st.replicas->partition({want.topic, want.partition});
      if (!partition) {
        fail(ErrorCode::kNotLeaderOrFollower);
        continue;
      }
      const int64_t limit = std::min<int64_t>(std::max(0, want.partition_max_bytes), std::max<int64_t>(0, remaining));
      cluster::ReadOutcome read = partition->read(want.fetch_offset, limit, /*min_one_batch=*/out.bytes == 0,
                                                  want.current_leader_epoch, st.isolation, st.replica_id >= 0);
      rp.high_watermark = read.high_watermark;
      rp.last_stable_offset = read.last_stable_offset;
      rp.log_start_offset = read.log_start_offset;
      if (read.error != ErrorCode::kNone) {
        fail(read.error);
        continue;
      }
      if (read.ranges.empty()) continue;
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
      const uint32_t splice = static_cast<uint32_t>(out.files.size());
      auto& chunks = out.files.emplace_back();
      for (auto& r : read.ranges) {
        chunks.push_back({r.file, r.file->fd(), r.position, r.length});
      }
      rp.records = protocol::Records::external(static_cast<size_t>(read.bytes), splice);
      out.bytes += read.bytes;
      remaining -= read.bytes;
    }
  }
  return out;
}

void send(FetchState& st, FetchOutcome& out) {
  out.response.session_id = 0;
  ByteWriter w;
  out.response.encode(w, st.version);
  st.responder.send(w, out.files);
}

}  // namespace

Result<void> handle_fetch(RequestContext& ctx, ByteReader& body, Responder responder) {
  FetchRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  auto st = std::make_shared<FetchState>(FetchState{ctx.api_version(),
                                                     ctx.api_version() >= 15 ? req.replica_state.replica_id
                                                                             : req.replica_id,
                                                     req.min_bytes,
                                                     ctx.api_version() >= 3 ? req.max_bytes : INT32_MAX,
                                                     req.isolation_level == 1 ? cluster::Isolation::kReadCommitted
                                                                              : cluster::Isolation::kReadUncommitted,
                                                     {},
                                                     {},
                                                     ctx.services.metadata,
                                                     ctx.services.replicas,
                                                     responder});
  auto snapshot = ctx.services.metadata->snapshot();
  for (const auto& topic : req.topics) {
    std::string name = topic.topic;
    if (ctx.api_version() >= 13) {
      const cluster::TopicInfo* info = snapshot->topic(topic.topic_id);
      name = info ? info->name : "";
    }
    st->topics.emplace_back(ctx.api_version() >= 13 ? std::string() : topic.topic, topic.topic_id);
    auto& parts = st->partitions.emplace_back();
    for (const auto& p : topic.partitions) {
      parts.push_back({name, topic.topic_id, p.partition, p.fetch_offset, p.partition_max_bytes,
                       ctx.api_version() >= 9 ? p.current_leader_epoch : -1});
    }
  }

  FetchOutcome now = read_all(*st);
  if (req.max_wait_ms <= 0 || now.bytes >= std::max(1, req.min_bytes) || now.has_error || st->topics.empty()) {
    send(*st, now);
    return {};
  }
  // Not enough yet: wait for data on any of the partitions, or the deadline.
  std::vector<storage::TopicPartition> watched;
  for (const auto& parts : st->partitions) {
    for (const auto& p : parts) {
      if (!p.topic.empty()) watched.push_back({p.topic, p.partition});
    }
  }
  auto& purgatory = ctx.services.replicas->fetch_purgatory();
  auto ready = [st] {
    FetchOutcome probe = read_all(*st);
    return probe.bytes >= std::max(1, st->min_bytes) || probe.has_error;
  };
  purgatory.add(std::move(watched), purgatory.now() + req.max_wait_ms, ready, [st](bool) {
    FetchOutcome out = read_all(*st);
    send(*st, out);
  });
  return {};
}

}  // namespace keel::server
