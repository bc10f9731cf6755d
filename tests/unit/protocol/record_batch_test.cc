#include "protocol/record_batch.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/crc32c.h"

namespace keel::protocol {
namespace {

ByteView bv(std::string_view s) { return as_bytes(s); }
std::string str(ByteView b) { return std::string(as_string_view(b)); }

// One uncompressed batch of two records, as Kafka's Java producer writes it
// (MemoryRecordsBuilder, CreateTime, no idempotence):
//   record 0: timestamp 1700000000000, key "k1", value "v1", header h="x"
//   record 1: timestamp 1700000000005, null key, value "v2", no headers
// The CRC below was computed by a separate bit-at-a-time CRC-32C routine.
const uint8_t kHandBatch[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // baseOffset 0
    0x00, 0x00, 0x00, 0x49,                          // batchLength 73 = 49 header + 24 records
    0xff, 0xff, 0xff, 0xff,                          // partitionLeaderEpoch -1
    0x02,                                            // magic 2
    0x97, 0xf4, 0x44, 0x2a,                          // crc (CRC-32C of bytes 21..84)
    0x00, 0x00,                                      // attributes: no compression, CreateTime
    0x00, 0x00, 0x00, 0x01,                          // lastOffsetDelta 1
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,  // baseTimestamp 1700000000000
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05,  // maxTimestamp 1700000000005
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // producerId -1
    0xff, 0xff,                                      // producerEpoch -1
    0xff, 0xff, 0xff, 0xff,                          // baseSequence -1
    0x00, 0x00, 0x00, 0x02,                          // recordsCount 2
    // record 0 (offset 61)
    0x1c,        // length varint 14
    0x00,        // attributes
    0x00,        // timestampDelta varlong 0
    0x00,        // offsetDelta varint 0
    0x04,        // keyLength 2
    'k', '1',    // key
    0x04,        // valueLength 2
    'v', '1',    // value
    0x02,        // headersCount 1
    0x02, 'h',   // header key length 1, "h"
    0x02, 'x',   // header value length 1, "x"
    // record 1 (offset 76)
    0x10,        // length varint 8
    0x00,        // attributes
    0x0a,        // timestampDelta varlong 5
    0x02,        // offsetDelta varint 1
    0x01,        // keyLength -1 (null)
    0x04,        // valueLength 2
    'v', '2',    // value
    0x00,        // headersCount 0
};
constexpr size_t kRecord0LengthAt = 61;
constexpr size_t kRecord0KeyLengthAt = 65;
constexpr size_t kRecord1KeyLengthAt = 80;

Bytes hand_batch() { return Bytes(std::begin(kHandBatch), std::end(kHandBatch)); }

TEST(RecordBatchView, HandCheckedBatchParsesEveryHeaderField) {
  auto v = RecordBatchView::parse(ByteView(kHandBatch));
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(v->size_bytes(), sizeof(kHandBatch));
  EXPECT_EQ(v->base_offset(), 0);
  EXPECT_EQ(v->batch_length(), 73);
  EXPECT_EQ(v->partition_leader_epoch(), -1);
  EXPECT_EQ(v->magic(), 2);
  EXPECT_EQ(v->crc(), 0x97f4442au);
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->attributes(), 0);
  EXPECT_EQ(v->compression(), Compression::kNone);
  EXPECT_EQ(v->timestamp_type(), TimestampType::kCreateTime);
  EXPECT_FALSE(v->is_transactional());
  EXPECT_FALSE(v->is_control());
  EXPECT_FALSE(v->has_delete_horizon());
  EXPECT_EQ(v->last_offset_delta(), 1);
  EXPECT_EQ(v->last_offset(), 1);
  EXPECT_EQ(v->base_timestamp(), 1700000000000);
  EXPECT_EQ(v->max_timestamp(), 1700000000005);
  EXPECT_EQ(v->producer_id(), -1);
  EXPECT_EQ(v->producer_epoch(), -1);
  EXPECT_EQ(v->base_sequence(), -1);
  EXPECT_EQ(v->records_count(), 2);
}

TEST(RecordBatchView, HandCheckedBatchDecodesEveryRecordField) {
  auto v = RecordBatchView::parse(ByteView(kHandBatch));
  ASSERT_TRUE(v.ok());
  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok()) << recs.error().message();
  ASSERT_EQ(recs->size(), 2u);
  const Record& r0 = (*recs)[0];
  EXPECT_EQ(r0.attributes, 0);
  EXPECT_EQ(r0.timestamp, 1700000000000);
  EXPECT_EQ(r0.offset, 0);
  EXPECT_EQ(r0.offset_delta(), 0);
  ASSERT_TRUE(r0.key.has_value());
  EXPECT_EQ(str(*r0.key), "k1");
  ASSERT_TRUE(r0.value.has_value());
  EXPECT_EQ(str(*r0.value), "v1");
  ASSERT_EQ(r0.headers.size(), 1u);
  EXPECT_EQ(r0.headers[0].key, "h");
  ASSERT_TRUE(r0.headers[0].value.has_value());
  EXPECT_EQ(str(*r0.headers[0].value), "x");
  // Borrowed: the key points into the batch itself.
  EXPECT_EQ(r0.key->data(), kHandBatch + kRecord0KeyLengthAt + 1);

