#include "protocol/compression.h"

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

namespace keel::protocol {
namespace {

class RecordsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "records"; }
  std::string message(int c) const override {
    switch (static_cast<RecordsErrc>(c)) {
      case RecordsErrc::kTooShort: return "record batch shorter than its header";
      case RecordsErrc::kBadMagic: return "unexpected magic byte";
      case RecordsErrc::kBadLength: return "invalid batch or message length";
      case RecordsErrc::kCrcMismatch: return "CRC mismatch";
      case RecordsErrc::kBadRecord: return "malformed record";
      case RecordsErrc::kUnsupportedCompression: return "unsupported compression type";
      case RecordsErrc::kDecompressFailed: return "decompression failed";
      case RecordsErrc::kTooLarge: return "decompressed data exceeds the size limit";
      case RecordsErrc::kCompressFailed: return "compression failed";
      case RecordsErrc::kBadBatch: return "records cannot form a batch";
    }
    return "unknown records error";
  }
};

// xerial snappy-java framing, as Kafka's Java clients write it.
constexpr std::array<uint8_t, 8> kXerialMagic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00};
constexpr size_t kXerialHeaderSize = 16;      // magic + int32 version + int32 compat
constexpr size_t kXerialBlockSize = 32 * 1024;  // snappy-java's default block size

// Output grows up to `limit` = cap + 1: producing that extra byte proves the
// data is over the cap without ever holding more than cap + 1 bytes.
size_t limit_for(size_t cap) { return cap == std::numeric_limits<size_t>::max() ? cap : cap + 1; }

// Grows `out` (whose first `produced` bytes are filled) by a chunk, never past
// `limit`. Returns false when it is already at the limit.
bool grow(Bytes& out, size_t produced, size_t limit, size_t input_size) {
  if (produced >= limit) return false;
  size_t want = std::max<size_t>({out.size() * 2, input_size * 2, 16 * 1024});
  out.resize(std::min(limit, std::max(want, produced + 1)));
  return true;
}

Result<Bytes> finish(Bytes out, size_t produced, size_t cap) {
  if (produced > cap) return RecordsErrc::kTooLarge;
  out.resize(produced);
  return out;
}

// ---- gzip ----

Result<Bytes> gzip_compress(ByteView in, int level) {
  if (in.size() > std::numeric_limits<uInt>::max() / 2) return RecordsErrc::kCompressFailed;
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return RecordsErrc::kCompressFailed;
  Bytes out(deflateBound(&zs, in.size()) + 32);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t produced = out.size() - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return RecordsErrc::kCompressFailed;
  out.resize(produced);
  return out;
}

Result<Bytes> gzip_decompress(ByteView in, size_t cap) {
  if (in.size() > std::numeric_limits<uInt>::max()) return RecordsErrc::kDecompressFailed;
  z_stream zs{};
  if (inflateInit2(&zs, 16 + 15) != Z_OK) return RecordsErrc::kDecompressFailed;
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  size_t limit = limit_for(cap);
  Bytes out;
  size_t produced = 0;
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    if (produced == out.size() && !grow(out, produced, limit, in.size())) break;
    zs.next_out = out.data() + produced;
    size_t room = std::min<size_t>(out.size() - produced, std::numeric_limits<uInt>::max());
    zs.avail_out = static_cast<uInt>(room);
    int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) return finish(std::move(out), produced, cap);
      // Concatenated gzip members: keep going with the next one.
      if (inflateReset(&zs) != Z_OK) return RecordsErrc::kDecompressFailed;
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_out == 0) continue;  // needs more room
    if (rc != Z_OK) return RecordsErrc::kDecompressFailed;  // includes truncated input
    if (zs.avail_in == 0 && zs.avail_out > 0) return RecordsErrc::kDecompressFailed;  // stream ended early
  }
  return RecordsErrc::kTooLarge;
}

// ---- snappy ----

