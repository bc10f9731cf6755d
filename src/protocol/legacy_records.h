#pragma once
// Legacy message sets (magic 0 and 1), read-only: what Produce v0-v2 and old
// segments carry. Keel never writes them.
//
// Message set = messages back to back, each
//   offset i64 | messageSize i32 | crc u32 (CRC-32 of magic..end) | magic i8 |
//   attributes i8 (bits 0-2 codec, bit 3 timestamp type in v1) |
//   timestamp i64 (v1 only) | keyLength i32 (-1 null) | key | valueLength i32 (-1 null) | value
// A compressed message ("wrapper") holds, in its value, a compressed message
// set of uncompressed inner messages (one level only). For magic 1 the inner
// offsets are relative (0..n-1) and the wrapper carries the absolute offset of
// the last inner message; for magic 0 the inner offsets are absolute.
//
// Bounds-checked throughout; bad input gives a RecordsErrc. Decoded records
// borrow from the input or from `scratch`; keep both alive while using them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"

namespace keel::protocol {

inline constexpr size_t kLegacyLogOverhead = 12;          // offset + messageSize
inline constexpr size_t kLegacyRecordOverheadV0 = 14;     // crc, magic, attributes, key/value lengths
inline constexpr size_t kLegacyRecordOverheadV1 = 22;     // + timestamp
inline constexpr int8_t kLegacyTimestampTypeBit = 0x08;

// The magic byte of the first batch or message in `bytes` (both layouts keep
// it at byte 16), or nullopt when fewer than 17 bytes are given.
std::optional<int8_t> peek_magic(ByteView bytes);

// One message of a message set, as it is on the wire (a wrapper stays a wrapper).
class LegacyMessageView {
 public:
  LegacyMessageView() = default;

  // Parses the message at the start of `bytes`: magic 0 or 1, messageSize at
  // least the version's overhead and within `bytes`, key/value lengths
  // consistent with messageSize. Does NOT check the CRC.
  static Result<LegacyMessageView> parse(ByteView bytes);

  bool verify_crc() const;  // CRC-32 (zlib's) over magic..end equals crc()

  ByteView bytes() const { return bytes_; }
  size_t size_bytes() const { return bytes_.size(); }
  int64_t offset() const;
  int32_t message_size() const;
  uint32_t crc() const;
  int8_t magic() const;
  int8_t attributes() const;
  uint8_t compression_bits() const { return static_cast<uint8_t>(attributes() & 0x07); }
  Compression compression() const { return static_cast<Compression>(compression_bits()); }
  // Magic 0 has no timestamp: -1 and kCreateTime.
  int64_t timestamp() const;
  TimestampType timestamp_type() const;
  std::optional<ByteView> key() const { return key_; }
  std::optional<ByteView> value() const { return value_; }

 private:
  ByteView bytes_;
  std::optional<ByteView> key_;
  std::optional<ByteView> value_;
};

// One logical record after unwrapping compressed messages.
struct LegacyRecord {
  int64_t offset = 0;     // absolute
  int8_t magic = 0;
  int64_t timestamp = -1;  // -1 for magic 0; the wrapper's for LogAppendTime wrappers
  TimestampType timestamp_type = TimestampType::kCreateTime;
  std::optional<ByteView> key;
  std::optional<ByteView> value;
};

struct LegacyDecodeOptions {
  bool verify_crc = true;                 // check every message's CRC (outer and inner)
  size_t max_decompressed = 64u << 20;    // total decompressed bytes over the whole set
};

// Decodes a whole message set, unwrapping compressed wrappers (one level).
// A partial message at the end is ignored, as Kafka's consumers do (the
// fetch size may cut one); set `*partial_tail` to learn whether there was one.
// Decompressed buffers are appended to `scratch` (their heap storage stays
// put when the vector grows, so records may borrow from them).
// Errors: kBadMagic, kBadLength, kCrcMismatch, kBadRecord (nested
// compression, empty wrapper, inner magic differing from the wrapper's),
// kUnsupportedCompression (codec bits 5-7, or zstd, which needs magic 2),
// kDecompressFailed, kTooLarge.
Result<std::vector<LegacyRecord>> decode_legacy_message_set(ByteView bytes, std::vector<Bytes>& scratch,
                                                            const LegacyDecodeOptions& options = {},
                                                            bool* partial_tail = nullptr);

// CRC-32 (IEEE, zlib's crc32) as legacy messages use it.
uint32_t legacy_crc32(ByteView data);

}  // namespace keel::protocol