  const Record& r1 = (*recs)[1];
  EXPECT_EQ(r1.timestamp, 1700000000005);
  EXPECT_EQ(r1.offset, 1);
  EXPECT_EQ(r1.offset_delta(), 1);
  EXPECT_FALSE(r1.key.has_value());
  ASSERT_TRUE(r1.value.has_value());
  EXPECT_EQ(str(*r1.value), "v2");
  EXPECT_TRUE(r1.headers.empty());
}

TEST(RecordBatchBuilder, WritesTheHandCheckedBytesExactly) {
  std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
  headers.emplace_back("h", Bytes{'x'});
  auto built = RecordBatchBuilder()
                   .add(1700000000000, bv("k1"), bv("v1"), headers)
                   .add(1700000000005, std::nullopt, bv("v2"))
                   .build();
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(*built, hand_batch());
}

TEST(RecordBatchView, CorruptedByteFailsCrc) {
  Bytes b = hand_batch();
  b[sizeof(kHandBatch) - 2] ^= 0x01;  // inside record 1's value
  auto v = RecordBatchView::parse(ByteView(b));
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->verify_crc());
  Bytes c = hand_batch();
  c[batch_field::kAttributes + 1] = 0x10;  // attributes are covered too
  EXPECT_FALSE(RecordBatchView::parse(ByteView(c))->verify_crc());
}

TEST(RecordBatchView, EveryTruncationIsRejected) {
  for (size_t n = 0; n < sizeof(kHandBatch); ++n) {
    auto v = RecordBatchView::parse(ByteView(kHandBatch, n));
    EXPECT_FALSE(v.ok()) << "prefix " << n;
    EXPECT_EQ(v.error(), RecordsErrc::kTooShort) << "prefix " << n;
  }
}

TEST(RecordBatchView, ViewCoversExactlyOneBatch) {
  Bytes b = hand_batch();
  b.push_back(0xee);
  auto v = RecordBatchView::parse(ByteView(b));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size_bytes(), sizeof(kHandBatch));
  EXPECT_TRUE(v->verify_crc());
}

TEST(RecordBatchView, RejectsWrongMagicAndShortLength) {
  Bytes b = hand_batch();
  b[batch_field::kMagic] = 1;
  EXPECT_EQ(RecordBatchView::parse(ByteView(b)).error(), RecordsErrc::kBadMagic);
  Bytes c = hand_batch();
  store_be<int32_t>(c.data() + batch_field::kBatchLength, 48);
  EXPECT_EQ(RecordBatchView::parse(ByteView(c)).error(), RecordsErrc::kBadLength);
  store_be<int32_t>(c.data() + batch_field::kBatchLength, -1);
  EXPECT_EQ(RecordBatchView::parse(ByteView(c)).error(), RecordsErrc::kBadLength);
}

Result<std::vector<Record>> decode(const Bytes& b) {
  auto v = RecordBatchView::parse(ByteView(b));
  if (!v) return v.error();
  Bytes scratch;
  auto r = v->decode_records(scratch);
  if (!r) return r.error();
  return std::move(r.value());
}

TEST(RecordBatchView, RecordLongerThanSectionIsBadRecord) {
  Bytes b = hand_batch();
  b[kRecord0LengthAt] = 0x7e;  // 63 bytes: past the end of the section
  EXPECT_EQ(decode(b).error(), RecordsErrc::kBadRecord);
}

TEST(RecordBatchView, FieldOverrunningItsRecordIsBadRecord) {
  Bytes b = hand_batch();
  b[kRecord0KeyLengthAt] = 0x16;  // key length 11: inside the section, past record 0
  EXPECT_EQ(decode(b).error(), RecordsErrc::kBadRecord);
}

