#include "protocol/record_batch.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>

#include "common/crc32c.h"
#include "protocol/legacy_records.h"

namespace keel::protocol {
namespace {

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }
std::string str(ByteView v) { return std::string(as_string_view(v)); }

// One uncompressed batch of two records, written byte by byte from the v2
// layout (Kafka's DefaultRecordBatch / DefaultRecord). The CRC was computed
// with an independent bit-by-bit CRC-32C over bytes 21..84.
const Bytes kTwoRecordBatch = {
    // baseOffset int64 = 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // batchLength int32 = 73 (49 header bytes after this field + 24 record bytes)
    0x00, 0x00, 0x00, 0x49,
    // partitionLeaderEpoch int32 = -1
    0xff, 0xff, 0xff, 0xff,
    // magic int8 = 2
    0x02,
    // crc uint32 = CRC-32C of attributes..end
    0x67, 0x38, 0xda, 0x5a,
    // attributes int16 = 0 (no compression, CreateTime, not transactional, not control)
    0x00, 0x00,
    // lastOffsetDelta int32 = 1
    0x00, 0x00, 0x00, 0x01,
    // baseTimestamp int64 = 1700000000000
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    // maxTimestamp int64 = 1700000000005
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05,
    // producerId int64 = -1
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    // producerEpoch int16 = -1
    0xff, 0xff,
    // baseSequence int32 = -1
    0xff, 0xff, 0xff, 0xff,
    // recordsCount int32 = 2
    0x00, 0x00, 0x00, 0x02,
    // record 0: length varint = 14 (zig-zag 28)
    0x1c,
    //   attributes int8 = 0
    0x00,
    //   timestampDelta varlong = 0
    0x00,
    //   offsetDelta varint = 0
    0x00,
    //   keyLength varint = 1 (zig-zag 2), key "k"
    0x02, 'k',
    //   valueLength varint = 2 (zig-zag 4), value "v1"
    0x04, 'v', '1',
    //   headersCount varint = 1 (zig-zag 2)
    0x02,
    //   header keyLength varint = 2, key "h1"
    0x04, 'h', '1',
    //   header valueLength varint = 1, value "x"
    0x02, 'x',
    // record 1: length varint = 8 (zig-zag 16)
    0x10,
    //   attributes int8 = 0
    0x00,
    //   timestampDelta varlong = 5 (zig-zag 10)
    0x0a,
    //   offsetDelta varint = 1 (zig-zag 2)
    0x02,
    //   keyLength varint = -1 (zig-zag 1): null key
    0x01,
    //   valueLength varint = 2, value "v2"
    0x04, 'v', '2',
    //   headersCount varint = 0
    0x00,
};

Bytes build_two_records(Compression c = Compression::kNone) {
  RecordBatchBuilder builder(c);
  Bytes k = b("k"), v1 = b("v1"), v2 = b("v2");
  builder.add(1700000000000, ByteView(k), ByteView(v1), {{"h1", b("x")}});
  builder.add(1700000000005, std::nullopt, ByteView(v2));
  auto built = builder.build();
  EXPECT_TRUE(built.ok()) << built.error().message();
  return built.ok() ? std::move(built.value()) : Bytes{};
}

TEST(RecordBatch, HandCheckedVectorIs85BytesWithTheCrcComputedIndependently) {
  ASSERT_EQ(kTwoRecordBatch.size(), 85u);
  EXPECT_EQ(crc32c(ByteView(kTwoRecordBatch).subspan(21)), 0x6738da5au);
}

TEST(RecordBatch, ViewReadsEveryHeaderFieldOfHandCheckedVector) {
  auto v = RecordBatchView::parse(kTwoRecordBatch);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(v->size_bytes(), 85u);
  EXPECT_EQ(v->base_offset(), 0);
  EXPECT_EQ(v->batch_length(), 73);
  EXPECT_EQ(v->partition_leader_epoch(), -1);
  EXPECT_EQ(v->magic(), 2);
  EXPECT_EQ(v->crc(), 0x6738da5au);
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

TEST(RecordBatch, DecodesBothRecordsOfHandCheckedVector) {
  auto v = RecordBatchView::parse(kTwoRecordBatch);
  ASSERT_TRUE(v.ok());
  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok()) << recs.error().message();
  ASSERT_EQ(recs->size(), 2u);
  const Record& r0 = (*recs)[0];
  EXPECT_EQ(r0.attributes, 0);
  EXPECT_EQ(r0.offset, 0);
  EXPECT_EQ(r0.offset_delta(), 0);
  EXPECT_EQ(r0.timestamp, 1700000000000);
  ASSERT_TRUE(r0.key);
  EXPECT_EQ(str(*r0.key), "k");
  ASSERT_TRUE(r0.value);
  EXPECT_EQ(str(*r0.value), "v1");
  ASSERT_EQ(r0.headers.size(), 1u);
  EXPECT_EQ(r0.headers[0].key, "h1");
  ASSERT_TRUE(r0.headers[0].value);
  EXPECT_EQ(str(*r0.headers[0].value), "x");
  const Record& r1 = (*recs)[1];
  EXPECT_EQ(r1.offset, 1);
  EXPECT_EQ(r1.timestamp, 1700000000005);
  EXPECT_FALSE(r1.key);
  ASSERT_TRUE(r1.value);
  EXPECT_EQ(str(*r1.value), "v2");
  EXPECT_TRUE(r1.headers.empty());
  // Uncompressed: views borrow from the batch itself, not from scratch.
  EXPECT_GE(r0.key->data(), kTwoRecordBatch.data());
  EXPECT_LT(r0.key->data(), kTwoRecordBatch.data() + kTwoRecordBatch.size());
}

TEST(RecordBatch, BuilderReproducesHandCheckedVectorByteForByte) {
  EXPECT_EQ(build_two_records(), kTwoRecordBatch);
}

TEST(RecordBatch, NullHeaderValueAndEmptyKeyRoundTrip) {
  RecordBatchBuilder builder;
  Bytes empty;
  builder.add(10, ByteView(empty), std::nullopt, {{"a", std::nullopt}, {"", b("")}});
  auto bytes = builder.build();
  ASSERT_TRUE(bytes.ok());
  auto v = RecordBatchView::parse(*bytes);
  ASSERT_TRUE(v.ok());
  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 1u);
  const Record& r = (*recs)[0];
  ASSERT_TRUE(r.key);
  EXPECT_TRUE(r.key->empty());
  EXPECT_FALSE(r.value);  // tombstone
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[0].key, "a");
  EXPECT_FALSE(r.headers[0].value);
  EXPECT_EQ(r.headers[1].key, "");
  ASSERT_TRUE(r.headers[1].value);
  EXPECT_TRUE(r.headers[1].value->empty());
}

