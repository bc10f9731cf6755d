#include "group/offsets_log.h"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "cluster/record_validation.h"
#include "cluster/replica_manager.h"
#include "protocol/record_batch.h"
#include "storage/txn_marker.h"

namespace keel::group {

using protocol::ErrorCode;

namespace {

// The partition still hosted here, led by this broker in leadership term
// `term` (no break since the append: what was appended is still in its log).
bool leads(cluster::ReplicaManager& replicas, const std::shared_ptr<cluster::Partition>& p, uint64_t term) {
  if (replicas.partition(p->tp()) != p) return false;  // stopped (StopReplica) or replaced
  return p->leads_in_term(term);
}

}  // namespace

OffsetsAppend ReplicaOffsetsLog::append(int32_t partition, const std::vector<OffsetsRecordBytes>& records,
                                        int64_t now_ms, std::optional<TxnProducer> txn) {
  OffsetsAppend out;
  if (records.empty()) return out;
  auto p = replicas_.partition({topic_, partition});
  if (!p || !p->is_leader()) {
    out.error = ErrorCode::kNotLeaderOrFollower;
    return out;
  }
  protocol::RecordBatchBuilder builder(protocol::Compression::kNone);
  // Kafka's coordinator writes transactional offsets with base sequence 0;
  // the partition does not check the sequences of the coordinator's batches.
  if (txn) builder.producer(txn->producer_id, txn->producer_epoch, 0).transactional(true);
  for (const auto& r : records) {
    std::optional<ByteView> value;
    if (r.value) value = ByteView(*r.value);
    builder.add(now_ms, ByteView(r.key), value);
  }
  auto batch = builder.build();
  if (!batch) {
    out.error = ErrorCode::kUnknownServerError;
    return out;
  }
  // The same checks as a produced batch (keys on a compacted topic, the
  // topic's codec), so what the coordinator writes is what a client could.
  auto config = p->config();
  cluster::ValidatedRecords validated =
      cluster::validate_produce_records(std::span<uint8_t>(*batch), config ? config->validation
                                                                             : cluster::ProduceValidationConfig{},
                                        now_ms);
  if (!validated.ok()) {
    out.error = validated.error;
    return out;
  }
  validated.coordinator_origin = true;
  // acks=all (offsets.commit.required.acks' default, the only value Keel
  // has): NOT_ENOUGH_REPLICAS before anything is written when the ISR is
  // below min.insync.replicas.
  cluster::AppendOutcome appended = p->append_as_leader(validated, -1, now_ms);
  if (appended.error != ErrorCode::kNone) {
    out.error = appended.error;
    return out;
  }
  out.base_offset = appended.base_offset;
  out.last_offset = appended.last_offset;
  out.leader_term = appended.leader_term;
  out.replicated = p->high_watermark() > appended.last_offset;
  return out;
}

void ReplicaOffsetsLog::await_replication(int32_t partition, const OffsetsAppend& appended, int64_t timeout_ms,
                                          ReplicatedFn done) {
  auto p = replicas_.partition({topic_, partition});
  if (!p || !leads(replicas_, p, appended.leader_term)) {
    done(ErrorCode::kNotLeaderOrFollower);
    return;
  }
  cluster::ReplicaManager& replicas = replicas_;
  const int64_t last = appended.last_offset;
  const uint64_t term = appended.leader_term;
  auto& purgatory = replicas_.fetch_purgatory();
  // Woken when the high watermark moves or leadership changes (both notify
  // the partition's watchers). Kafka's DelayedProduce: a broker that stopped
  // leading since the append cannot say the ISR has the batch (its log may
  // have been truncated under it), whatever its high watermark says.
  purgatory.add(
      {p->tp()}, purgatory.now() + std::max<int64_t>(0, timeout_ms),
      [p, last, term, &replicas] { return !leads(replicas, p, term) || p->high_watermark() > last; },
      [p, last, term, &replicas, done = std::move(done)](bool) {
        if (!leads(replicas, p, term)) return done(ErrorCode::kNotLeaderOrFollower);
        if (p->high_watermark() <= last) return done(ErrorCode::kRequestTimedOut);
        auto config = p->config();
        const int32_t min_isr = config ? config->min_insync_replicas : 1;
        if (static_cast<int32_t>(p->leader_state().isr.size()) < min_isr) {
          return done(ErrorCode::kNotEnoughReplicasAfterAppend);
        }
        done(ErrorCode::kNone);
      });
}

ErrorCode ReplicaOffsetsLog::read_all(int32_t partition, const RecordFn& fn) {
  auto p = replicas_.partition({topic_, partition});
  if (!p) return ErrorCode::kNotCoordinator;
  storage::Log& log = p->log();
  int64_t offset = log.log_start_offset();
  const int64_t end = log.log_end_offset();
  Bytes buf;
  Bytes scratch;
  while (offset < end) {
    auto read = log.read(offset, 4 << 20, true);
    if (!read) {
      // Retention or DeleteRecords moved the start past us: go on from there.
      if (log.log_start_offset() > offset) {
        offset = log.log_start_offset();
        continue;
      }
      return ErrorCode::kKafkaStorageError;
    }
    if (read->ranges.empty()) break;
    int64_t next = offset;
    for (const auto& range : read->ranges) {
      buf.resize(static_cast<size_t>(range.length));
      size_t done = 0;
      while (done < buf.size()) {
        ssize_t n = ::pread(range.file->fd(), buf.data() + done, buf.size() - done,
                            static_cast<off_t>(range.position + static_cast<int64_t>(done)));
        if (n <= 0) return ErrorCode::kKafkaStorageError;
        done += static_cast<size_t>(n);
      }
      protocol::BatchIterator it{ByteView(buf)};
      while (true) {
        auto batch = it.next();
        if (!batch) return ErrorCode::kCorruptMessage;
        if (!*batch) break;
        const protocol::RecordBatchView& b = **batch;
        next = std::max(next, b.last_offset() + 1);
        if (b.last_offset() < offset) continue;
        OffsetsLogEntry entry;
        entry.batch_offset = b.base_offset();
        entry.producer_id = b.producer_id();
        entry.transactional = b.is_transactional();
        if (b.is_control()) {
          // Only COMMIT and ABORT markers concern offsets; a cleaned (empty)
          // control batch or another control type is passed over.
          if (auto marker = storage::parse_marker(b)) {
            entry.marker_commit = marker->commit;
            fn(entry);
          }
          continue;
        }
        auto decoded = b.decode_records(scratch);
        if (!decoded) return ErrorCode::kCorruptMessage;
        for (const auto& rec : *decoded) {
          if (b.base_offset() + rec.offset_delta() < offset || !rec.key) continue;
          entry.key = *rec.key;
          entry.value = rec.value;
          fn(entry);
        }
      }
    }
    if (next <= offset) break;
    offset = next;
  }
  return ErrorCode::kNone;
}

}  // namespace keel::group