TEST(RecordBatchView, RecordWithUnreadBytesIsBadRecord) {
  Bytes b = hand_batch();
  b[kRecord0LengthAt] = 0x1a;  // claims 13 bytes: header value overruns the record
  EXPECT_EQ(decode(b).error(), RecordsErrc::kBadRecord);
}

TEST(RecordBatchView, NegativeLengthOtherThanMinusOneIsBadRecord) {
  Bytes b = hand_batch();
  b[kRecord1KeyLengthAt] = 0x03;  // key length -2
  EXPECT_EQ(decode(b).error(), RecordsErrc::kBadRecord);
}

TEST(RecordBatchView, CountMismatchIsBadRecord) {
  Bytes b = hand_batch();
  store_be<int32_t>(b.data() + batch_field::kRecordsCount, 3);
  EXPECT_EQ(decode(b).error(), RecordsErrc::kBadRecord);
  store_be<int32_t>(b.data() + batch_field::kRecordsCount, 1);  // bytes left over
  EXPECT_EQ(decode(b).error(), RecordsErrc::kBadRecord);
  store_be<int32_t>(b.data() + batch_field::kRecordsCount, -1);
  EXPECT_EQ(decode(b).error(), RecordsErrc::kBadRecord);
  store_be<int32_t>(b.data() + batch_field::kRecordsCount, 0x7fffffff);  // refused before allocating
  EXPECT_EQ(decode(b).error(), RecordsErrc::kBadRecord);
}

TEST(RecordBatchView, UnknownCompressionBitsAreUnsupported) {
  Bytes b = hand_batch();
  b[batch_field::kAttributes + 1] = 0x05;
  EXPECT_EQ(decode(b).error(), RecordsErrc::kUnsupportedCompression);
}

TEST(RecordBatchView, GarbageCompressedSectionFailsCleanly) {
  for (uint8_t codec = 1; codec <= 4; ++codec) {
    Bytes b = hand_batch();
    b[batch_field::kAttributes + 1] = codec;  // the plain records are not a valid stream
    auto r = decode(b);
    ASSERT_FALSE(r.ok()) << int(codec);
    EXPECT_EQ(r.error(), RecordsErrc::kDecompressFailed) << int(codec);
  }
}

// A builder with n records of varied shape; also returns what was added.
struct Sample {
  int64_t ts;
  std::optional<std::string> key, value;
  std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
};

std::vector<Sample> samples(int n) {
  std::mt19937 rng(123);
  std::vector<Sample> out;
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.ts = 1700000000000 + i * 3 + static_cast<int>(rng() % 5);
    if (i % 5 != 0) s.key = "key-" + std::to_string(i);
    if (i % 7 != 3) s.value = std::string(rng() % 400, static_cast<char>('a' + i % 26)) + std::to_string(rng());
    if (i % 3 == 0) s.headers.emplace_back("trace", Bytes{1, 2, static_cast<uint8_t>(i)});
    if (i % 4 == 0) s.headers.emplace_back("nullhdr", std::nullopt);
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<ByteView> opt_view(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return as_bytes(*s);
}

class CodecRoundTrip : public ::testing::TestWithParam<Compression> {};

TEST_P(CodecRoundTrip, BuilderOutputDecodesToTheSameRecords) {
  auto in = samples(600);  // > 64 KiB: several snappy and lz4 blocks
  RecordBatchBuilder builder(GetParam(), 1000);
  builder.producer(77, 3, 500).partition_leader_epoch(9);
  for (const auto& s : in) builder.add(s.ts, opt_view(s.key), opt_view(s.value), s.headers);
  auto built = builder.build();
  ASSERT_TRUE(built.ok()) << built.error().message();
  auto v = RecordBatchView::parse(ByteView(*built));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size_bytes(), built->size());
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->compression(), GetParam());
  EXPECT_EQ(v->base_offset(), 1000);
  EXPECT_EQ(v->last_offset(), 1599);
  EXPECT_EQ(v->records_count(), 600);
  EXPECT_EQ(v->producer_id(), 77);
  EXPECT_EQ(v->producer_epoch(), 3);
  EXPECT_EQ(v->base_sequence(), 500);
  EXPECT_EQ(v->partition_leader_epoch(), 9);
  EXPECT_EQ(v->base_timestamp(), in[0].ts);
  int64_t max_ts = -1;
  for (const auto& s : in) max_ts = std::max(max_ts, s.ts);
  EXPECT_EQ(v->max_timestamp(), max_ts);

  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok()) << recs.error().message();
  ASSERT_EQ(recs->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const Record& r = (*recs)[i];
    EXPECT_EQ(r.offset, 1000 + static_cast<int64_t>(i));
    EXPECT_EQ(r.timestamp, in[i].ts);
    ASSERT_EQ(r.key.has_value(), in[i].key.has_value()) << i;
    if (r.key) {
      EXPECT_EQ(str(*r.key), *in[i].key);
    }
    ASSERT_EQ(r.value.has_value(), in[i].value.has_value()) << i;
    if (r.value) {
      EXPECT_EQ(str(*r.value), *in[i].value);
    }
    ASSERT_EQ(r.headers.size(), in[i].headers.size());
    for (size_t h = 0; h < r.headers.size(); ++h) {
      EXPECT_EQ(r.headers[h].key, in[i].headers[h].first);
      ASSERT_EQ(r.headers[h].value.has_value(), in[i].headers[h].second.has_value());
      if (r.headers[h].value) {
        EXPECT_EQ(Bytes(r.headers[h].value->begin(), r.headers[h].value->end()), *in[i].headers[h].second);
      }
    }
  }
}