class RecordBatchCodec : public ::testing::TestWithParam<Compression> {};

TEST_P(RecordBatchCodec, BuildParseDecodeRoundTripsThreeHundredRecords) {
  RecordBatchBuilder builder(GetParam(), 1000);
  builder.producer(77, 3, 500).partition_leader_epoch(9);
  std::vector<std::string> values;
  for (int i = 0; i < 300; ++i) values.push_back("value-" + std::to_string(i) + std::string(i % 50, 'z'));
  for (int i = 0; i < 300; ++i) {
    std::string key = "key-" + std::to_string(i);
    std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
    if (i % 3 == 0) headers.push_back({"trace", b(std::to_string(i))});
    builder.add(5000 + i * 7 - (i % 4), ByteView(as_bytes(key)), ByteView(as_bytes(values[i])), headers);
  }
  auto bytes = builder.build();
  ASSERT_TRUE(bytes.ok()) << bytes.error().message();
  auto v = RecordBatchView::parse(*bytes);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->compression(), GetParam());
  EXPECT_EQ(v->base_offset(), 1000);
  EXPECT_EQ(v->last_offset(), 1299);
  EXPECT_EQ(v->records_count(), 300);
  EXPECT_EQ(v->producer_id(), 77);
  EXPECT_EQ(v->producer_epoch(), 3);
  EXPECT_EQ(v->base_sequence(), 500);
  EXPECT_EQ(v->partition_leader_epoch(), 9);
  EXPECT_EQ(v->base_timestamp(), 5000);
  EXPECT_EQ(v->max_timestamp(), 5000 + 299 * 7 - 3);
  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok()) << recs.error().message();
  ASSERT_EQ(recs->size(), 300u);
  for (int i = 0; i < 300; ++i) {
    const Record& r = (*recs)[i];
    EXPECT_EQ(r.offset, 1000 + i);
    EXPECT_EQ(r.timestamp, 5000 + i * 7 - (i % 4));
    EXPECT_EQ(str(*r.key), "key-" + std::to_string(i));
    EXPECT_EQ(str(*r.value), values[i]);
    EXPECT_EQ(r.headers.size(), i % 3 == 0 ? 1u : 0u);
  }
  if (GetParam() != Compression::kNone) {
    // The decompression cap applies to the records section.
    EXPECT_EQ(v->decode_records(scratch, 100).error(), make_error_code(RecordsErrc::kTooLarge));
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, RecordBatchCodec,
                         ::testing::Values(Compression::kNone, Compression::kGzip, Compression::kSnappy,
                                           Compression::kLz4, Compression::kZstd),
                         [](const auto& info) { return std::string(compression_name(info.param)); });