Result<Bytes> snappy_compress(ByteView in) {
  Bytes out(kXerialHeaderSize);
  std::memcpy(out.data(), kXerialMagic.data(), kXerialMagic.size());
  store_be<int32_t>(out.data() + 8, 1);   // version
  store_be<int32_t>(out.data() + 12, 1);  // compatible version
  for (size_t pos = 0; pos < in.size(); pos += kXerialBlockSize) {
    size_t n = std::min(kXerialBlockSize, in.size() - pos);
    size_t at = out.size();
    out.resize(at + 4 + snappy::MaxCompressedLength(n));
    size_t written = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(in.data() + pos), n,
                        reinterpret_cast<char*>(out.data() + at + 4), &written);
    store_be<int32_t>(out.data() + at, static_cast<int32_t>(written));
    out.resize(at + 4 + written);
  }
  return out;
}

// Appends the raw snappy block `in` to out, keeping out.size() <= cap.
Result<void> snappy_raw_append(ByteView in, Bytes& out, size_t cap) {
  size_t n = 0;
  const char* src = reinterpret_cast<const char*>(in.data());
  if (!snappy::GetUncompressedLength(src, in.size(), &n)) return RecordsErrc::kDecompressFailed;
  // The declared length is checked against the cap before allocating; the
  // decoder then refuses data that does not produce exactly that length.
  if (n > cap - out.size()) return RecordsErrc::kTooLarge;
  size_t at = out.size();
  out.resize(at + n);
  if (!snappy::RawUncompress(src, in.size(), reinterpret_cast<char*>(out.data() + at)))
    return RecordsErrc::kDecompressFailed;
  return {};
}

Result<Bytes> snappy_decompress(ByteView in, size_t cap) {
  Bytes out;
  if (in.size() < kXerialMagic.size() || std::memcmp(in.data(), kXerialMagic.data(), kXerialMagic.size()) != 0) {
    if (auto r = snappy_raw_append(in, out, cap); !r) return r.error();
    return out;
  }
  if (in.size() < kXerialHeaderSize) return RecordsErrc::kDecompressFailed;
  ByteReader r(in.subspan(kXerialHeaderSize));
  while (!r.at_end()) {
    int32_t len = r.read_i32();
    if (!r.ok() || len < 0 || static_cast<size_t>(len) > r.remaining()) return RecordsErrc::kDecompressFailed;
    if (auto a = snappy_raw_append(r.read_view(static_cast<size_t>(len)), out, cap); !a) return a.error();
  }
  return out;
}

// ---- lz4 ----

Result<Bytes> lz4_compress(ByteView in) {
  LZ4F_preferences_t prefs;
  std::memset(&prefs, 0, sizeof(prefs));
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;  // as Kafka's KafkaLZ4BlockOutputStream
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  Bytes out(LZ4F_compressFrameBound(in.size(), &prefs));
  size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) return RecordsErrc::kCompressFailed;
  out.resize(n);
  return out;
}

Result<Bytes> lz4_decompress(ByteView in, size_t cap) {
  LZ4F_dctx* dctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) return RecordsErrc::kDecompressFailed;
  std::unique_ptr<LZ4F_dctx, size_t (*)(LZ4F_dctx*)> guard(dctx, LZ4F_freeDecompressionContext);
  if (in.empty()) return RecordsErrc::kDecompressFailed;
  size_t limit = limit_for(cap);
  Bytes out;
  size_t produced = 0, consumed = 0;
  size_t hint = 1;  // non-zero: a frame is in progress
  while (consumed < in.size()) {
    if (produced == out.size() && !grow(out, produced, limit, in.size())) return RecordsErrc::kTooLarge;
    size_t dst_size = out.size() - produced;
    size_t src_size = in.size() - consumed;
    hint = LZ4F_decompress(dctx, out.data() + produced, &dst_size, in.data() + consumed, &src_size, nullptr);
    if (LZ4F_isError(hint)) return RecordsErrc::kDecompressFailed;
    consumed += src_size;
    produced += dst_size;
    if (src_size == 0 && dst_size == 0 && produced < out.size()) return RecordsErrc::kDecompressFailed;
  }
  // Input is used up; flush whatever the decoder still holds.
  while (hint != 0) {
    if (produced == out.size() && !grow(out, produced, limit, in.size())) return RecordsErrc::kTooLarge;
    size_t dst_size = out.size() - produced;
    size_t src_size = 0;
    hint = LZ4F_decompress(dctx, out.data() + produced, &dst_size, nullptr, &src_size, nullptr);
    if (LZ4F_isError(hint)) return RecordsErrc::kDecompressFailed;
    produced += dst_size;
    if (dst_size == 0 && hint != 0) return RecordsErrc::kDecompressFailed;  // truncated frame
  }
  return finish(std::move(out), produced, cap);
}

