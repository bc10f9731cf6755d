#include "protocol/record_batch.h"

#include <algorithm>
#include <limits>

#include "common/assert.h"
#include "common/crc32c.h"

namespace keel::protocol {
namespace {

namespace f = batch_field;

// batchLength counts the bytes after itself: the header from
// partitionLeaderEpoch on is 49 bytes.
constexpr int32_t kMinBatchLength = static_cast<int32_t>(kBatchHeaderSize - kLogOverhead);

// The smallest possible record: length, attributes, timestampDelta,
// offsetDelta, keyLength, valueLength, headersCount, one byte each.
constexpr size_t kMinRecordSize = 7;
// The smallest header: keyLength + valueLength.
constexpr size_t kMinHeaderSize = 2;

int64_t wrapping_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrapping_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

// Reads a varint length that may be -1 (null) and a view of that many bytes.
// Returns false on any malformation.
bool read_nullable(ByteReader& r, std::optional<ByteView>& out) {
  int32_t len = r.read_varint();
  if (!r.ok() || len < -1) return false;
  if (len == -1) {
    out.reset();
    return true;
  }
  if (static_cast<size_t>(len) > r.remaining()) return false;
  out = r.read_view(static_cast<size_t>(len));
  return r.ok();
}

bool parse_record(ByteView body, int64_t base_offset, int64_t base_timestamp, std::optional<int64_t> log_append_time,
                  Record& rec) {
  ByteReader r(body);
  rec.attributes = r.read_i8();
  int64_t ts_delta = r.read_varlong();
  rec.sequence_delta_or_offset_delta = r.read_varint();
  if (!r.ok()) return false;
  rec.timestamp = log_append_time ? *log_append_time : wrapping_add(base_timestamp, ts_delta);
  rec.offset = wrapping_add(base_offset, rec.sequence_delta_or_offset_delta);
  if (!read_nullable(r, rec.key) || !read_nullable(r, rec.value)) return false;
  int32_t header_count = r.read_varint();
  if (!r.ok() || header_count < 0 || static_cast<size_t>(header_count) > r.remaining() / kMinHeaderSize) return false;
  rec.headers.clear();
  rec.headers.reserve(static_cast<size_t>(header_count));
  for (int32_t i = 0; i < header_count; ++i) {
    int32_t key_len = r.read_varint();
    if (!r.ok() || key_len < 0 || static_cast<size_t>(key_len) > r.remaining()) return false;
    RecordHeader h;
    h.key = as_string_view(r.read_view(static_cast<size_t>(key_len)));
    if (!read_nullable(r, h.value)) return false;
    rec.headers.push_back(h);
  }
  // The record's length must match its fields exactly.
  return r.ok() && r.at_end();
}

Result<std::vector<Record>> parse_records(ByteView section, int32_t count, int64_t base_offset,
                                          int64_t base_timestamp, std::optional<int64_t> log_append_time) {
  if (count < 0 || static_cast<size_t>(count) > section.size() / kMinRecordSize) {
    if (!(count == 0 && section.empty())) return RecordsErrc::kBadRecord;
  }
  std::vector<Record> records;
  records.reserve(static_cast<size_t>(count));
  ByteReader r(section);
  for (int32_t i = 0; i < count; ++i) {
    int32_t len = r.read_varint();
    if (!r.ok() || len < 0 || static_cast<size_t>(len) > r.remaining()) return RecordsErrc::kBadRecord;
    Record rec;
    if (!parse_record(r.read_view(static_cast<size_t>(len)), base_offset, base_timestamp, log_append_time, rec))
      return RecordsErrc::kBadRecord;
    records.push_back(std::move(rec));
  }
  if (!r.at_end()) return RecordsErrc::kBadRecord;  // more bytes than recordsCount records
  return records;
}

void write_record_body(ByteWriter& w, int32_t offset_delta, int64_t timestamp_delta,
                       const std::optional<Bytes>& key, const std::optional<Bytes>& value,
                       const std::vector<std::pair<std::string, std::optional<Bytes>>>& headers) {
  w.write_i8(0);  // record attributes: unused
  w.write_varlong(timestamp_delta);
  w.write_varint(offset_delta);
  if (key) {
    w.write_varint(static_cast<int32_t>(key->size()));
    w.write_bytes(ByteView(*key));
  } else {
    w.write_varint(-1);
  }
  if (value) {
    w.write_varint(static_cast<int32_t>(value->size()));
    w.write_bytes(ByteView(*value));
  } else {
    w.write_varint(-1);
  }
  w.write_varint(static_cast<int32_t>(headers.size()));
  for (const auto& [hk, hv] : headers) {
    w.write_varint(static_cast<int32_t>(hk.size()));
    w.write_bytes(std::string_view(hk));
    if (hv) {
      w.write_varint(static_cast<int32_t>(hv->size()));
      w.write_bytes(ByteView(*hv));
    } else {
      w.write_varint(-1);
    }
  }
}

constexpr size_t kMaxInt32 = static_cast<size_t>(std::numeric_limits<int32_t>::max());

}  // namespace

// ---- RecordBatchView ----

Result<RecordBatchView> RecordBatchView::parse(ByteView bytes) {
  if (bytes.size() < kBatchHeaderSize) return RecordsErrc::kTooShort;
  // Magic first: a legacy message set (magic 0/1, whose sizes can be below 49)
  // is reported as what it is.
  if (static_cast<int8_t>(bytes[f::kMagic]) != kMagicV2) return RecordsErrc::kBadMagic;
  int32_t batch_length = load_be<int32_t>(bytes.data() + f::kBatchLength);
  if (batch_length < kMinBatchLength) return RecordsErrc::kBadLength;
  if (static_cast<size_t>(batch_length) > bytes.size() - kLogOverhead) return RecordsErrc::kTooShort;
  return RecordBatchView(bytes.first(kLogOverhead + static_cast<size_t>(batch_length)));
}

uint32_t RecordBatchView::compute_crc() const { return crc32c(bytes_.subspan(f::kAttributes)); }
bool RecordBatchView::verify_crc() const { return compute_crc() == crc(); }

int64_t RecordBatchView::base_offset() const { return load_be<int64_t>(bytes_.data() + f::kBaseOffset); }
int32_t RecordBatchView::batch_length() const { return load_be<int32_t>(bytes_.data() + f::kBatchLength); }
int32_t RecordBatchView::partition_leader_epoch() const {
  return load_be<int32_t>(bytes_.data() + f::kPartitionLeaderEpoch);
}
int8_t RecordBatchView::magic() const { return static_cast<int8_t>(bytes_[f::kMagic]); }
uint32_t RecordBatchView::crc() const { return load_be<uint32_t>(bytes_.data() + f::kCrc); }
int16_t RecordBatchView::attributes() const { return load_be<int16_t>(bytes_.data() + f::kAttributes); }
TimestampType RecordBatchView::timestamp_type() const {
  return (attributes() & kTimestampTypeBit) ? TimestampType::kLogAppendTime : TimestampType::kCreateTime;
}
bool RecordBatchView::is_transactional() const { return attributes() & kTransactionalBit; }
bool RecordBatchView::is_control() const { return attributes() & kControlBit; }
bool RecordBatchView::has_delete_horizon() const { return attributes() & kDeleteHorizonBit; }
int32_t RecordBatchView::last_offset_delta() const { return load_be<int32_t>(bytes_.data() + f::kLastOffsetDelta); }
int64_t RecordBatchView::last_offset() const { return wrapping_add(base_offset(), last_offset_delta()); }
int64_t RecordBatchView::base_timestamp() const { return load_be<int64_t>(bytes_.data() + f::kBaseTimestamp); }
int64_t RecordBatchView::max_timestamp() const { return load_be<int64_t>(bytes_.data() + f::kMaxTimestamp); }
int64_t RecordBatchView::producer_id() const { return load_be<int64_t>(bytes_.data() + f::kProducerId); }
int16_t RecordBatchView::producer_epoch() const { return load_be<int16_t>(bytes_.data() + f::kProducerEpoch); }
int32_t RecordBatchView::base_sequence() const { return load_be<int32_t>(bytes_.data() + f::kBaseSequence); }
int32_t RecordBatchView::records_count() const { return load_be<int32_t>(bytes_.data() + f::kRecordsCount); }

Result<std::vector<Record>> RecordBatchView::decode_records(Bytes& scratch, size_t max_decompressed) const {
  if (!compression_valid()) return RecordsErrc::kUnsupportedCompression;
  // As Kafka's iterator: with LogAppendTime every record carries the batch's maxTimestamp.
  std::optional<int64_t> log_append_time;
  if (timestamp_type() == TimestampType::kLogAppendTime) log_append_time = max_timestamp();
  ByteView section = records_bytes();
  if (compression() != Compression::kNone) {
    auto d = decompress(compression(), section, max_decompressed);
    if (!d) return d.error();
    scratch = std::move(d.value());
    section = ByteView(scratch);
  }
  return parse_records(section, records_count(), base_offset(), base_timestamp(), log_append_time);
}

// ---- BatchIterator ----

Result<std::optional<RecordBatchView>> BatchIterator::next() {
  if (error_) return error_;
  if (partial_tail_) return std::optional<RecordBatchView>{};
  size_t remaining = bytes_.size() - pos_;
  if (remaining == 0) return std::optional<RecordBatchView>{};
  if (remaining < kLogOverhead) {
    partial_tail_ = true;
    return std::optional<RecordBatchView>{};
  }
  int32_t batch_length = load_be<int32_t>(bytes_.data() + pos_ + f::kBatchLength);
  if (batch_length < kMinBatchLength) {
    error_ = RecordsErrc::kBadLength;
    return error_;
  }
  if (static_cast<size_t>(batch_length) > remaining - kLogOverhead) {
    partial_tail_ = true;
    return std::optional<RecordBatchView>{};
  }
  auto view = RecordBatchView::parse(bytes_.subspan(pos_));
  if (!view) {
    error_ = view.error();
    return error_;
  }
  pos_ += view->size_bytes();
  return std::optional<RecordBatchView>(*view);
}

// ---- in-place rewrites ----

void set_base_offset(std::span<uint8_t> batch, int64_t base_offset) {
  KEEL_ASSERT(batch.size() >= kBatchHeaderSize, "set_base_offset on a span shorter than a batch header");
  store_be<int64_t>(batch.data() + f::kBaseOffset, base_offset);
}

void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch) {
  KEEL_ASSERT(batch.size() >= kBatchHeaderSize, "set_partition_leader_epoch on a span shorter than a batch header");
  store_be<int32_t>(batch.data() + f::kPartitionLeaderEpoch, epoch);
}

