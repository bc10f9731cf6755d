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

// A read position in a records section, for the hot walk below: the same
// reads as ByteReader (common/bytes.h) with the same results, on raw
// pointers, so the per-record cost is a few compares. Once `ok` is false the
// caller stops.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  size_t remaining() const { return static_cast<size_t>(end - p); }
  // ByteReader::read_uvarint_n: at most `max_bytes` bytes, else malformed.
  uint64_t uvarint(int max_bytes) {
    // The common one- and two-byte cases (lengths below 64 and 8,192).
    if (p < end && !(p[0] & 0x80)) return *p++;
    if (end - p >= 2 && !(p[1] & 0x80)) {
      const uint64_t v = static_cast<uint64_t>(p[0] & 0x7f) | (static_cast<uint64_t>(p[1]) << 7);
      p += 2;
      return v;
    }
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (p >= end) {
        ok = false;
        return 0;
      }
      const uint8_t b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  int32_t varint() { return zigzag_decode32(static_cast<uint32_t>(uvarint(5))); }
  int64_t varlong() { return zigzag_decode64(uvarint(10)); }
  void skip(size_t n) {
    if (n > remaining()) {
      ok = false;
      return;
    }
    p += n;
  }
  // A varint length that may be -1 (null) and that many bytes, as the record
  // decoder's read_nullable takes them. `present` tells null apart.
  bool skip_nullable(bool& present) {
    const int32_t len = varint();
    if (!ok || len < -1) return false;
    present = len >= 0;
    if (!present) return true;
    if (static_cast<size_t>(len) > remaining()) return false;
    p += len;
    return true;
  }
};

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
  const bool log_append_type = batch.timestamp_type() == protocol::TimestampType::kLogAppendTime;
  const int64_t base_timestamp = batch.base_timestamp();
  const int64_t max_timestamp = batch.max_timestamp();
  Cursor r{section.data(), section.data() + section.size()};
  for (int32_t i = 0; i < count; ++i) {
    const int32_t len = r.varint();
    if (!r.ok || len < 0 || static_cast<size_t>(len) > r.remaining()) return false;
    Cursor rec{r.p, r.p + len};
    r.p += len;
    rec.skip(1);  // attributes
    const int64_t ts_delta = rec.varlong();
    const int32_t offset_delta = rec.varint();
    if (!rec.ok || offset_delta != i) return false;
    bool key = false, value = false;
    if (!rec.skip_nullable(key) || !rec.skip_nullable(value)) return false;
    if (config.compacted && !key) return false;
    const int32_t header_count = rec.varint();
    if (!rec.ok || header_count < 0 || static_cast<size_t>(header_count) > rec.remaining() / kMinHeaderSize)
      return false;
    for (int32_t h = 0; h < header_count; ++h) {
      const int32_t key_len = rec.varint();
      if (!rec.ok || key_len < 0 || static_cast<size_t>(key_len) > rec.remaining()) return false;
      rec.p += key_len;
      bool header_value = false;
      if (!rec.skip_nullable(header_value)) return false;
    }
    if (rec.p != rec.end) return false;
    if (!config.log_append_time) {
      const int64_t ts = log_append_type ? max_timestamp
                                         : static_cast<int64_t>(static_cast<uint64_t>(base_timestamp) +
                                                                static_cast<uint64_t>(ts_delta));
      if (timestamp_out_of_range(ts, now_ms, config, nullptr)) return false;
    }
  }
  return r.p == r.end;
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
      bool too_old = false;
      if (timestamp_out_of_range(ts, now_ms, config, &too_old)) {
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
