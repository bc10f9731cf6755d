#include "cluster/record_validation.h"

#include <algorithm>
#include <climits>
#include <utility>
#include <vector>

#include "protocol/legacy_records.h"
#include "protocol/record_batch.h"

namespace keel::cluster {
namespace {

using protocol::Compression;
using protocol::ErrorCode;

ValidatedRecords fail(ErrorCode code, std::string message) {
  ValidatedRecords v;
  v.error = code;
  v.message = std::move(message);
  return v;
}

// Rebuilds `batch` with `codec`, keeping records, timestamps, offsets deltas
// and producer fields.
Result<Bytes> recompress(const protocol::RecordBatchView& batch, const std::vector<protocol::Record>& records,
                         Compression codec) {
  protocol::RecordBatchBuilder b(codec, 0);
  b.producer(batch.producer_id(), batch.producer_epoch(), batch.base_sequence());
  b.transactional(batch.is_transactional());
  b.partition_leader_epoch(batch.partition_leader_epoch());
  if (batch.timestamp_type() == protocol::TimestampType::kLogAppendTime) {
    b.timestamp_type(protocol::TimestampType::kLogAppendTime);
    b.log_append_time(batch.max_timestamp());
  }
  for (const auto& r : records) {
    std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
    headers.reserve(r.headers.size());
    for (const auto& h : r.headers) {
      std::optional<Bytes> value;
      if (h.value) value = Bytes(h.value->begin(), h.value->end());
      headers.emplace_back(std::string(h.key), std::move(value));
    }
    b.add_with_offset_delta(r.offset_delta(), r.timestamp, r.key, r.value, std::move(headers));
  }
  return b.build();
}

}  // namespace

std::optional<Compression> topic_codec(const std::string& type) {
  if (type == "gzip") return Compression::kGzip;
  if (type == "snappy") return Compression::kSnappy;
  if (type == "lz4") return Compression::kLz4;
  if (type == "zstd") return Compression::kZstd;
  if (type == "uncompressed") return Compression::kNone;
  return std::nullopt;  // "producer"
}

ValidatedRecords validate_produce_records(std::span<uint8_t> input, const ProduceValidationConfig& config,
                                          int64_t now_ms) {
  if (input.empty()) return fail(ErrorCode::kInvalidRecord, "empty record set");
  ByteView view(input.data(), input.size());
  auto magic = protocol::peek_magic(view);
  if (!magic) return fail(ErrorCode::kCorruptMessage, "record set too short for a batch header");

  Bytes converted;
  if (*magic == 0 || *magic == 1) {
    // Produce v0-v2: a legacy message set, stored as one v2 batch.
    std::vector<Bytes> scratch;
    auto set = protocol::read_legacy_message_set(view, scratch, config.max_decompressed, true);
    if (!set) return fail(ErrorCode::kCorruptMessage, "legacy message set: " + set.error().message());
    if (set->partial_tail || set->bytes_consumed != view.size()) {
      return fail(ErrorCode::kCorruptMessage, "legacy message set has trailing bytes");
    }
    if (set->messages.empty()) return fail(ErrorCode::kInvalidRecord, "empty message set");
    const Compression codec = config.target_codec.value_or(set->messages.front().compression());
    // Offsets inside a produced message set are the producer's; Kafka
    // renumbers them from 0, as the broker assigns the real ones.
    for (size_t i = 0; i < set->messages.size(); ++i) set->messages[i].offset = static_cast<int64_t>(i);
    auto batch = protocol::legacy_to_batch(set->messages, codec);
    if (!batch) return fail(ErrorCode::kCorruptMessage, "legacy message set: " + batch.error().message());
    converted = std::move(*batch);
    view = ByteView(converted);
  } else if (*magic != protocol::kMagicV2) {
    return fail(ErrorCode::kCorruptMessage, "unknown record batch magic " + std::to_string(*magic));
  }

  auto parsed = protocol::RecordBatchView::parse(view);
  if (!parsed) return fail(ErrorCode::kCorruptMessage, "record batch: " + parsed.error().message());
  const protocol::RecordBatchView batch = *parsed;
  if (batch.size_bytes() != view.size()) {
    // Kafka: "Produce requests with version 3+ should contain exactly one record batch".
    return fail(ErrorCode::kInvalidRecord, "a produce request must hold exactly one record batch per partition");
  }
  if (!batch.verify_crc()) return fail(ErrorCode::kCorruptMessage, "record batch CRC mismatch");
  if (!batch.compression_valid()) return fail(ErrorCode::kCorruptMessage, "unknown compression codec");
  if (batch.is_control()) return fail(ErrorCode::kInvalidRecord, "clients may not produce control batches");
  if (batch.records_count() <= 0) return fail(ErrorCode::kInvalidRecord, "record batch holds no records");

  Bytes scratch;
  auto records = batch.decode_records(scratch, config.max_decompressed);
  if (!records) return fail(ErrorCode::kCorruptMessage, "records: " + records.error().message());
  for (size_t i = 0; i < records->size(); ++i) {
    const auto& r = (*records)[i];
    if (r.offset_delta() != static_cast<int32_t>(i)) {
      return fail(ErrorCode::kInvalidRecord, "record " + std::to_string(i) + " has offset delta " +
                                                 std::to_string(r.offset_delta()) + ", expected " +
                                                 std::to_string(i));
    }
    if (config.compacted && !r.key) {
      return fail(ErrorCode::kInvalidRecord, "compacted topic cannot accept a record without a key");
    }
    if (!config.log_append_time) {
      // Kafka's checks: |now - ts| <= difference, now - ts <= before, ts - now <= after.
      const int64_t ts = r.timestamp;
      const bool too_old = ts < now_ms && (static_cast<uint64_t>(now_ms) - static_cast<uint64_t>(ts) >
                                               static_cast<uint64_t>(std::min(config.timestamp_difference_max_ms,
                                                                              config.timestamp_before_max_ms)));
      const bool too_new = ts > now_ms && (static_cast<uint64_t>(ts) - static_cast<uint64_t>(now_ms) >
                                               static_cast<uint64_t>(std::min(config.timestamp_difference_max_ms,
                                                                              config.timestamp_after_max_ms)));
      if (too_old || too_new) {
        return fail(ErrorCode::kInvalidTimestamp, "record " + std::to_string(i) + " has timestamp " +
                                                      std::to_string(ts) + ", too far " +
                                                      (too_old ? "in the past" : "in the future") +
                                                      " of the broker's clock " + std::to_string(now_ms));
      }
    }
  }
  if (batch.last_offset_delta() != static_cast<int32_t>(records->size()) - 1) {
    return fail(ErrorCode::kInvalidRecord, "lastOffsetDelta does not match the record count");
  }

  ValidatedRecords out;
  out.record_count = static_cast<int32_t>(records->size());
  out.producer_id = batch.producer_id();
  out.producer_epoch = batch.producer_epoch();
  out.base_sequence = batch.base_sequence();
  out.last_sequence = batch.base_sequence() < 0
                          ? -1
                          : static_cast<int32_t>((static_cast<int64_t>(batch.base_sequence()) +
                                                  batch.last_offset_delta()) % (int64_t{1} << 31));
  out.transactional = batch.is_transactional();

  if (config.target_codec && *config.target_codec != batch.compression()) {
    auto rebuilt = recompress(batch, *records, *config.target_codec);
    if (!rebuilt) return fail(ErrorCode::kCorruptMessage, "recompression failed: " + rebuilt.error().message());
    out.owned = std::move(*rebuilt);
  } else if (!converted.empty()) {
    out.owned = std::move(converted);
  }
  out.records = out.owned.empty() ? input : std::span<uint8_t>(out.owned);
  return out;
}

}  // namespace keel::cluster
