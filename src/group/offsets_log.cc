#include "group/offsets_log.h"

#include <unistd.h>

#include "cluster/record_validation.h"
#include "cluster/replica_manager.h"
#include "protocol/record_batch.h"

namespace keel::group {

using protocol::ErrorCode;

ErrorCode ReplicaOffsetsLog::append(int32_t partition, const std::vector<OffsetsRecordBytes>& records,
                                    int64_t now_ms) {
  if (records.empty()) return ErrorCode::kNone;
  auto p = replicas_.partition({kOffsetsTopic, partition});
  if (!p || !p->is_leader()) return ErrorCode::kNotCoordinator;
  protocol::RecordBatchBuilder builder(protocol::Compression::kNone);
  for (const auto& r : records) {
    std::optional<ByteView> value;
    if (r.value) value = ByteView(*r.value);
    builder.add(now_ms, ByteView(r.key), value);
  }
  auto batch = builder.build();
  if (!batch) return ErrorCode::kUnknownServerError;
  // The same checks as a produced batch (keys on a compacted topic, the
  // topic's codec), so what the coordinator writes is what a client could.
  auto config = p->config();
  cluster::ValidatedRecords validated =
      cluster::validate_produce_records(std::span<uint8_t>(*batch), config ? config->validation
                                                                             : cluster::ProduceValidationConfig{},
                                        now_ms);
  if (!validated.ok()) return validated.error;
  // acks=all: on one broker the ISR is this broker and the high watermark
  // passes the batch at once. With followers (the cluster issue) the
  // coordinator will wait for the high watermark before answering.
  cluster::AppendOutcome out = p->append_as_leader(validated, -1, now_ms);
  if (out.error == ErrorCode::kNotLeaderOrFollower) return ErrorCode::kNotCoordinator;
  if (out.error != ErrorCode::kNone) return out.error;
  // Kafka maps the produce errors a commit can meet to these.
  if (p->high_watermark() <= out.last_offset) return ErrorCode::kRequestTimedOut;
  return ErrorCode::kNone;
}

ErrorCode ReplicaOffsetsLog::read_all(int32_t partition, const RecordFn& fn) {
  auto p = replicas_.partition({kOffsetsTopic, partition});
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
        if (b.last_offset() < offset || b.is_control()) continue;
        auto decoded = b.decode_records(scratch);
        if (!decoded) return ErrorCode::kCorruptMessage;
        for (const auto& rec : *decoded) {
          if (b.base_offset() + rec.offset_delta() < offset || !rec.key) continue;
          fn(*rec.key, rec.value);
        }
      }
    }
    if (next <= offset) break;
    offset = next;
  }
  return ErrorCode::kNone;
}

}  // namespace keel::group
