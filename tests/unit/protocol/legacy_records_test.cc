#include "protocol/legacy_records.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace keel::protocol {
namespace {

ByteView bv(std::string_view s) { return as_bytes(s); }
std::string str(ByteView b) { return std::string(as_string_view(b)); }

// Two messages written out by hand; CRCs computed with Python's zlib.crc32.
const uint8_t kHandSet[] = {
    // magic 1 message
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // offset 5
    0x00, 0x00, 0x00, 0x1a,                          // messageSize 26
    0xc3, 0x57, 0x3e, 0xfc,                          // crc (CRC-32 of magic..end)
    0x01,                                            // magic 1
    0x00,                                            // attributes: none, CreateTime
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,  // timestamp 1700000000000
    0x00, 0x00, 0x00, 0x01, 'k',                     // key "k"
    0x00, 0x00, 0x00, 0x03, 'v', 'a', 'l',           // value "val"
    // magic 0 message
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06,  // offset 6
    0x00, 0x00, 0x00, 0x10,                          // messageSize 16
    0xfd, 0x6e, 0xbd, 0xdb,                          // crc
    0x00,                                            // magic 0
    0x00,                                            // attributes
    0xff, 0xff, 0xff, 0xff,                          // key: null
    0x00, 0x00, 0x00, 0x02, 'h', 'i',                // value "hi"
};
constexpr size_t kSecondAt = 38;

TEST(LegacyRecords, HandCheckedSetReadsEveryField) {
  std::vector<Bytes> scratch;
  auto s = read_legacy_message_set(ByteView(kHandSet), scratch);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_FALSE(s->partial_tail);
  EXPECT_EQ(s->bytes_consumed, sizeof(kHandSet));
  ASSERT_EQ(s->messages.size(), 2u);
  const auto& a = s->messages[0];
  EXPECT_EQ(a.offset, 5);
  EXPECT_EQ(a.magic, 1);
  EXPECT_EQ(a.crc, 0xc3573efcu);
  EXPECT_EQ(a.timestamp, 1700000000000);
  EXPECT_EQ(a.timestamp_type(), TimestampType::kCreateTime);
  EXPECT_EQ(str(*a.key), "k");
  EXPECT_EQ(str(*a.value), "val");
  const auto& b = s->messages[1];
  EXPECT_EQ(b.offset, 6);
  EXPECT_EQ(b.magic, 0);
  EXPECT_EQ(b.timestamp, -1);
  EXPECT_FALSE(b.key.has_value());
  EXPECT_EQ(str(*b.value), "hi");
}

TEST(LegacyRecords, BuilderWritesTheHandCheckedBytes) {
  Bytes a = build_legacy_message(1, 5, 0, 1700000000000, bv("k"), bv("val"));
  Bytes b = build_legacy_message(0, 6, 0, -1, std::nullopt, bv("hi"));
  a.insert(a.end(), b.begin(), b.end());
  EXPECT_EQ(a, Bytes(std::begin(kHandSet), std::end(kHandSet)));
}

TEST(LegacyRecords, CrcMismatchIsDetected) {
  Bytes s(std::begin(kHandSet), std::end(kHandSet));
  s[kSecondAt + 26] ^= 0x20;  // value "hi" -> "Hi"
  std::vector<Bytes> scratch;
  EXPECT_EQ(read_legacy_message_set(ByteView(s), scratch).error(), RecordsErrc::kCrcMismatch);
  EXPECT_TRUE(read_legacy_message_set(ByteView(s), scratch, 1 << 20, /*verify_crc=*/false).ok());
}

TEST(LegacyRecords, TornTailIsReportedNotAnError) {
  std::vector<Bytes> scratch;
  for (size_t cut = kSecondAt + 1; cut < sizeof(kHandSet); ++cut) {
    auto s = read_legacy_message_set(ByteView(kHandSet, cut), scratch);
    ASSERT_TRUE(s.ok()) << cut;
    EXPECT_TRUE(s->partial_tail) << cut;
    EXPECT_EQ(s->messages.size(), 1u);
    EXPECT_EQ(s->bytes_consumed, kSecondAt);
  }
}

TEST(LegacyRecords, MalformedMessagesAreErrors) {
  std::vector<Bytes> scratch;
  Bytes bad_magic(std::begin(kHandSet), std::end(kHandSet));
  bad_magic[16] = 2;
  EXPECT_EQ(read_legacy_message_set(ByteView(bad_magic), scratch).error(), RecordsErrc::kBadMagic);
  Bytes small(std::begin(kHandSet), std::end(kHandSet));
  store_be<int32_t>(small.data() + 8, 13);
  EXPECT_EQ(read_legacy_message_set(ByteView(small), scratch).error(), RecordsErrc::kBadLength);
  Bytes key_overrun(std::begin(kHandSet), std::end(kHandSet));
  store_be<int32_t>(key_overrun.data() + 26, 100);
  EXPECT_EQ(read_legacy_message_set(ByteView(key_overrun), scratch, 1 << 20, false).error(), RecordsErrc::kBadRecord);
  Bytes neg_key(std::begin(kHandSet), std::end(kHandSet));
  store_be<int32_t>(neg_key.data() + 26, -2);
  EXPECT_EQ(read_legacy_message_set(ByteView(neg_key), scratch, 1 << 20, false).error(), RecordsErrc::kBadRecord);
}

Bytes inner_set(int8_t magic, int n, bool relative) {
  Bytes set;
  for (int i = 0; i < n; ++i) {
    std::string v = "value-" + std::to_string(i);
    Bytes m = build_legacy_message(magic, relative ? i : 100 + i, 0, 1000 + i, bv("k"), bv(v));
    set.insert(set.end(), m.begin(), m.end());
  }
  return set;
}

class LegacyWrapper : public ::testing::TestWithParam<Compression> {};

TEST_P(LegacyWrapper, V1WrapperExpandsWithAbsoluteOffsets) {
  Bytes inner = inner_set(1, 4, /*relative=*/true);
  auto z = compress(GetParam(), ByteView(inner));
  ASSERT_TRUE(z.ok());
  // The wrapper carries the absolute offset of the last inner message.
  Bytes wrapper = build_legacy_message(1, 203, static_cast<int8_t>(GetParam()), 1003, std::nullopt, ByteView(*z));
  std::vector<Bytes> scratch;
  auto s = read_legacy_message_set(ByteView(wrapper), scratch);
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_EQ(s->messages.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s->messages[i].offset, 200 + i);
    EXPECT_EQ(s->messages[i].timestamp, 1000 + i);
    EXPECT_EQ(str(*s->messages[i].value), "value-" + std::to_string(i));
  }
  EXPECT_EQ(scratch.size(), 1u);
}

