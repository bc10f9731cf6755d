#include "protocol/legacy_records.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

namespace keel::protocol {
namespace {

uint32_t crc32_ieee(ByteView b) {
  uLong c = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; a message is bounded by int32 anyway.
  return static_cast<uint32_t>(crc32(c, b.data(), static_cast<uInt>(b.size())));
}

uint32_t rotl32(uint32_t v, int r) { return (v << r) | (v >> (32 - r)); }

// XXH32 with seed 0, for inputs shorter than 16 bytes (an LZ4 frame descriptor).
uint32_t xxh32_small(ByteView b) {
  constexpr uint32_t kP1 = 2654435761u, kP2 = 2246822519u, kP3 = 3266489917u, kP4 = 668265263u, kP5 = 374761393u;
  uint32_t h = kP5 + static_cast<uint32_t>(b.size());
  size_t i = 0;
  for (; i + 4 <= b.size(); i += 4) {
    uint32_t w = uint32_t{b[i]} | uint32_t{b[i + 1]} << 8 | uint32_t{b[i + 2]} << 16 | uint32_t{b[i + 3]} << 24;
    h = rotl32(h + w * kP3, 17) * kP4;
  }
  for (; i < b.size(); ++i) h = rotl32(h + b[i] * kP5, 11) * kP1;
  h ^= h >> 15;
  h *= kP2;
  h ^= h >> 13;
  h *= kP3;
  h ^= h >> 16;
  return h;
}

struct Ctx {
  std::vector<Bytes>& scratch;
  size_t budget;  // decompressed bytes still allowed
  bool verify_crc;
};

// Reads one message at r's position. Returns kTooShort-like partial signal
// through `partial` for the caller to decide.
Result<LegacyMessage> read_message(ByteReader& r, bool& partial, bool verify_crc) {
  partial = false;
  if (r.remaining() < kLegacyLogOverhead) {
    partial = true;
    return RecordsErrc::kTooShort;
  }
  LegacyMessage m;
  m.offset = r.read_i64();
  int32_t size = r.read_i32();
  if (size < kLegacyMinMessageSizeV0) return RecordsErrc::kBadLength;
  if (static_cast<size_t>(size) > r.remaining()) {
    partial = true;
    return RecordsErrc::kTooShort;
  }
  ByteView body = r.read_view(static_cast<size_t>(size));
  ByteReader b(body);
  m.crc = b.read_u32();
  m.magic = b.read_i8();
  if (m.magic != 0 && m.magic != 1) return RecordsErrc::kBadMagic;
  if (m.magic == 1 && size < kLegacyMinMessageSizeV1) return RecordsErrc::kBadLength;
  m.attributes = b.read_i8();
  m.timestamp = m.magic == 1 ? b.read_i64() : -1;
  for (std::optional<ByteView>* field : {&m.key, &m.value}) {
    int32_t len = b.read_i32();
    if (!b.ok() || len < -1) return RecordsErrc::kBadRecord;
    if (len == -1) continue;
    if (static_cast<size_t>(len) > b.remaining()) return RecordsErrc::kBadRecord;
    *field = b.read_view(static_cast<size_t>(len));
  }
  if (!b.ok() || !b.at_end()) return RecordsErrc::kBadRecord;
  if (verify_crc && crc32_ieee(body.subspan(4)) != m.crc) return RecordsErrc::kCrcMismatch;
  return m;
}

Result<void> expand_wrapper(const LegacyMessage& w, Ctx& ctx, std::vector<LegacyMessage>& out) {
  if ((w.attributes & kCompressionMask) > 4) return RecordsErrc::kUnsupportedCompression;
  // zstd never existed for magic 0/1 (it needs Produce v7 / magic 2).
  if (w.compression() == Compression::kZstd) return RecordsErrc::kUnsupportedCompression;
  if (!w.value) return RecordsErrc::kBadRecord;
  Result<Bytes> inner = RecordsErrc::kDecompressFailed;
  if (w.magic == 0 && w.compression() == Compression::kLz4) {
    Bytes fixed(w.value->begin(), w.value->end());
    fix_lz4_header_checksum(std::span<uint8_t>(fixed));
    inner = decompress(w.compression(), ByteView(fixed), ctx.budget);
  } else {
    inner = decompress(w.compression(), *w.value, ctx.budget);
  }
  if (!inner) return inner.error();
  ctx.budget -= inner->size();
  ctx.scratch.push_back(std::move(inner.value()));
  ByteView set(ctx.scratch.back());

  size_t first = out.size();
  ByteReader r(set);
  while (!r.at_end()) {
    bool partial = false;
    auto m = read_message(r, partial, ctx.verify_crc);
    if (!m) return partial ? RecordsErrc::kBadRecord : m.error();  // an inner set is never torn
    if (m->magic != w.magic) return RecordsErrc::kBadMagic;
    if (m->compression() != Compression::kNone) return RecordsErrc::kBadRecord;
    out.push_back(*m);
  }
  if (out.size() == first) return RecordsErrc::kBadRecord;  // a wrapper with nothing inside
  if (w.magic == 1) {
    // v1: inner offsets are relative; the wrapper holds the absolute last offset.
    int64_t last_relative = out.back().offset;
    for (size_t i = first; i < out.size(); ++i)
      out[i].offset = static_cast<int64_t>(static_cast<uint64_t>(w.offset) - static_cast<uint64_t>(last_relative) +
                                           static_cast<uint64_t>(out[i].offset));
    if (w.timestamp_type() == TimestampType::kLogAppendTime) {
      for (size_t i = first; i < out.size(); ++i) {
        out[i].timestamp = w.timestamp;
        out[i].attributes = static_cast<int8_t>(out[i].attributes | kTimestampTypeBit);
      }
    }
  }
  return {};
}

}  // namespace

Result<int8_t> peek_magic(ByteView bytes) {
  if (bytes.size() < 17) return RecordsErrc::kTooShort;
  return static_cast<int8_t>(bytes[16]);
}

Result<LegacyMessageSet> read_legacy_message_set(ByteView bytes, std::vector<Bytes>& scratch, size_t max_decompressed,
                                                 bool verify_crc) {
  Ctx ctx{scratch, max_decompressed, verify_crc};
  LegacyMessageSet set;
  ByteReader r(bytes);
  while (!r.at_end()) {
    bool partial = false;
    auto m = read_message(r, partial, verify_crc);
    if (!m) {
      if (partial) {
        set.partial_tail = true;
        break;
      }
      return m.error();
    }
    if (m->compression() == Compression::kNone) {
      set.messages.push_back(*m);
    } else if (auto e = expand_wrapper(*m, ctx, set.messages); !e) {
      return e.error();
    }
    set.bytes_consumed = r.position();
  }
  return set;
}

Result<Bytes> legacy_to_batch(std::span<const LegacyMessage> messages, Compression codec) {
  if (messages.empty()) return RecordsErrc::kBadBatch;
  int64_t base = messages.front().offset;
  RecordBatchBuilder builder(codec, base);
  bool log_append = messages.front().timestamp_type() == TimestampType::kLogAppendTime;
  int64_t max_ts = -1;
  for (const auto& m : messages) {
    int64_t delta = static_cast<int64_t>(static_cast<uint64_t>(m.offset) - static_cast<uint64_t>(base));
    if (m.offset < base || delta > std::numeric_limits<int32_t>::max()) return RecordsErrc::kBadBatch;
    int64_t ts = m.magic == 0 ? -1 : m.timestamp;
    max_ts = std::max(max_ts, ts);
    builder.add_with_offset_delta(static_cast<int32_t>(delta), ts, m.key, m.value);
  }
  if (log_append) builder.timestamp_type(TimestampType::kLogAppendTime).log_append_time(max_ts);
  return builder.build();
}

Bytes build_legacy_message(int8_t magic, int64_t offset, int8_t attributes, int64_t timestamp,
                           std::optional<ByteView> key, std::optional<ByteView> value) {
  ByteWriter w;
  w.write_i64(offset);
  size_t size_at = w.reserve_bytes(4);
  size_t crc_at = w.reserve_bytes(4);
  w.write_i8(magic);
  w.write_i8(attributes);
  if (magic >= 1) w.write_i64(timestamp);
  for (const auto& field : {key, value}) {
    if (field) {
      w.write_i32(static_cast<int32_t>(field->size()));
      w.write_bytes(*field);
    } else {
      w.write_i32(-1);
    }
  }
  w.patch_be<int32_t>(size_at, static_cast<int32_t>(w.size() - kLegacyLogOverhead));
  w.patch_be<uint32_t>(crc_at, crc32_ieee(ByteView(w.buffer()).subspan(crc_at + 4)));
  return w.take();
}

bool fix_lz4_header_checksum(std::span<uint8_t> frame) {
  // magic (4) | FLG | BD | [content size 8] | [dict id 4] | HC
  if (frame.size() < 7 || load_be<uint32_t>(frame.data()) != 0x04224d18u) return false;
  uint8_t flg = frame[4];
  size_t desc = 2 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0);
  if (frame.size() < 4 + desc + 1) return false;
  frame[4 + desc] = static_cast<uint8_t>(xxh32_small(ByteView(frame.data() + 4, desc)) >> 8);
  return true;
}

}  // namespace keel::protocol