void set_log_append_time(std::span<uint8_t> batch, int64_t timestamp_ms) {
  KEEL_ASSERT(batch.size() >= kBatchHeaderSize, "set_log_append_time on a span shorter than a batch header");
  int32_t batch_length = load_be<int32_t>(batch.data() + f::kBatchLength);
  KEEL_ASSERT(batch_length >= kMinBatchLength && static_cast<size_t>(batch_length) <= batch.size() - kLogOverhead,
              "set_log_append_time on a batch whose length does not fit the span");
  int16_t attributes = load_be<int16_t>(batch.data() + f::kAttributes);
  store_be<int16_t>(batch.data() + f::kAttributes, static_cast<int16_t>(attributes | kTimestampTypeBit));
  store_be<int64_t>(batch.data() + f::kMaxTimestamp, timestamp_ms);
  ByteView covered(batch.data() + f::kAttributes, kLogOverhead + static_cast<size_t>(batch_length) - f::kAttributes);
  store_be<uint32_t>(batch.data() + f::kCrc, crc32c(covered));
}

// ---- RecordBatchBuilder ----

RecordBatchBuilder::RecordBatchBuilder(Compression c, int64_t base_offset) : compression_(c), base_offset_(base_offset) {}

RecordBatchBuilder& RecordBatchBuilder::producer(int64_t id, int16_t epoch, int32_t base_sequence) {
  producer_id_ = id;
  producer_epoch_ = epoch;
  base_sequence_ = base_sequence;
  return *this;
}
RecordBatchBuilder& RecordBatchBuilder::transactional(bool on) {
  transactional_ = on;
  return *this;
}
RecordBatchBuilder& RecordBatchBuilder::control(bool on) {
  control_ = on;
  return *this;
}
RecordBatchBuilder& RecordBatchBuilder::partition_leader_epoch(int32_t epoch) {
  partition_leader_epoch_ = epoch;
  return *this;
}
RecordBatchBuilder& RecordBatchBuilder::timestamp_type(TimestampType t) {
  timestamp_type_ = t;
  return *this;
}
RecordBatchBuilder& RecordBatchBuilder::log_append_time(int64_t timestamp_ms) {
  log_append_time_ = timestamp_ms;
  return *this;
}