TEST_P(LegacyWrapper, V0WrapperKeepsInnerAbsoluteOffsets) {
  Bytes inner = inner_set(0, 3, /*relative=*/false);
  auto z = compress(GetParam(), ByteView(inner));
  ASSERT_TRUE(z.ok());
  Bytes wrapper = build_legacy_message(0, 102, static_cast<int8_t>(GetParam()), -1, std::nullopt, ByteView(*z));
  std::vector<Bytes> scratch;
  auto s = read_legacy_message_set(ByteView(wrapper), scratch);
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_EQ(s->messages.size(), 3u);
  EXPECT_EQ(s->messages[0].offset, 100);
  EXPECT_EQ(s->messages[2].offset, 102);
}

TEST_P(LegacyWrapper, DecompressedSizeIsCapped) {
  Bytes inner = inner_set(1, 50, true);
  auto z = compress(GetParam(), ByteView(inner));
  Bytes wrapper = build_legacy_message(1, 49, static_cast<int8_t>(GetParam()), 0, std::nullopt, ByteView(*z));
  std::vector<Bytes> scratch;
  EXPECT_EQ(read_legacy_message_set(ByteView(wrapper), scratch, inner.size() - 1).error(), RecordsErrc::kTooLarge);
}

INSTANTIATE_TEST_SUITE_P(Codecs, LegacyWrapper,
                         ::testing::Values(Compression::kGzip, Compression::kSnappy, Compression::kLz4),
                         [](const auto& info) { return std::string(compression_name(info.param)); });

TEST(LegacyRecords, LogAppendTimeWrapperStampsInnerMessages) {
  Bytes inner = inner_set(1, 2, true);
  auto z = compress(Compression::kGzip, ByteView(inner));
  Bytes wrapper = build_legacy_message(1, 11, 1 | 0x08, 777, std::nullopt, ByteView(*z));
  std::vector<Bytes> scratch;
  auto s = read_legacy_message_set(ByteView(wrapper), scratch);
  ASSERT_TRUE(s.ok());
  for (const auto& m : s->messages) {
    EXPECT_EQ(m.timestamp, 777);
    EXPECT_EQ(m.timestamp_type(), TimestampType::kLogAppendTime);
  }
}

