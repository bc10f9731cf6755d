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

// The batch's refusal for its records' faults, in Kafka's words: INVALID_TIMESTAMP
// when any record's timestamp is out of range, else INVALID_RECORD naming the
// first three records.
ValidatedRecords fail_records(std::vector<RecordError> errors, bool timestamp_error) {
  std::string message;
  if (timestamp_error) {
    message = "One or more records have been rejected due to invalid timestamp";
  } else {
    message = "One or more records have been rejected due to " + std::to_string(errors.size()) +
              " record errors in total, and only showing the first three errors at most: [";
    for (size_t i = 0; i < errors.size() && i < 3; ++i) {
      if (i) message += ", ";
      message += "RecordError(batchIndex=" + std::to_string(errors[i].batch_index) + ", message='" +
                 errors[i].message + "')";
    }
    message += "]";
  }
  ValidatedRecords v = fail(timestamp_error ? ErrorCode::kInvalidTimestamp : ErrorCode::kInvalidRecord, message);
  v.record_errors = std::move(errors);
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

// Kafka's timestamp rules for one record (|now - ts| <= difference, now - ts
// <= before, ts - now <= after); true when `ts` breaks one.
bool timestamp_out_of_range(int64_t ts, int64_t now_ms, const ProduceValidationConfig& config, bool* too_old) {
  const bool old_ts = ts < now_ms && (static_cast<uint64_t>(now_ms) - static_cast<uint64_t>(ts) >
                                      static_cast<uint64_t>(std::min(config.timestamp_difference_max_ms,
                                                                     config.timestamp_before_max_ms)));
  const bool new_ts = ts > now_ms && (static_cast<uint64_t>(ts) - static_cast<uint64_t>(now_ms) >
                                      static_cast<uint64_t>(std::min(config.timestamp_difference_max_ms,
                                                                     config.timestamp_after_max_ms)));
  if (too_old) *too_old = old_ts;
  return old_ts || new_ts;
}

// The producer fields of the batch header, as the append needs them.
void fill_batch_fields(ValidatedRecords& out, const protocol::RecordBatchView& batch) {
  out.producer_id = batch.producer_id();
  out.producer_epoch = batch.producer_epoch();
  out.base_sequence = batch.base_sequence();
  out.last_sequence = batch.base_sequence() < 0
                          ? -1
                          : static_cast<int32_t>((static_cast<int64_t>(batch.base_sequence()) +
                                                  batch.last_offset_delta()) % (int64_t{1} << 31));
  out.transactional = batch.is_transactional();
}

// The hot walk's reads, on raw pointers: the same results as ByteReader's
// (common/bytes.h) read_uvarint_n — at most `max_bytes` bytes, else malformed —
// with the one- and two-byte cases (values below 128 and 16,384: every length,
// delta and count of a typical record) inline. nullptr when malformed or past
// `end`.
const uint8_t* uvarint_long(const uint8_t* p, const uint8_t* end, int max_bytes, uint64_t& v) {
  v = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (p >= end) return nullptr;
    const uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return p;
  }
  return nullptr;
}

[[gnu::always_inline]] inline const uint8_t* uvarint(const uint8_t* p, const uint8_t* end, int max_bytes,
                                                     uint64_t& v) {
  if (end - p >= 2) {
    if (!(p[0] & 0x80)) {
      v = p[0];
      return p + 1;
    }
    if (!(p[1] & 0x80)) {
      v = static_cast<uint64_t>(p[0] & 0x7f) | (static_cast<uint64_t>(p[1]) << 7);
      return p + 2;
    }
  }
  return uvarint_long(p, end, max_bytes, v);
}

// A zigzag varint32 length that may be -1 (null) and that many bytes, as the
// record decoder's read_nullable takes them; nullptr when malformed.
[[gnu::always_inline]] inline const uint8_t* skip_nullable(const uint8_t* p, const uint8_t* end, bool& present) {
  uint64_t u;
  p = uvarint(p, end, 5, u);
  if (!p) return nullptr;
  const int32_t len = zigzag_decode32(static_cast<uint32_t>(u));
  if (len < -1) return nullptr;
  present = len >= 0;
  if (!present) return p;
  if (len > end - p) return nullptr;
  return p + len;
}

// The timestamps timestamp_out_of_range refuses are exactly those outside
// [lo, hi]: old ones below now - min(difference, before), new ones above
// now + min(difference, after), with bounds past int64's range clamped (no
// int64 timestamp lies beyond them).
struct TimestampRange {
  int64_t lo = INT64_MIN;
  int64_t hi = INT64_MAX;
};

TimestampRange accepted_timestamps(const ProduceValidationConfig& config, int64_t now_ms) {
  const auto d_old = static_cast<uint64_t>(std::min(config.timestamp_difference_max_ms, config.timestamp_before_max_ms));
  const auto d_new = static_cast<uint64_t>(std::min(config.timestamp_difference_max_ms, config.timestamp_after_max_ms));
  const __int128 lo = static_cast<__int128>(now_ms) - static_cast<__int128>(d_old);
  const __int128 hi = static_cast<__int128>(now_ms) + static_cast<__int128>(d_new);
  TimestampRange r;
  if (lo > INT64_MIN) r.lo = static_cast<int64_t>(lo);
  if (hi < INT64_MAX) r.hi = static_cast<int64_t>(hi);
  return r;
}

