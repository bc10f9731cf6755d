#include "protocol/legacy_records.h"

#include <zlib.h>

#include <bit>
#include <limits>

namespace keel::protocol {
namespace {

// Field positions from the message start.
constexpr size_t kOffsetPos = 0;
constexpr size_t kSizePos = 8;
constexpr size_t kCrcPos = 12;
constexpr size_t kMagicPos = 16;
constexpr size_t kAttributesPos = 17;
constexpr size_t kTimestampPos = 18;

size_t overhead(int8_t magic) { return magic == 0 ? kLegacyRecordOverheadV0 : kLegacyRecordOverheadV1; }

int64_t wrapping_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrapping_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

// ---- the magic-0 LZ4 quirk ----
// Kafka before 0.10 computed the LZ4 frame's header checksum (HC) over the
// 4-byte frame magic plus the descriptor instead of over the descriptor
// alone, and Kafka still reads magic-0 LZ4 data ignoring HC. liblz4 checks
// HC, so for magic 0 we recompute the correct HC on a copy first. That needs
// XXH32, which liblz4 does not export; this is the published algorithm.
constexpr uint32_t kP1 = 2654435761u, kP2 = 2246822519u, kP3 = 3266489917u, kP4 = 668265263u, kP5 = 374761393u;

uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

uint32_t xxh32(const uint8_t* p, size_t n, uint32_t seed = 0) {
  const uint8_t* end = p + n;
  uint32_t h;
  if (n >= 16) {
    uint32_t v1 = seed + kP1 + kP2, v2 = seed + kP2, v3 = seed, v4 = seed - kP1;
    auto round = [](uint32_t acc, uint32_t lane) { return std::rotl(acc + lane * kP2, 13) * kP1; };
    while (end - p >= 16) {
      v1 = round(v1, le32(p));
      v2 = round(v2, le32(p + 4));
      v3 = round(v3, le32(p + 8));
      v4 = round(v4, le32(p + 12));
      p += 16;
    }
    h = std::rotl(v1, 1) + std::rotl(v2, 7) + std::rotl(v3, 12) + std::rotl(v4, 18);
  } else {
    h = seed + kP5;
  }
  h += static_cast<uint32_t>(n);
  while (end - p >= 4) {
    h = std::rotl(h + le32(p) * kP3, 17) * kP4;
    p += 4;
  }
  while (p < end) {
    h = std::rotl(h + *p * kP5, 11) * kP1;
    ++p;
  }
  h ^= h >> 15;
  h *= kP2;
  h ^= h >> 13;
  h *= kP3;
  h ^= h >> 16;
  return h;
}

// Returns a copy of an LZ4 frame with its header checksum recomputed, or the
// input unchanged when it is not a recognisable frame (the decoder then rejects it).
Bytes fix_lz4_header_checksum(ByteView in) {
  Bytes out(in.begin(), in.end());
  if (out.size() < 7 || le32(out.data()) != 0x184D2204u) return out;
  uint8_t flg = out[4];
  size_t desc_len = 2 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0);
  if (out.size() < 4 + desc_len + 1) return out;
  out[4 + desc_len] = static_cast<uint8_t>((xxh32(out.data() + 4, desc_len) >> 8) & 0xff);
  return out;
}

struct Budget {
  size_t left;
};

Result<void> append_inner(const LegacyMessageView& wrapper, std::vector<Bytes>& scratch, const LegacyDecodeOptions& opt,
                          Budget& budget, std::vector<LegacyRecord>& out) {
  uint8_t bits = wrapper.compression_bits();
  // zstd exists only with magic 2; 5-7 name no codec.
  if (bits > static_cast<uint8_t>(Compression::kLz4)) return RecordsErrc::kUnsupportedCompression;
  if (!wrapper.value()) return RecordsErrc::kBadRecord;  // a wrapper with a null value holds nothing
  ByteView compressed = *wrapper.value();
  Bytes fixed;
  if (wrapper.magic() == 0 && wrapper.compression() == Compression::kLz4) {
    fixed = fix_lz4_header_checksum(compressed);
    compressed = ByteView(fixed);
  }
  auto inflated = decompress(wrapper.compression(), compressed, budget.left);
  if (!inflated) return inflated.error();
  budget.left -= inflated->size();
  scratch.push_back(std::move(inflated.value()));
  ByteView inner_bytes(scratch.back());

  size_t first = out.size();
  size_t pos = 0;
  while (pos < inner_bytes.size()) {
    auto inner = LegacyMessageView::parse(inner_bytes.subspan(pos));
    // Inside a compressed set nothing may be cut short: a partial tail is corruption.
    if (!inner) return inner.error() == RecordsErrc::kTooShort ? std::error_code(RecordsErrc::kBadRecord) : inner.error();
    if (inner->magic() != wrapper.magic()) return RecordsErrc::kBadRecord;
    if (inner->compression_bits() != 0) return RecordsErrc::kBadRecord;  // one level only
    if (opt.verify_crc && !inner->verify_crc()) return RecordsErrc::kCrcMismatch;
    LegacyRecord rec;
    rec.offset = inner->offset();
    rec.magic = inner->magic();
    rec.timestamp = inner->timestamp();
    rec.timestamp_type = inner->timestamp_type();
    rec.key = inner->key();
    rec.value = inner->value();
    out.push_back(rec);
    pos += inner->size_bytes();
  }
  if (out.size() == first) return RecordsErrc::kBadRecord;  // a wrapper must hold at least one message

  if (wrapper.magic() >= 1) {
    // Relative inner offsets: the wrapper's offset is the last inner one's absolute offset.
    int64_t base = wrapping_sub(wrapper.offset(), out.back().offset);
    for (size_t i = first; i < out.size(); ++i) out[i].offset = wrapping_add(base, out[i].offset);
    if (wrapper.timestamp_type() == TimestampType::kLogAppendTime) {
      for (size_t i = first; i < out.size(); ++i) {
        out[i].timestamp = wrapper.timestamp();
        out[i].timestamp_type = TimestampType::kLogAppendTime;
      }
    }
  }
  return {};
}

}  // namespace