TEST(RecordBatch, CompressedBatchIsSmallerThanUncompressedForRepetitiveValues) {
  for (Compression c : {Compression::kGzip, Compression::kSnappy, Compression::kLz4, Compression::kZstd}) {
    RecordBatchBuilder plain(Compression::kNone), packed(c);
    std::string value(1000, 'a');
    for (int i = 0; i < 50; ++i) {
      plain.add(i, std::nullopt, ByteView(as_bytes(value)));
      packed.add(i, std::nullopt, ByteView(as_bytes(value)));
    }
    EXPECT_LT(packed.build()->size() * 5, plain.build()->size()) << compression_name(c);
  }
}

TEST(RecordBatch, LogAppendTimeRewriteSetsBitAndMaxTimestampAndKeepsCrcValid) {
  Bytes batch = build_two_records(Compression::kLz4);
  set_log_append_time(batch, 1800000000000);
  auto v = RecordBatchView::parse(batch);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_EQ(v->compression(), Compression::kLz4);  // other attribute bits untouched
  EXPECT_EQ(v->max_timestamp(), 1800000000000);
  EXPECT_EQ(v->base_timestamp(), 1700000000000);
  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok());
  for (const Record& r : *recs) EXPECT_EQ(r.timestamp, 1800000000000);  // as Kafka's consumers see it
}

TEST(RecordBatch, BaseOffsetAndLeaderEpochRewritesLeaveCrcValid) {
  Bytes batch = build_two_records();
  uint32_t crc_before = RecordBatchView::parse(batch)->crc();
  set_base_offset(batch, 123456789012);
  set_partition_leader_epoch(batch, 42);
  auto v = RecordBatchView::parse(batch);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->crc(), crc_before);
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->base_offset(), 123456789012);
  EXPECT_EQ(v->last_offset(), 123456789013);
  EXPECT_EQ(v->partition_leader_epoch(), 42);
  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok());
  EXPECT_EQ((*recs)[1].offset, 123456789013);
}

TEST(RecordBatch, FlippedRecordByteFailsCrc) {
  Bytes batch = kTwoRecordBatch;
  batch[70] ^= 0x01;
  auto v = RecordBatchView::parse(batch);
  ASSERT_TRUE(v.ok());  // parse does not check the CRC
  EXPECT_FALSE(v->verify_crc());
}

TEST(RecordBatch, FlippedAttributeByteFailsCrcButBaseOffsetIsNotCovered) {
  Bytes batch = kTwoRecordBatch;
  batch[22] ^= 0x10;
  EXPECT_FALSE(RecordBatchView::parse(batch)->verify_crc());
  Bytes other = kTwoRecordBatch;
  other[3] ^= 0xff;
  EXPECT_TRUE(RecordBatchView::parse(other)->verify_crc());
}