RecordBatchBuilder& RecordBatchBuilder::add(int64_t timestamp, std::optional<ByteView> key,
                                            std::optional<ByteView> value,
                                            std::vector<std::pair<std::string, std::optional<Bytes>>> headers) {
  int64_t next = records_.empty() ? 0 : int64_t{records_.back().offset_delta} + 1;
  // Past int32 the delta cannot be written: a negative one makes build() fail with kBadBatch.
  int32_t delta = next > std::numeric_limits<int32_t>::max() ? -1 : static_cast<int32_t>(next);
  return add_with_offset_delta(delta, timestamp, key, value, std::move(headers));
}

RecordBatchBuilder& RecordBatchBuilder::add_with_offset_delta(
    int32_t offset_delta, int64_t timestamp, std::optional<ByteView> key, std::optional<ByteView> value,
    std::vector<std::pair<std::string, std::optional<Bytes>>> headers) {
  PendingRecord r{offset_delta, timestamp, std::nullopt, std::nullopt, std::move(headers)};
  if (key) r.key.emplace(key->begin(), key->end());
  if (value) r.value.emplace(value->begin(), value->end());
  records_.push_back(std::move(r));
  return *this;
}

Result<Bytes> RecordBatchBuilder::build() const {
  if (records_.size() > kMaxInt32) return RecordsErrc::kBadBatch;
  int64_t base_timestamp = -1;
  int64_t max_timestamp = -1;
  int32_t last_delta = 0;
  for (size_t i = 0; i < records_.size(); ++i) {
    const auto& r = records_[i];
    if (r.offset_delta < 0 || (i > 0 && r.offset_delta <= records_[i - 1].offset_delta)) return RecordsErrc::kBadBatch;
    if (r.key && r.key->size() > kMaxInt32) return RecordsErrc::kBadBatch;
    if (r.value && r.value->size() > kMaxInt32) return RecordsErrc::kBadBatch;
    if (i == 0) base_timestamp = r.timestamp;
    max_timestamp = std::max(max_timestamp, r.timestamp);
    last_delta = r.offset_delta;
  }
  if (timestamp_type_ == TimestampType::kLogAppendTime && log_append_time_) max_timestamp = *log_append_time_;

  // The records section, each record prefixed by its varint length.
  ByteWriter section;
  ByteWriter body;
  for (const auto& r : records_) {
    body.buffer().clear();
    write_record_body(body, r.offset_delta, wrapping_sub(r.timestamp, base_timestamp), r.key, r.value, r.headers);
    if (body.size() > kMaxInt32) return RecordsErrc::kBadBatch;
    section.write_varint(static_cast<int32_t>(body.size()));
    section.write_bytes(ByteView(body.buffer()));
  }
  Bytes records_bytes;
  if (compression_ == Compression::kNone) {
    records_bytes = section.take();
  } else {
    auto c = compress(compression_, ByteView(section.buffer()));
    if (!c) return c.error();
    records_bytes = std::move(c.value());
  }
  if (records_bytes.size() > kMaxInt32 - (kBatchHeaderSize - kLogOverhead)) return RecordsErrc::kBadBatch;

  int16_t attributes = static_cast<int16_t>(compression_);
  if (timestamp_type_ == TimestampType::kLogAppendTime) attributes |= kTimestampTypeBit;
  if (transactional_) attributes |= kTransactionalBit;
  if (control_) attributes |= kControlBit;

  ByteWriter w(kBatchHeaderSize + records_bytes.size());
  w.write_i64(base_offset_);
  w.write_i32(static_cast<int32_t>(kBatchHeaderSize - kLogOverhead + records_bytes.size()));
  w.write_i32(partition_leader_epoch_);
  w.write_i8(kMagicV2);
  size_t crc_at = w.reserve_bytes(4);
  w.write_i16(attributes);
  w.write_i32(last_delta);
  w.write_i64(base_timestamp);
  w.write_i64(max_timestamp);
  w.write_i64(producer_id_);
  w.write_i16(producer_epoch_);
  w.write_i32(base_sequence_);
  w.write_i32(static_cast<int32_t>(records_.size()));
  w.write_bytes(ByteView(records_bytes));
  Bytes out = w.take();
  store_be<uint32_t>(out.data() + crc_at, crc32c(ByteView(out).subspan(f::kAttributes)));
  return out;
}

}  // namespace keel::protocol