std::optional<int8_t> peek_magic(ByteView bytes) {
  if (bytes.size() <= kMagicPos) return std::nullopt;
  return static_cast<int8_t>(bytes[kMagicPos]);
}

uint32_t legacy_crc32(ByteView data) {
  uLong c = crc32(0L, Z_NULL, 0);
  const uint8_t* p = data.data();
  size_t n = data.size();
  while (n > 0) {  // zlib takes uInt lengths
    uInt chunk = static_cast<uInt>(std::min<size_t>(n, std::numeric_limits<uInt>::max()));
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

Result<LegacyMessageView> LegacyMessageView::parse(ByteView bytes) {
  if (bytes.size() < kLegacyLogOverhead) return RecordsErrc::kTooShort;
  int32_t size = load_be<int32_t>(bytes.data() + kSizePos);
  if (size < static_cast<int32_t>(kLegacyRecordOverheadV0)) return RecordsErrc::kBadLength;
  if (static_cast<size_t>(size) > bytes.size() - kLegacyLogOverhead) return RecordsErrc::kTooShort;
  LegacyMessageView v;
  v.bytes_ = bytes.first(kLegacyLogOverhead + static_cast<size_t>(size));
  int8_t magic = static_cast<int8_t>(v.bytes_[kMagicPos]);
  if (magic != 0 && magic != 1) return RecordsErrc::kBadMagic;
  if (static_cast<size_t>(size) < overhead(magic)) return RecordsErrc::kBadLength;

  ByteReader r(v.bytes_.subspan(magic == 0 ? kTimestampPos : kTimestampPos + 8));
  for (std::optional<ByteView>* field : {&v.key_, &v.value_}) {
    int32_t len = r.read_i32();
    if (!r.ok() || len < -1) return RecordsErrc::kBadRecord;
    if (len == -1) {
      field->reset();
      continue;
    }
    if (static_cast<size_t>(len) > r.remaining()) return RecordsErrc::kBadRecord;
    *field = r.read_view(static_cast<size_t>(len));
  }
  // messageSize must be exactly the fields.
  if (!r.ok() || !r.at_end()) return RecordsErrc::kBadRecord;
  return v;
}

bool LegacyMessageView::verify_crc() const { return legacy_crc32(bytes_.subspan(kMagicPos)) == crc(); }
int64_t LegacyMessageView::offset() const { return load_be<int64_t>(bytes_.data() + kOffsetPos); }
int32_t LegacyMessageView::message_size() const { return load_be<int32_t>(bytes_.data() + kSizePos); }
uint32_t LegacyMessageView::crc() const { return load_be<uint32_t>(bytes_.data() + kCrcPos); }
int8_t LegacyMessageView::magic() const { return static_cast<int8_t>(bytes_[kMagicPos]); }
int8_t LegacyMessageView::attributes() const { return static_cast<int8_t>(bytes_[kAttributesPos]); }
int64_t LegacyMessageView::timestamp() const {
  return magic() == 0 ? -1 : load_be<int64_t>(bytes_.data() + kTimestampPos);
}
TimestampType LegacyMessageView::timestamp_type() const {
  if (magic() == 0) return TimestampType::kCreateTime;
  return (attributes() & kLegacyTimestampTypeBit) ? TimestampType::kLogAppendTime : TimestampType::kCreateTime;
}

Result<std::vector<LegacyRecord>> decode_legacy_message_set(ByteView bytes, std::vector<Bytes>& scratch,
                                                            const LegacyDecodeOptions& options, bool* partial_tail) {
  if (partial_tail) *partial_tail = false;
  std::vector<LegacyRecord> out;
  Budget budget{options.max_decompressed};
  size_t pos = 0;
  while (pos < bytes.size()) {
    auto msg = LegacyMessageView::parse(bytes.subspan(pos));
    if (!msg) {
      if (msg.error() == RecordsErrc::kTooShort) {  // cut by the fetch size: ignore, as consumers do
        if (partial_tail) *partial_tail = true;
        break;
      }
      return msg.error();
    }
    if (options.verify_crc && !msg->verify_crc()) return RecordsErrc::kCrcMismatch;
    if (msg->compression_bits() == 0) {
      LegacyRecord rec;
      rec.offset = msg->offset();
      rec.magic = msg->magic();
      rec.timestamp = msg->timestamp();
      rec.timestamp_type = msg->timestamp_type();
      rec.key = msg->key();
      rec.value = msg->value();
      out.push_back(rec);
    } else if (auto r = append_inner(*msg, scratch, options, budget, out); !r) {
      return r.error();
    }
    pos += msg->size_bytes();
  }
  return out;
}

}  // namespace keel::protocol
