// The produce path's record checks (Kafka's LogValidator rules) and codec
// conversion: what is refused, with which error, and that accepted batches
// are appended as they came unless the topic's codec differs.

#include "cluster/record_validation.h"

#include <gtest/gtest.h>

#include "protocol/legacy_records.h"
#include "protocol/record_batch.h"

namespace keel::cluster {
namespace {

using protocol::Compression;
using protocol::ErrorCode;
using protocol::RecordBatchBuilder;
using protocol::RecordBatchView;

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes batch(int n, Compression c = Compression::kNone, bool keys = true) {
  RecordBatchBuilder b(c);
  for (int i = 0; i < n; ++i) {
    Bytes k = bytes("key" + std::to_string(i));
    Bytes v = bytes("value" + std::to_string(i));
    b.add(1000 + i, keys ? std::optional<ByteView>(ByteView(k)) : std::nullopt, ByteView(v));
  }
  return b.build().value();
}

TEST(RecordValidation, AValidBatchIsAppendedInPlace) {
  Bytes b = batch(3);
  auto v = validate_produce_records(b, {});
  ASSERT_TRUE(v.ok()) << v.message;
  EXPECT_EQ(v.records.data(), b.data()) << "no copy for a batch that needs no rewrite";
  EXPECT_EQ(v.record_count, 3);
  EXPECT_EQ(v.producer_id, -1);
}

TEST(RecordValidation, ACorruptedByteIsACrcError) {
  Bytes b = batch(3);
  b[b.size() - 2] ^= 0x40;
  EXPECT_EQ(validate_produce_records(b, {}).error, ErrorCode::kCorruptMessage);
}

TEST(RecordValidation, TwoBatchesInOnePartitionAreRefused) {
  Bytes b = batch(2);
  Bytes two = b;
  two.insert(two.end(), b.begin(), b.end());
  EXPECT_EQ(validate_produce_records(two, {}).error, ErrorCode::kInvalidRecord);
}

TEST(RecordValidation, TruncatedAndGarbageInputAreCorrupt) {
  Bytes b = batch(2);
  Bytes cut(b.begin(), b.begin() + static_cast<ptrdiff_t>(b.size() / 2));
  EXPECT_EQ(validate_produce_records(cut, {}).error, ErrorCode::kCorruptMessage);
  Bytes garbage(100, 0xAB);
  EXPECT_NE(validate_produce_records(garbage, {}).error, ErrorCode::kNone);
  Bytes empty;
  EXPECT_EQ(validate_produce_records(empty, {}).error, ErrorCode::kInvalidRecord);
}

TEST(RecordValidation, CompactedTopicsRefuseRecordsWithoutKey) {
  Bytes keyless = batch(2, Compression::kNone, false);
  ProduceValidationConfig c;
  c.compacted = true;
  auto v = validate_produce_records(keyless, c);
  EXPECT_EQ(v.error, ErrorCode::kInvalidRecord);
  EXPECT_NE(v.message.find("key"), std::string::npos);
  Bytes keyed = batch(2);
  EXPECT_TRUE(validate_produce_records(keyed, c).ok());
}

TEST(RecordValidation, ControlBatchesFromClientsAreRefused) {
  RecordBatchBuilder b;
  b.control(true);
  Bytes v = bytes("x");
  b.add(1, std::nullopt, ByteView(v));
  Bytes control = b.build().value();
  EXPECT_EQ(validate_produce_records(control, {}).error, ErrorCode::kInvalidRecord);
}

TEST(RecordValidation, TheTopicCodecRecompressesKeepingRecordsAndProducerFields) {
  RecordBatchBuilder b(Compression::kNone);
  b.producer(42, 3, 100);
  for (int i = 0; i < 5; ++i) {
    Bytes k = bytes("k" + std::to_string(i)), v = bytes("v" + std::to_string(i));
    b.add(2000 + i, ByteView(k), ByteView(v));
  }
  Bytes input = b.build().value();
  ProduceValidationConfig c;
  c.target_codec = Compression::kZstd;
  auto out = validate_produce_records(input, c);
  ASSERT_TRUE(out.ok()) << out.message;
  ASSERT_FALSE(out.owned.empty());
  auto view = RecordBatchView::parse(ByteView(out.owned)).value();
  EXPECT_EQ(view.compression(), Compression::kZstd);
  EXPECT_TRUE(view.verify_crc());
  EXPECT_EQ(view.producer_id(), 42);
  EXPECT_EQ(view.producer_epoch(), 3);
  EXPECT_EQ(view.base_sequence(), 100);
  EXPECT_EQ(out.last_sequence, 104);
  Bytes scratch;
  auto records = view.decode_records(scratch).value();
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(std::string(records[4].key->begin(), records[4].key->end()), "k4");
  EXPECT_EQ(records[4].timestamp, 2004);
}

TEST(RecordValidation, ProducerCodecKeepsCompressedBatchesAsTheyCame) {
  Bytes input = batch(4, Compression::kLz4);
  auto out = validate_produce_records(input, {});
  ASSERT_TRUE(out.ok()) << out.message;
  EXPECT_TRUE(out.owned.empty());
  ProduceValidationConfig c;
  c.target_codec = Compression::kNone;  // "uncompressed"
  auto plain = validate_produce_records(input, c);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(RecordBatchView::parse(ByteView(plain.owned)).value().compression(), Compression::kNone);
}

TEST(RecordValidation, LegacyMessageSetsAreUpConvertedToOneBatch) {
  Bytes k = bytes("k"), v1 = bytes("one"), v2 = bytes("two");
  Bytes set = protocol::build_legacy_message(1, 7, 0, 5000, ByteView(k), ByteView(v1));
  Bytes m2 = protocol::build_legacy_message(1, 9, 0, 5001, ByteView(k), ByteView(v2));
  set.insert(set.end(), m2.begin(), m2.end());
  auto out = validate_produce_records(set, {});
  ASSERT_TRUE(out.ok()) << out.message;
  auto view = RecordBatchView::parse(ByteView(out.owned)).value();
  EXPECT_EQ(view.records_count(), 2);
  EXPECT_EQ(view.last_offset_delta(), 1) << "the producer's offsets are renumbered from 0";
}

TEST(RecordValidation, CreateTimeTimestampsFarFromTheBrokerClockAreInvalid) {
  Bytes b = batch(3);  // timestamps 1000..1002
  ProduceValidationConfig c;
  EXPECT_TRUE(validate_produce_records(b, c, 1'000'000'000).ok()) << "no limit by default";
  c.timestamp_before_max_ms = 10'000;
  auto old = validate_produce_records(b, c, 1'000'000);
  EXPECT_EQ(old.error, ErrorCode::kInvalidTimestamp);
  EXPECT_NE(old.message.find("in the past"), std::string::npos);
  EXPECT_TRUE(validate_produce_records(b, c, 5'000).ok()) << "4 s old is within 10 s";
  c = {};
  c.timestamp_after_max_ms = 100;
  EXPECT_EQ(validate_produce_records(b, c, 500).error, ErrorCode::kInvalidTimestamp) << "500 ms in the future";
  c.timestamp_difference_max_ms = 100;
  c.timestamp_after_max_ms = INT64_MAX;
  EXPECT_EQ(validate_produce_records(b, c, 500).error, ErrorCode::kInvalidTimestamp) << "the difference bound applies both ways";
  c.log_append_time = true;
  EXPECT_TRUE(validate_produce_records(b, c, 500).ok()) << "LogAppendTime topics replace the timestamps";
}

TEST(RecordValidation, TopicCodecNames) {
  EXPECT_EQ(topic_codec("producer"), std::nullopt);
  EXPECT_EQ(topic_codec("uncompressed"), Compression::kNone);
  EXPECT_EQ(topic_codec("gzip"), Compression::kGzip);
  EXPECT_EQ(topic_codec("snappy"), Compression::kSnappy);
  EXPECT_EQ(topic_codec("lz4"), Compression::kLz4);
  EXPECT_EQ(topic_codec("zstd"), Compression::kZstd);
}

}  // namespace
}  // namespace keel::cluster