TEST(RecordBatch, EveryTruncationOfTheBatchIsTooShort) {
  for (size_t n = 0; n < kTwoRecordBatch.size(); ++n) {
    auto v = RecordBatchView::parse(ByteView(kTwoRecordBatch).first(n));
    ASSERT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.error(), make_error_code(RecordsErrc::kTooShort)) << n;
  }
}

TEST(RecordBatch, ViewCoversExactlyBatchLengthWhenMoreBytesFollow) {
  Bytes two = kTwoRecordBatch;
  two.insert(two.end(), kTwoRecordBatch.begin(), kTwoRecordBatch.end());
  auto v = RecordBatchView::parse(two);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size_bytes(), 85u);
  EXPECT_TRUE(v->verify_crc());
}

TEST(RecordBatch, MagicOtherThanTwoIsBadMagic) {
  for (uint8_t magic : {0, 1, 3, 0xff}) {
    Bytes batch = kTwoRecordBatch;
    batch[16] = magic;
    EXPECT_EQ(RecordBatchView::parse(batch).error(), make_error_code(RecordsErrc::kBadMagic));
  }
}

TEST(RecordBatch, BatchLengthBelowHeaderIsBadLength) {
  Bytes batch = kTwoRecordBatch;
  store_be<int32_t>(batch.data() + 8, 48);
  EXPECT_EQ(RecordBatchView::parse(batch).error(), make_error_code(RecordsErrc::kBadLength));
  store_be<int32_t>(batch.data() + 8, -5);
  EXPECT_EQ(RecordBatchView::parse(batch).error(), make_error_code(RecordsErrc::kBadLength));
}

// The records of a compressed batch point into the decompressed bytes: they
// stay valid until the next decode() on this thread.
Result<std::vector<Record>> decode(const Bytes& batch) {
  auto v = RecordBatchView::parse(batch);
  if (!v) return v.error();
  thread_local Bytes scratch;
  return v->decode_records(scratch);
}

TEST(RecordBatch, RecordsCountLargerThanRecordsIsBadRecord) {
  Bytes batch = kTwoRecordBatch;
  store_be<int32_t>(batch.data() + 57, 3);
  EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kBadRecord));
}

TEST(RecordBatch, RecordsCountSmallerThanRecordsLeavesTrailingBytesAndIsBadRecord) {
  Bytes batch = kTwoRecordBatch;
  store_be<int32_t>(batch.data() + 57, 1);
  EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kBadRecord));
}

TEST(RecordBatch, NegativeOrHugeRecordsCountIsBadRecord) {
  for (int32_t count : {-1, INT32_MIN, INT32_MAX}) {
    Bytes batch = kTwoRecordBatch;
    store_be<int32_t>(batch.data() + 57, count);
    EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kBadRecord)) << count;
  }
}

TEST(RecordBatch, RecordLengthOverrunningTheBatchIsBadRecord) {
  Bytes batch = kTwoRecordBatch;
  batch[61 + 15] = 0x7e;  // record 1 claims 63 bytes; 8 remain
  EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kBadRecord));
}

TEST(RecordBatch, RecordLengthDisagreeingWithItsFieldsIsBadRecord) {
  Bytes batch = kTwoRecordBatch;
  batch[61] = 0x1a;  // record 0 claims 13 bytes, its fields need 14
  EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kBadRecord));
}

TEST(RecordBatch, KeyLengthBelowMinusOneIsBadRecord) {
  Bytes batch = kTwoRecordBatch;
  batch[61 + 4] = 0x03;  // keyLength varint -2
  EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kBadRecord));
}

TEST(RecordBatch, NullHeaderKeyIsBadRecord) {
  Bytes batch = kTwoRecordBatch;
  batch[61 + 10] = 0x01;  // header keyLength -1
  EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kBadRecord));
}

TEST(RecordBatch, VarintRunningPastTheRecordIsBadRecord) {
  Bytes batch = kTwoRecordBatch;
  // record 1's last byte (headersCount) becomes a continuation byte.
  batch.back() = 0x80;
  EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kBadRecord));
}

