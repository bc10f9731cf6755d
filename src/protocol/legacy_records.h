#pragma once
// Legacy message sets (magic 0 and 1), as written by Produce < v3 and old
// log.message.format.version. Read-only, plus up-conversion to a v2 batch.
//
// Message set = messages back to back:
//   offset i64 | messageSize i32 | crc u32 (CRC-32 IEEE of magic..end) |
//   magic i8 | attributes i8 (bits 0-2 codec, bit 3 timestamp type in v1) |
//   timestamp i64 (v1 only) | keyLength i32 (-1 null) | key | valueLength i32 | value
// A compressed message ("wrapper") holds a whole inner message set in its
// value. Inner offsets are absolute in v0 and relative in v1 (the wrapper
// carries the last inner offset). Only one level of nesting exists.
//
// Bounds-checked like record_batch.h: bad input gives a RecordsErrc.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"

namespace keel::protocol {

inline constexpr size_t kLegacyLogOverhead = 12;         // offset + messageSize
inline constexpr int32_t kLegacyMinMessageSizeV0 = 14;   // crc, magic, attributes, key and value lengths
inline constexpr int32_t kLegacyMinMessageSizeV1 = 22;   // + timestamp

struct LegacyMessage {
  int64_t offset = 0;      // absolute (inner offsets of v1 wrappers already resolved)
  int8_t magic = 0;
  int8_t attributes = 0;
  int64_t timestamp = -1;  // -1 for magic 0; the wrapper's for inner messages of a LogAppendTime v1 wrapper
  uint32_t crc = 0;        // as stored
  std::optional<ByteView> key;
  std::optional<ByteView> value;

  Compression compression() const { return static_cast<Compression>(attributes & kCompressionMask); }
  TimestampType timestamp_type() const {
    return magic >= 1 && (attributes & kTimestampTypeBit) ? TimestampType::kLogAppendTime : TimestampType::kCreateTime;
  }
};

struct LegacyMessageSet {
  std::vector<LegacyMessage> messages;  // compressed wrappers replaced by their inner messages
  size_t bytes_consumed = 0;            // whole top-level messages read
  bool partial_tail = false;            // the input ended inside a message (fetch responses may)
};

// Magic byte of the records at the start of `bytes` (byte 16: the same place
// in v0, v1 and v2), or kTooShort.
Result<int8_t> peek_magic(ByteView bytes);

// Reads a legacy message set. Compressed wrappers are decompressed (output
// capped at max_decompressed bytes in total; kTooLarge past it) into buffers
// appended to `scratch`; the inner messages' views point into them, so keep
// `scratch` alive (moving the vector is fine) while the messages are used.
// With verify_crc, every message's CRC-32 (wrappers and inner messages) is
// checked (kCrcMismatch). Errors: kBadMagic (not 0/1, or an inner magic that
// differs from its wrapper's), kBadLength, kBadRecord (fields overrun the
// message, negative lengths other than -1, nested compression, a wrapper with
// a null value), codec errors.
Result<LegacyMessageSet> read_legacy_message_set(ByteView bytes, std::vector<Bytes>& scratch,
                                                 size_t max_decompressed = 64u << 20, bool verify_crc = true);

// Up-conversion: one v2 batch holding `messages` (as returned by
// read_legacy_message_set: already decompressed), compressed with `codec`.
// baseOffset = the first message's offset, offset gaps are kept; v0 messages
// get timestamp -1. If the first message is v1 with LogAppendTime, the batch
// is LogAppendTime with the largest timestamp as maxTimestamp. Errors:
// kBadBatch when there are no messages or offsets do not increase within int32 range.
Result<Bytes> legacy_to_batch(std::span<const LegacyMessage> messages, Compression codec = Compression::kNone);

// Builds one legacy message (for tests and fuzz seeds; Keel never writes legacy
// formats to its logs). `value` of a wrapper is an already compressed message set.
Bytes build_legacy_message(int8_t magic, int64_t offset, int8_t attributes, int64_t timestamp,
                           std::optional<ByteView> key, std::optional<ByteView> value);

// Rewrites the header checksum of an LZ4 frame to the correct value. Kafka
// wrote magic-0 LZ4 frames with a checksum over the wrong bytes; liblz4
// rejects those. Returns false when `frame` is not an LZ4 frame header.
bool fix_lz4_header_checksum(std::span<uint8_t> frame);

}  // namespace keel::protocol