// ---- zstd ----

Result<Bytes> zstd_compress(ByteView in) {
  Bytes out(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  if (ZSTD_isError(n)) return RecordsErrc::kCompressFailed;
  out.resize(n);
  return out;
}

Result<Bytes> zstd_decompress(ByteView in, size_t cap) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (!dctx) return RecordsErrc::kDecompressFailed;
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> guard(dctx, ZSTD_freeDCtx);
  // The window a frame may ask for bounds the decoder's memory. Producers'
  // streaming windows are <= 8 MiB at usual levels; a window larger than the
  // cap (and than zstd's default limit, 128 MiB) is never needed.
  int window_log = std::clamp(static_cast<int>(std::bit_width(cap)), 23, 27);
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, window_log);
  if (in.empty()) return RecordsErrc::kDecompressFailed;
  size_t limit = limit_for(cap);
  Bytes out;
  size_t produced = 0;
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  size_t ret = 1;
  for (;;) {
    if (produced == out.size() && !grow(out, produced, limit, in.size())) return RecordsErrc::kTooLarge;
    ZSTD_outBuffer ob{out.data(), out.size(), produced};
    size_t before_in = ib.pos;
    ret = ZSTD_decompressStream(dctx, &ob, &ib);
    if (ZSTD_isError(ret)) return RecordsErrc::kDecompressFailed;
    bool progressed = ob.pos != produced || ib.pos != before_in;
    produced = ob.pos;
    if (ret == 0 && ib.pos == ib.size) break;  // last frame complete and flushed
    if (!progressed && produced < out.size()) return RecordsErrc::kDecompressFailed;  // truncated
  }
  return finish(std::move(out), produced, cap);
}

}  // namespace

const std::error_category& records_category() {
  static const RecordsCategory category;
  return category;
}

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kSnappy: return "snappy";
    case Compression::kLz4: return "lz4";
    case Compression::kZstd: return "zstd";
  }
  return "unknown";
}

Result<Bytes> compress(Compression codec, ByteView input) {
  switch (codec) {
    case Compression::kNone: return Bytes(input.begin(), input.end());
    case Compression::kGzip: return gzip_compress(input, Z_DEFAULT_COMPRESSION);
    case Compression::kSnappy: return snappy_compress(input);
    case Compression::kLz4: return lz4_compress(input);
    case Compression::kZstd: return zstd_compress(input);
  }
  return RecordsErrc::kUnsupportedCompression;
}

Result<Bytes> decompress(Compression codec, ByteView input, size_t max_output) {
  switch (codec) {
    case Compression::kNone:
      if (input.size() > max_output) return RecordsErrc::kTooLarge;
      return Bytes(input.begin(), input.end());
    case Compression::kGzip: return gzip_decompress(input, max_output);
    case Compression::kSnappy: return snappy_decompress(input, max_output);
    case Compression::kLz4: return lz4_decompress(input, max_output);
    case Compression::kZstd: return zstd_decompress(input, max_output);
  }
  return RecordsErrc::kUnsupportedCompression;
}

Result<Bytes> gzip(ByteView input, int level) { return gzip_compress(input, std::clamp(level, 1, 9)); }

}  // namespace keel::protocol