TEST(RecordBatch, CompressionBitsFiveToSevenAreUnsupported) {
  Bytes batch = kTwoRecordBatch;
  batch[22] = 0x05;
  auto v = RecordBatchView::parse(batch);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->compression_valid());
  Bytes scratch;
  EXPECT_EQ(v->decode_records(scratch).error(), make_error_code(RecordsErrc::kUnsupportedCompression));
}

TEST(RecordBatch, CompressedBatchWithGarbageRecordsIsDecompressFailed) {
  Bytes batch = kTwoRecordBatch;
  batch[22] = static_cast<uint8_t>(Compression::kZstd);
  EXPECT_EQ(decode(batch).error(), make_error_code(RecordsErrc::kDecompressFailed));
}

TEST(RecordBatch, EmptyBuilderGivesEmptyBatchWithNoTimestamps) {
  auto bytes = RecordBatchBuilder().build();
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), kBatchHeaderSize);
  auto v = RecordBatchView::parse(*bytes);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->verify_crc());
  EXPECT_EQ(v->records_count(), 0);
  EXPECT_EQ(v->last_offset_delta(), 0);
  EXPECT_EQ(v->base_timestamp(), -1);
  EXPECT_EQ(v->max_timestamp(), -1);
  Bytes scratch;
  auto recs = v->decode_records(scratch);
  ASSERT_TRUE(recs.ok());
  EXPECT_TRUE(recs->empty());
}

TEST(RecordBatch, TransactionalControlAndLogAppendTimeSetTheirAttributeBits) {
  Bytes key = {0, 0, 0, 1};  // version 0, COMMIT
  Bytes value = {0, 0, 0, 0, 0, 5};
  RecordBatchBuilder builder(Compression::kNone, 50);
  builder.producer(1234, 2, -1).transactional(true).control(true)
      .timestamp_type(TimestampType::kLogAppendTime).log_append_time(999);
  builder.add(100, ByteView(key), ByteView(value));
  auto bytes = builder.build();
  ASSERT_TRUE(bytes.ok());
  auto v = RecordBatchView::parse(*bytes);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->attributes(), 0x08 | 0x10 | 0x20);
  EXPECT_TRUE(v->is_transactional());
  EXPECT_TRUE(v->is_control());
  EXPECT_EQ(v->timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_EQ(v->max_timestamp(), 999);
  EXPECT_EQ(v->producer_id(), 1234);
  EXPECT_EQ(v->producer_epoch(), 2);
  EXPECT_TRUE(v->verify_crc());
}

TEST(RecordBatch, ExplicitOffsetDeltasKeepGapsAndMustIncrease) {
  RecordBatchBuilder gaps;
  gaps.add_with_offset_delta(0, 1, std::nullopt, std::nullopt).add_with_offset_delta(5, 2, std::nullopt, std::nullopt);
  auto bytes = gaps.build();
  ASSERT_TRUE(bytes.ok());
  auto v = RecordBatchView::parse(*bytes);
  EXPECT_EQ(v->last_offset_delta(), 5);
  Bytes scratch;
  EXPECT_EQ((*v->decode_records(scratch))[1].offset, 5);
  // add() continues after the last explicit delta.
  gaps.add(3, std::nullopt, std::nullopt);
  EXPECT_EQ(RecordBatchView::parse(*gaps.build())->last_offset_delta(), 6);

  RecordBatchBuilder backwards;
  backwards.add_with_offset_delta(3, 1, std::nullopt, std::nullopt).add_with_offset_delta(3, 2, std::nullopt, std::nullopt);
  EXPECT_EQ(backwards.build().error(), make_error_code(RecordsErrc::kBadBatch));
}

TEST(BatchIterator, WalksConcatenatedBatchesAndStopsAtPartialTail) {
  Bytes first = build_two_records(Compression::kGzip);
  Bytes second = kTwoRecordBatch;
  Bytes all = first;
  all.insert(all.end(), second.begin(), second.end());
  all.insert(all.end(), kTwoRecordBatch.begin(), kTwoRecordBatch.begin() + 40);  // partial third
  BatchIterator it(all);
  auto a = it.next();
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->compression(), Compression::kGzip);
  EXPECT_EQ(it.position(), first.size());
  auto c = it.next();
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->bytes().data(), all.data() + first.size());
  EXPECT_EQ(it.position(), first.size() + second.size());
  auto end = it.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_TRUE(it.partial_tail());
  EXPECT_EQ(it.position(), first.size() + second.size());
}