TEST(LegacyRecords, InnerMagicMustMatchWrapperAndNestingIsRefused) {
  auto z = compress(Compression::kGzip, ByteView(inner_set(0, 2, false)));
  Bytes wrapper = build_legacy_message(1, 1, 1, 0, std::nullopt, ByteView(*z));
  std::vector<Bytes> scratch;
  EXPECT_EQ(read_legacy_message_set(ByteView(wrapper), scratch).error(), RecordsErrc::kBadMagic);

  Bytes nested = build_legacy_message(1, 0, 1, 0, std::nullopt, ByteView(*z));  // inner is itself a wrapper
  auto z2 = compress(Compression::kGzip, ByteView(nested));
  Bytes outer = build_legacy_message(1, 0, 1, 0, std::nullopt, ByteView(*z2));
  EXPECT_EQ(read_legacy_message_set(ByteView(outer), scratch).error(), RecordsErrc::kBadRecord);

  Bytes null_value = build_legacy_message(1, 0, 1, 0, std::nullopt, std::nullopt);
  EXPECT_EQ(read_legacy_message_set(ByteView(null_value), scratch).error(), RecordsErrc::kBadRecord);

  Bytes zstd = build_legacy_message(1, 0, 4, 0, std::nullopt, bv("x"));
  EXPECT_EQ(read_legacy_message_set(ByteView(zstd), scratch).error(), RecordsErrc::kUnsupportedCompression);
}

TEST(LegacyRecords, Lz4HeaderChecksumFixMatchesLiblz4) {
  auto z = compress(Compression::kLz4, ByteView(inner_set(0, 2, false)));
  ASSERT_TRUE(z.ok());
  Bytes copy = *z;
  copy[6] ^= 0xff;  // break the header checksum
  EXPECT_EQ(decompress(Compression::kLz4, ByteView(copy), 1 << 20).error(), RecordsErrc::kDecompressFailed);
  ASSERT_TRUE(fix_lz4_header_checksum(std::span<uint8_t>(copy)));
  EXPECT_EQ(copy, *z);  // our XXH32 gives the byte liblz4 wrote
}

TEST(LegacyRecords, V0Lz4WrapperWithKafkasBrokenChecksumIsRead) {
  Bytes inner = inner_set(0, 2, false);
  auto z = compress(Compression::kLz4, ByteView(inner));
  ASSERT_TRUE(z.ok());
  (*z)[6] ^= 0x5a;  // as old Kafka: a checksum liblz4 refuses
  Bytes wrapper = build_legacy_message(0, 101, 3, -1, std::nullopt, ByteView(*z));
  std::vector<Bytes> scratch;
  auto s = read_legacy_message_set(ByteView(wrapper), scratch);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->messages.size(), 2u);
}

TEST(LegacyRecords, UpConversionKeepsOffsetsKeysValuesAndTimestamps) {
  Bytes set;
  for (auto [off, ts] : {std::pair{10, 500}, std::pair{11, 700}, std::pair{14, 600}}) {
    Bytes m = build_legacy_message(1, off, 0, ts, off == 11 ? std::nullopt : std::optional(bv("key")), bv("v" + std::to_string(off)));
    set.insert(set.end(), m.begin(), m.end());
  }
  std::vector<Bytes> scratch;
  auto s = read_legacy_message_set(ByteView(set), scratch);
  ASSERT_TRUE(s.ok());
  auto batch = legacy_to_batch(s->messages, Compression::kSnappy);
  ASSERT_TRUE(batch.ok());
  auto v = RecordBatchView::parse(ByteView(*batch));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->base_offset(), 10);
  EXPECT_EQ(v->last_offset(), 14);
  EXPECT_EQ(v->max_timestamp(), 700);
  Bytes rs;
  auto recs = v->decode_records(rs);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_EQ((*recs)[2].offset, 14);
  EXPECT_EQ((*recs)[2].timestamp, 600);
  EXPECT_FALSE((*recs)[1].key.has_value());
  EXPECT_EQ(str(*(*recs)[1].value), "v11");
  EXPECT_EQ(legacy_to_batch({}).error(), RecordsErrc::kBadBatch);
}

TEST(LegacyRecords, PeekMagicReadsByteSixteen) {
  EXPECT_EQ(*peek_magic(ByteView(kHandSet)), 1);
  EXPECT_EQ(*peek_magic(ByteView(kHandSet + kSecondAt, sizeof(kHandSet) - kSecondAt)), 0);
  EXPECT_EQ(peek_magic(ByteView(kHandSet, 16)).error(), RecordsErrc::kTooShort);
}

}  // namespace
}  // namespace keel::protocol