TEST_P(CodecRoundTrip, DecompressionCapIsEnforced) {
  if (GetParam() == Compression::kNone) GTEST_SKIP() << "nothing to decompress";
  RecordBatchBuilder builder(GetParam());
  Bytes big(200000, 'z');
  builder.add(1, std::nullopt, ByteView(big));
  auto built = builder.build();
  ASSERT_TRUE(built.ok());
  EXPECT_LT(built->size(), 20000u);  // compressible: the cap, not the input size, must stop it
  auto v = RecordBatchView::parse(ByteView(*built));
  Bytes scratch;
  EXPECT_EQ(v->decode_records(scratch, 100000).error(), RecordsErrc::kTooLarge);
  EXPECT_TRUE(v->decode_records(scratch, 300000).ok());
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecRoundTrip,
                         ::testing::Values(Compression::kNone, Compression::kGzip, Compression::kSnappy,
                                           Compression::kLz4, Compression::kZstd),
                         [](const auto& info) { return std::string(compression_name(info.param)); });

TEST(RecordBatchBuilder, AttributesCarryTransactionalControlAndTimestampType) {
  auto built = RecordBatchBuilder(Compression::kZstd)
                   .transactional(true)
                   .control(true)
                   .timestamp_type(TimestampType::kLogAppendTime)
                   .log_append_time(4242)
                   .add(10, bv("k"), bv("v"))
                   .build();
  ASSERT_TRUE(built.ok());
  auto v = RecordBatchView::parse(ByteView(*built));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->attributes(), 4 | 0x08 | 0x10 | 0x20);
  EXPECT_TRUE(v->is_transactional());
  EXPECT_TRUE(v->is_control());
  EXPECT_EQ(v->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_EQ(v->max_timestamp(), 4242);
  Bytes scratch;
  EXPECT_EQ(v->decode_records(scratch)->at(0).timestamp, 4242);  // LogAppendTime: records report the append time
}

TEST(RecordBatchBuilder, EmptyBuilderGivesZeroRecordBatch) {
  auto built = RecordBatchBuilder().build();
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(built->size(), kBatchHeaderSize);
  auto v = RecordBatchView::parse(ByteView(*built));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->records_count(), 0);
  EXPECT_EQ(v->base_timestamp(), -1);
  Bytes scratch;
  EXPECT_TRUE(v->decode_records(scratch)->empty());
}

TEST(RecordBatchBuilder, ExplicitOffsetDeltasKeepGapsAndMustIncrease) {
  auto built = RecordBatchBuilder(Compression::kNone, 50)
                   .add_with_offset_delta(0, 1, std::nullopt, bv("a"))
                   .add_with_offset_delta(5, 2, std::nullopt, bv("b"))
                   .build();
  ASSERT_TRUE(built.ok());
  auto v = RecordBatchView::parse(ByteView(*built));
  EXPECT_EQ(v->last_offset(), 55);
  Bytes scratch;
  EXPECT_EQ(v->decode_records(scratch)->at(1).offset, 55);

  auto bad = RecordBatchBuilder()
                 .add_with_offset_delta(3, 1, std::nullopt, bv("a"))
                 .add_with_offset_delta(3, 2, std::nullopt, bv("b"))
                 .build();
  EXPECT_EQ(bad.error(), RecordsErrc::kBadBatch);
}