TEST(BatchIterator, PartialTailShorterThanLogOverheadIsReported) {
  Bytes all = kTwoRecordBatch;
  all.insert(all.end(), {0, 0, 0, 0, 0});
  BatchIterator it(all);
  ASSERT_TRUE(it.next()->has_value());
  EXPECT_FALSE(it.next()->has_value());
  EXPECT_TRUE(it.partial_tail());
}

TEST(BatchIterator, ExactEndIsNotAPartialTail) {
  BatchIterator it(kTwoRecordBatch);
  ASSERT_TRUE(it.next()->has_value());
  auto end = it.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_FALSE(it.partial_tail());
  BatchIterator empty{ByteView{}};
  EXPECT_FALSE(empty.next()->has_value());
  EXPECT_FALSE(empty.partial_tail());
}

TEST(BatchIterator, BadLengthOrMagicIsAStickyError) {
  Bytes all = kTwoRecordBatch;
  all.insert(all.end(), kTwoRecordBatch.begin(), kTwoRecordBatch.end());
  store_be<int32_t>(all.data() + 85 + 8, 10);
  BatchIterator it(all);
  ASSERT_TRUE(it.next()->has_value());
  EXPECT_EQ(it.next().error(), make_error_code(RecordsErrc::kBadLength));
  EXPECT_EQ(it.next().error(), make_error_code(RecordsErrc::kBadLength));

  Bytes legacy = kTwoRecordBatch;
  legacy[16] = 1;
  BatchIterator it2(legacy);
  EXPECT_EQ(it2.next().error(), make_error_code(RecordsErrc::kBadMagic));
}

// Random byte flips of valid batches (every codec): every outcome is a value
// or a clean error; ASan/UBSan builds and the fuzz targets catch the rest.
TEST(RecordBatch, RandomMutationsGiveValuesOrErrorsNeverCrashes) {
  std::mt19937 rng(7);
  std::vector<Bytes> seeds;
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kSnappy, Compression::kLz4,
                        Compression::kZstd})
    seeds.push_back(build_two_records(c));
  int decoded = 0, failed = 0;
  for (int i = 0; i < 5000; ++i) {
    Bytes m = seeds[i % seeds.size()];
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) m.resize(rng() % m.size());
    auto r = decode(m);
    if (r.ok()) {
      ++decoded;
      for (const Record& rec : *r) {
        if (rec.key) (void)str(*rec.key);
        if (rec.value) (void)str(*rec.value);
      }
    } else {
      ++failed;
    }
  }
  EXPECT_GT(failed, 0);
  EXPECT_EQ(decoded + failed, 5000);
}

TEST(RecordBatch, LegacyMessageSetIsBadMagicNotBadLength) {
  // A v1 message (size 26 < 49) followed by more bytes: the magic is what is wrong.
  Bytes legacy = build_legacy_message(1, 0, 0, 5, std::nullopt, as_bytes("value"));
  Bytes more = build_legacy_message(1, 1, 0, 6, std::nullopt, as_bytes("another value"));
  legacy.insert(legacy.end(), more.begin(), more.end());
  ASSERT_GE(legacy.size(), kBatchHeaderSize);
  EXPECT_EQ(RecordBatchView::parse(ByteView(legacy)).error(), RecordsErrc::kBadMagic);
}

TEST(RecordBatch, OffsetDeltaPastInt32IsBadBatchNotOverflow) {
  auto built = RecordBatchBuilder()
                   .add_with_offset_delta(std::numeric_limits<int32_t>::max(), 1, std::nullopt, as_bytes("a"))
                   .add(2, std::nullopt, as_bytes("b"))
                   .build();
  EXPECT_EQ(built.error(), RecordsErrc::kBadBatch);
}

}  // namespace
}  // namespace keel::protocol
