#pragma once
// Kafka record batch v2 (magic 2): a read-only view over the bytes, iteration
// over a concatenation of batches, in-place rewrites for the broker's append
// path, and a builder.
//
// Layout (big-endian; offsets from the batch start):
//   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 |
//   16 magic i8 | 17 crc u32 (CRC-32C of bytes 21..end) | 21 attributes i16 |
//   23 lastOffsetDelta i32 | 27 baseTimestamp i64 | 35 maxTimestamp i64 |
//   43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 |
//   57 recordsCount i32 | 61 records (one compressed stream when compressed)
//
// Nothing here trusts a length: every parse is bounds-checked and bad input
// gives a RecordsErrc, never a crash. Views borrow; the caller keeps the bytes
// alive while a view (or a Record decoded from it) is in use.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/compression.h"

namespace keel::protocol {

enum class TimestampType : uint8_t { kCreateTime = 0, kLogAppendTime = 1 };

inline constexpr size_t kLogOverhead = 12;       // baseOffset + batchLength
inline constexpr size_t kBatchHeaderSize = 61;
inline constexpr int8_t kMagicV2 = 2;

// Byte positions of the header fields.
namespace batch_field {
inline constexpr size_t kBaseOffset = 0;
inline constexpr size_t kBatchLength = 8;
inline constexpr size_t kPartitionLeaderEpoch = 12;
inline constexpr size_t kMagic = 16;
inline constexpr size_t kCrc = 17;
inline constexpr size_t kAttributes = 21;
inline constexpr size_t kLastOffsetDelta = 23;
inline constexpr size_t kBaseTimestamp = 27;
inline constexpr size_t kMaxTimestamp = 35;
inline constexpr size_t kProducerId = 43;
inline constexpr size_t kProducerEpoch = 51;
inline constexpr size_t kBaseSequence = 53;
inline constexpr size_t kRecordsCount = 57;
}  // namespace batch_field

// Attribute bits.
inline constexpr int16_t kCompressionMask = 0x07;
inline constexpr int16_t kTimestampTypeBit = 0x08;
inline constexpr int16_t kTransactionalBit = 0x10;
inline constexpr int16_t kControlBit = 0x20;
inline constexpr int16_t kDeleteHorizonBit = 0x40;

struct RecordHeader {
  std::string_view key;
  std::optional<ByteView> value;
};

// One decoded record. Views borrow from the batch or from decode_records'
// scratch buffer.
struct Record {
  int8_t attributes = 0;
  int64_t timestamp = 0;  // absolute: baseTimestamp + delta (maxTimestamp for LogAppendTime batches)
  int64_t offset = 0;     // absolute: baseOffset + offsetDelta
  int32_t sequence_delta_or_offset_delta = 0;  // offsetDelta (also the sequence delta)
  std::optional<ByteView> key;
  std::optional<ByteView> value;
  std::vector<RecordHeader> headers;

  int32_t offset_delta() const { return sequence_delta_or_offset_delta; }
};

class RecordBatchView {
 public:
  RecordBatchView() = default;

  // Parses the header at the start of `bytes`: needs >= 61 bytes, magic 2,
  // batchLength >= 49 and 12 + batchLength <= bytes.size(). Does NOT check the CRC.
  // The view covers exactly 12 + batchLength bytes.
  static Result<RecordBatchView> parse(ByteView bytes);

  // CRC-32C over attributes..end equals the stored crc.
  bool verify_crc() const;
  uint32_t compute_crc() const;

  ByteView bytes() const { return bytes_; }
  size_t size_bytes() const { return bytes_.size(); }
  // The records section (compressed when compression() != kNone).
  ByteView records_bytes() const { return bytes_.subspan(kBatchHeaderSize); }

  int64_t base_offset() const;
  int32_t batch_length() const;
  int32_t partition_leader_epoch() const;
  int8_t magic() const;
  uint32_t crc() const;
  int16_t attributes() const;
  // Raw codec bits; values 5-7 map to no Compression (see compression_valid()).
  uint8_t compression_bits() const { return static_cast<uint8_t>(attributes() & kCompressionMask); }
  bool compression_valid() const { return compression_bits() <= 4; }
  Compression compression() const { return static_cast<Compression>(compression_bits()); }
  TimestampType timestamp_type() const;
  bool is_transactional() const;
  bool is_control() const;
  bool has_delete_horizon() const;
  int32_t last_offset_delta() const;
  int64_t last_offset() const;  // base_offset + last_offset_delta
  int64_t base_timestamp() const;
  int64_t max_timestamp() const;
  int64_t producer_id() const;
  int16_t producer_epoch() const;
  int32_t base_sequence() const;
  int32_t records_count() const;