// The produce path's hot case: an uncompressed batch whose records all pass.
// Walks the records with the decoder's own framing rules (parse_records /
// parse_record in protocol/record_batch.cc) and applies the checks of
// validate_produce_records below, without materialising a Record per record.
// True only when the full path would accept the batch; on false the caller
// runs the full path, which finds and reports the first problem exactly as
// before — so this adds no rule and drops none.
bool uncompressed_records_pass(const protocol::RecordBatchView& batch, const ProduceValidationConfig& config,
                               int64_t now_ms) {
  constexpr size_t kMinRecordSize = 7;
  constexpr size_t kMinHeaderSize = 2;
  const ByteView section = batch.records_bytes();
  const int32_t count = batch.records_count();
  if (count <= 0 || static_cast<size_t>(count) > section.size() / kMinRecordSize) return false;
  if (batch.last_offset_delta() != count - 1) return false;
  // Timestamps: a LogAppendTime batch gives every record its max timestamp, one
  // check for all; a CreateTime batch's records are checked against the range
  // only when the topic's limits refuse any int64 timestamp at all.
  const TimestampRange range = accepted_timestamps(config, now_ms);
  bool check_records_ts = false;
  if (!config.log_append_time) {
    if (batch.timestamp_type() == protocol::TimestampType::kLogAppendTime) {
      if (batch.max_timestamp() < range.lo || batch.max_timestamp() > range.hi) return false;
    } else {
      check_records_ts = range.lo != INT64_MIN || range.hi != INT64_MAX;
    }
  }
  const uint64_t base_timestamp = static_cast<uint64_t>(batch.base_timestamp());
  const uint8_t* p = section.data();
  const uint8_t* const end = p + section.size();
  for (int32_t i = 0; i < count; ++i) {
    uint64_t u;
    p = uvarint(p, end, 5, u);
    if (!p) return false;
    const int32_t len = zigzag_decode32(static_cast<uint32_t>(u));
    if (len < 0 || len > end - p) return false;
    const uint8_t* const rec_end = p + len;
    if (p == rec_end) return false;
    ++p;  // attributes
    p = uvarint(p, rec_end, 10, u);
    if (!p) return false;
    const int64_t ts_delta = zigzag_decode64(u);
    p = uvarint(p, rec_end, 5, u);
    if (!p || zigzag_decode32(static_cast<uint32_t>(u)) != i) return false;
    bool key = false, value = false;
    p = skip_nullable(p, rec_end, key);
    if (!p || (config.compacted && !key)) return false;
    p = skip_nullable(p, rec_end, value);
    if (!p) return false;
    p = uvarint(p, rec_end, 5, u);
    if (!p) return false;
    const int32_t header_count = zigzag_decode32(static_cast<uint32_t>(u));
    if (header_count != 0) {
      if (header_count < 0 || static_cast<size_t>(header_count) > static_cast<size_t>(rec_end - p) / kMinHeaderSize)
        return false;
      for (int32_t h = 0; h < header_count; ++h) {
        p = uvarint(p, rec_end, 5, u);
        if (!p) return false;
        const int32_t key_len = zigzag_decode32(static_cast<uint32_t>(u));
        if (key_len < 0 || key_len > rec_end - p) return false;
        p += key_len;
        bool header_value = false;
        p = skip_nullable(p, rec_end, header_value);
        if (!p) return false;
      }
    }
    if (p != rec_end) return false;
    if (check_records_ts) {
      const auto ts = static_cast<int64_t>(base_timestamp + static_cast<uint64_t>(ts_delta));
      if (ts < range.lo || ts > range.hi) return false;
    }
  }
  return p == end;
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

  ValidatedRecords out;
  const bool keep_codec = !config.target_codec || *config.target_codec == batch.compression();
  if (batch.compression() == Compression::kNone && keep_codec && converted.empty() &&
      uncompressed_records_pass(batch, config, now_ms)) {
    out.record_count = batch.records_count();
    fill_batch_fields(out, batch);
    out.records = input;
    return out;
  }

  Bytes scratch;
  auto records = batch.decode_records(scratch, config.max_decompressed);
  if (!records) return fail(ErrorCode::kCorruptMessage, "records: " + records.error().message());
  // Kafka's LogValidator: offsets are a batch-level fault and stop at the
  // first; keys and timestamps are checked on every record and each failing
  // record is named, so the client learns which ones to fail (KIP-467).
  std::vector<RecordError> record_errors;
  bool timestamp_error = false;
  for (size_t i = 0; i < records->size(); ++i) {
    const auto& r = (*records)[i];
    const auto index = static_cast<int32_t>(i);
    if (r.offset_delta() != index) {
      return fail(ErrorCode::kInvalidRecord, "record " + std::to_string(i) + " has offset delta " +
                                                 std::to_string(r.offset_delta()) + ", expected " +
                                                 std::to_string(i));
    }
    if (config.compacted && !r.key) {
      record_errors.push_back({index, "Compacted topic cannot accept message without key"});
      continue;
    }
    if (!config.log_append_time) {
      // Kafka's checks: |now - ts| <= difference, now - ts <= before, ts - now <= after.
      const int64_t ts = r.timestamp;
      bool too_old = false;
      if (timestamp_out_of_range(ts, now_ms, config, &too_old)) {
        timestamp_error = true;
        record_errors.push_back({index, "Timestamp " + std::to_string(ts) + " of message with offset " +
                                            std::to_string(i) + " is too far " +
                                            (too_old ? "in the past" : "in the future") +
                                            " of the broker's clock " + std::to_string(now_ms)});
      }
    }
  }
  if (!record_errors.empty()) return fail_records(std::move(record_errors), timestamp_error);
  if (batch.last_offset_delta() != static_cast<int32_t>(records->size()) - 1) {
    return fail(ErrorCode::kInvalidRecord, "lastOffsetDelta does not match the record count");
  }

  out.record_count = static_cast<int32_t>(records->size());
  fill_batch_fields(out, batch);

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