TEST(RecordBatchRewrite, SetBaseOffsetAndEpochKeepCrcValid) {
  Bytes b = hand_batch();
  set_base_offset(std::span<uint8_t>(b), 123456789);
  set_partition_leader_epoch(std::span<uint8_t>(b), 17);
  auto v = RecordBatchView::parse(ByteView(b));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->base_offset(), 123456789);
  EXPECT_EQ(v->last_offset(), 123456790);
  EXPECT_EQ(v->partition_leader_epoch(), 17);
  Bytes scratch;
  EXPECT_EQ(v->decode_records(scratch)->at(1).offset, 123456790);
}

TEST(RecordBatchRewrite, LogAppendTimeRecomputesAValidCrc) {
  Bytes b = hand_batch();
  set_log_append_time(std::span<uint8_t>(b), 1800000000000);
  auto v = RecordBatchView::parse(ByteView(b));
  ASSERT_TRUE(v.ok());
  EXPECT_NE(v->crc(), 0x97f4442au);
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_EQ(v->attributes(), 0x08);
  EXPECT_EQ(v->max_timestamp(), 1800000000000);
  EXPECT_EQ(v->base_timestamp(), 1700000000000);  // Kafka leaves baseTimestamp alone
  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok());
  for (const auto& r : *recs) EXPECT_EQ(r.timestamp, 1800000000000);
}

TEST(RecordBatchRewrite, LogAppendTimeOnCompressedBatchKeepsCodecBits) {
  auto built = RecordBatchBuilder(Compression::kLz4).add(5, bv("k"), bv("v")).build();
  ASSERT_TRUE(built.ok());
  set_log_append_time(std::span<uint8_t>(*built), 99);
  auto v = RecordBatchView::parse(ByteView(*built));
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->compression(), Compression::kLz4);
  EXPECT_EQ(v->max_timestamp(), 99);
}

TEST(BatchIterator, WalksConcatenatedBatchesAndStopsAtPartialTail) {
  Bytes all;
  std::vector<size_t> sizes;
  for (int i = 0; i < 3; ++i) {
    auto b = RecordBatchBuilder(i == 1 ? Compression::kGzip : Compression::kNone, i * 10)
                 .add(i, bv("k"), bv(std::string(i * 10 + 1, 'v')))
                 .build();
    ASSERT_TRUE(b.ok());
    sizes.push_back(b->size());
    all.insert(all.end(), b->begin(), b->end());
  }
  size_t whole = all.size();
  Bytes tail = hand_batch();
  all.insert(all.end(), tail.begin(), tail.begin() + 30);  // a torn batch

  BatchIterator it{ByteView(all)};
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    auto n = it.next();
    ASSERT_TRUE(n.ok());
    ASSERT_TRUE(n->has_value());
    EXPECT_EQ((*n)->base_offset(), i * 10);
    EXPECT_TRUE((*n)->verify_crc());
    pos += sizes[i];
    EXPECT_EQ(it.position(), pos);
  }
  auto end = it.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_TRUE(it.partial_tail());
  EXPECT_EQ(it.position(), whole);
}

TEST(BatchIterator, CleanEndIsNotPartial) {
  Bytes b = hand_batch();
  BatchIterator it{ByteView(b)};
  ASSERT_TRUE(it.next()->has_value());
  auto end = it.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_FALSE(it.partial_tail());
  BatchIterator short_tail{ByteView(kHandBatch, 11)};  // less than baseOffset + batchLength
  EXPECT_FALSE(short_tail.next()->has_value());
  EXPECT_TRUE(short_tail.partial_tail());
}

TEST(BatchIterator, MalformedHeaderIsAnErrorThatSticks) {
  Bytes b = hand_batch();
  Bytes second = hand_batch();
  second[batch_field::kMagic] = 7;
  b.insert(b.end(), second.begin(), second.end());
  BatchIterator it{ByteView(b)};
  ASSERT_TRUE(it.next()->has_value());
  auto bad = it.next();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), RecordsErrc::kBadMagic);
  EXPECT_EQ(it.position(), sizeof(kHandBatch));
  EXPECT_EQ(it.next().error(), RecordsErrc::kBadMagic);

  Bytes c = hand_batch();
  store_be<int32_t>(c.data() + batch_field::kBatchLength, 10);
  BatchIterator it2{ByteView(c)};
  EXPECT_EQ(it2.next().error(), RecordsErrc::kBadLength);
}

}  // namespace
}  // namespace keel::protocol
