#pragma once
// Kafka's record compression codecs, as Kafka's clients write them:
//   gzip   - a gzip stream (zlib, gzip header); concatenated members are read
//   snappy - compress writes the xerial framing Java clients write
//            (magic 0x82 "SNAPPY" 0x00, version, compat, then int32-length
//            blocks); decompress reads that framing or a raw snappy block
//   lz4    - the LZ4 frame format (liblz4's LZ4F), 64 KiB independent blocks
//   zstd   - standard zstd frames
//
// decompress() never produces more than `max_output` bytes: it streams and
// stops with RecordsErrc::kTooLarge once the output would pass the cap, so a
// small "zip bomb" cannot make the broker allocate gigabytes. Declared sizes
// inside the compressed data are never trusted for allocation beyond the cap.
//
// Also home of Compression and RecordsErrc, shared by record_batch.h and
// legacy_records.h.

#include <cstdint>
#include <system_error>

#include "common/bytes.h"
#include "common/result.h"

namespace keel::protocol {

// Bits 0-2 of a batch's (or legacy message's) attributes.
enum class Compression : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };

enum class RecordsErrc {
  kTooShort = 1,            // fewer bytes than the header needs
  kBadMagic,                // magic byte is not the one expected (2 for batches, 0/1 legacy)
  kBadLength,               // a batch/message length field is impossible
  kCrcMismatch,             // stored CRC differs from the computed one
  kBadRecord,               // a record inside the batch is malformed (overruns, negative lengths, count mismatch)
  kUnsupportedCompression,  // compression bits name no codec (5-7), or a codec not allowed here
  kDecompressFailed,        // the codec rejected the data
  kTooLarge,                // decompressed output would exceed the cap
  kCompressFailed,          // the codec failed to compress (out of memory, etc.)
  kBadBatch,                // builder input cannot form a batch (too many records, offsets out of order)
};

const std::error_category& records_category();
inline std::error_code make_error_code(RecordsErrc e) { return {static_cast<int>(e), records_category()}; }

// Name as Kafka's config values spell it: "none", "gzip", "snappy", "lz4", "zstd".
const char* compression_name(Compression c);

// Compresses `input` whole. kNone returns a copy.
Result<Bytes> compress(Compression codec, ByteView input);

// One gzip member of `input` at zlib's `level` (1 fastest to 9 smallest), for
// what is not a record batch (an HTTP body): compress(kGzip) uses zlib's default.
Result<Bytes> gzip(ByteView input, int level);

// Decompresses `input`, producing at most `max_output` bytes (kTooLarge past
// that). kNone returns a copy (also capped).
Result<Bytes> decompress(Compression codec, ByteView input, size_t max_output);

}  // namespace keel::protocol

template <>
struct std::is_error_code_enum<keel::protocol::RecordsErrc> : std::true_type {};