  // Decodes every record (decompressing when needed, output capped at
  // max_decompressed bytes). Borrowed views point into the batch or into
  // `scratch`, which is overwritten. Errors: kBadRecord when a record overruns
  // its length or the records section, a length is negative other than -1,
  // the number of records differs from records_count(), or bytes are left
  // over; kUnsupportedCompression / kDecompressFailed / kTooLarge from the codec.
  // Does not check the CRC (call verify_crc()).
  Result<std::vector<Record>> decode_records(Bytes& scratch, size_t max_decompressed = 64u << 20) const;

 private:
  explicit RecordBatchView(ByteView b) : bytes_(b) {}
  ByteView bytes_;
};

// Walks a concatenation of batches (a produce request's records, a segment's bytes).
// next(): the next whole batch; nullopt at the end or at a partial tail (then
// partial_tail() is true); an error for a malformed header (batchLength < 49,
// magic != 2). After an error, next() keeps returning that error.
class BatchIterator {
 public:
  explicit BatchIterator(ByteView bytes) : bytes_(bytes) {}
  Result<std::optional<RecordBatchView>> next();
  // Byte position of the next batch (= bytes consumed by whole batches so far).
  size_t position() const { return pos_; }
  bool partial_tail() const { return partial_tail_; }

 private:
  ByteView bytes_;
  size_t pos_ = 0;
  bool partial_tail_ = false;
  std::error_code error_;
};

// In-place rewrites of one batch held in a mutable buffer (the broker's append
// path). `batch` starts at the batch and holds at least its 61-byte header
// (set_log_append_time: the whole batch). These abort (KEEL_ASSERT) on a
// too-short span: callers parse and validate the batch first.
void set_base_offset(std::span<uint8_t> batch, int64_t base_offset);            // CRC unaffected
void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch);      // CRC unaffected
void set_log_append_time(std::span<uint8_t> batch, int64_t timestamp_ms);      // sets attr bit 3 + maxTimestamp, recomputes CRC

// Builds one v2 batch the way Kafka's Java producer (MemoryRecordsBuilder)
// does: baseTimestamp = first record's timestamp, maxTimestamp = the largest,
// offset deltas 0..n-1 (unless given), partitionLeaderEpoch/producer fields -1
// by default. Uncompressed output is byte-identical to Java's. Not thread-safe.
class RecordBatchBuilder {
 public:
  explicit RecordBatchBuilder(Compression c = Compression::kNone, int64_t base_offset = 0);

  RecordBatchBuilder& producer(int64_t id, int16_t epoch, int32_t base_sequence);
  RecordBatchBuilder& transactional(bool on);
  RecordBatchBuilder& control(bool on);
  RecordBatchBuilder& partition_leader_epoch(int32_t epoch);
  RecordBatchBuilder& timestamp_type(TimestampType t);
  // With LogAppendTime: the batch's maxTimestamp (Java sets it to the append
  // time). Without this call the largest record timestamp is used.
  RecordBatchBuilder& log_append_time(int64_t timestamp_ms);

  // Appends a record with the next offset delta (previous + 1, starting at 0).
  RecordBatchBuilder& add(int64_t timestamp, std::optional<ByteView> key, std::optional<ByteView> value,
                          std::vector<std::pair<std::string, std::optional<Bytes>>> headers = {});
  // Appends a record at an explicit offset delta (up-conversion of legacy
  // message sets with gaps). Deltas must increase; build() fails otherwise.
  RecordBatchBuilder& add_with_offset_delta(int32_t offset_delta, int64_t timestamp,
                                            std::optional<ByteView> key, std::optional<ByteView> value,
                                            std::vector<std::pair<std::string, std::optional<Bytes>>> headers = {});

  size_t record_count() const { return records_.size(); }

  // The batch. An empty builder gives a batch with 0 records, lastOffsetDelta 0
  // and timestamps -1. Errors: kBadBatch (offset deltas not increasing, sizes
  // over int32), kCompressFailed.
  Result<Bytes> build() const;

 private:
  struct PendingRecord {
    int32_t offset_delta;
    int64_t timestamp;
    std::optional<Bytes> key;
    std::optional<Bytes> value;
    std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
  };

  Compression compression_;
  int64_t base_offset_;
  int64_t producer_id_ = -1;
  int16_t producer_epoch_ = -1;
  int32_t base_sequence_ = -1;
  bool transactional_ = false;
  bool control_ = false;
  int32_t partition_leader_epoch_ = -1;
  TimestampType timestamp_type_ = TimestampType::kCreateTime;
  std::optional<int64_t> log_append_time_;
  std::vector<PendingRecord> records_;
};

}  // namespace keel::protocol
