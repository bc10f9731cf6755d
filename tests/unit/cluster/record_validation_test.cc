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

// KIP-467: the batch is refused whole, and each record that caused it is
// named by its index, so the client fails those and may retry the others.
TEST(RecordValidation, EveryKeylessRecordOfACompactedTopicIsNamed) {
  for (Compression codec : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    RecordBatchBuilder b(codec);
    const Bytes k = bytes("k"), v = bytes("v");
    for (int i = 0; i < 6; ++i) {
      const bool keyed = i != 1 && i != 4;
      b.add(1000 + i, keyed ? std::optional<ByteView>(ByteView(k)) : std::nullopt, ByteView(v));
    }
    Bytes mixed = b.build().value();
    ProduceValidationConfig c;
    c.compacted = true;
    auto out = validate_produce_records(mixed, c);
    EXPECT_EQ(out.error, ErrorCode::kInvalidRecord);
    const std::vector<RecordError> expected = {{1, "Compacted topic cannot accept message without key"},
                                               {4, "Compacted topic cannot accept message without key"}};
    EXPECT_EQ(out.record_errors, expected) << "codec " << static_cast<int>(codec);
    EXPECT_EQ(out.message,
              "One or more records have been rejected due to 2 record errors in total, and only showing the first "
              "three errors at most: [RecordError(batchIndex=1, message='Compacted topic cannot accept message "
              "without key'), RecordError(batchIndex=4, message='Compacted topic cannot accept message without "
              "key')]");
  }
  // A batch-level fault names no record.
  Bytes keyed = batch(3);
  keyed[keyed.size() - 2] ^= 1;
  EXPECT_TRUE(validate_produce_records(keyed, {}).record_errors.empty());
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
  EXPECT_EQ(old.message, "One or more records have been rejected due to invalid timestamp");
  ASSERT_EQ(old.record_errors.size(), 3u) << "every record is 1000 s old";
  EXPECT_NE(old.record_errors[2].message.find("in the past"), std::string::npos);
  EXPECT_EQ(old.record_errors[2].batch_index, 2);
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

// The full path's verdict on an uncompressed batch, written out from Kafka's
// rules with the record decoder: the reference for the hot walk
// (uncompressed_records_pass), which must never accept what this refuses.
bool reference_accepts(const Bytes& b, const ProduceValidationConfig& c, int64_t now) {
  auto view = RecordBatchView::parse(b);
  if (!view || view->size_bytes() != b.size() || !view->verify_crc() || view->records_count() <= 0) return false;
  Bytes scratch;
  auto records = view->decode_records(scratch);
  if (!records) return false;
  for (size_t i = 0; i < records->size(); ++i) {
    const auto& r = (*records)[i];
    if (r.offset_delta() != static_cast<int32_t>(i)) return false;
    if (c.compacted && !r.key) return false;
    if (!c.log_append_time) {
      const __int128 ts = r.timestamp, n = now;
      if (ts < n - std::min(c.timestamp_difference_max_ms, c.timestamp_before_max_ms)) return false;
      if (ts > n + std::min(c.timestamp_difference_max_ms, c.timestamp_after_max_ms)) return false;
    }
  }
  return view->last_offset_delta() == static_cast<int32_t>(records->size()) - 1;
}

// Random batches (null and present keys and values, headers, more than 64 and
// 8,192 records for multi-byte deltas) with random bytes of their records
// changed and the CRC made right again: validate_produce_records agrees with
// the reference on every one, accepting and refusing.
TEST(RecordValidation, TheRecordWalkAgreesWithTheFullDecoderOnMutatedBatches) {
  uint64_t seed = 42;
  auto next = [&] { return (seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
  int accepted = 0, refused = 0;
  for (int round = 0; round < 3000; ++round) {
    RecordBatchBuilder builder;
    const int n = round % 100 == 0 ? 8300 : 1 + static_cast<int>(next() % 80);
    const int64_t base_ts = 1'000'000 + static_cast<int64_t>(next() % 1000);
    for (int i = 0; i < n; ++i) {
      Bytes key(next() % 4 == 0 ? 0 : next() % 20), value(next() % 200);
      for (auto& x : value) x = static_cast<uint8_t>(next());
      std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
      if (next() % 5 == 0) headers.emplace_back("h", next() % 2 ? std::optional<Bytes>(Bytes(3, 7)) : std::nullopt);
      builder.add(base_ts + static_cast<int64_t>(next() % 3000) - 1000,
                  key.empty() ? std::nullopt : std::optional<ByteView>(ByteView(key)),
                  next() % 10 == 0 ? std::nullopt : std::optional<ByteView>(ByteView(value)), std::move(headers));
    }
    Bytes b = builder.build().value();
    const size_t mutations = next() % 4;  // a quarter stay intact
    for (size_t m = 0; m < mutations; ++m) {
      const size_t at = protocol::kBatchHeaderSize + next() % (b.size() - protocol::kBatchHeaderSize);
      b[at] = static_cast<uint8_t>(next());
    }
    store_be<uint32_t>(b.data() + protocol::batch_field::kCrc, RecordBatchView::parse(b)->compute_crc());
    ProduceValidationConfig c;
    c.compacted = next() % 4 == 0;
    if (next() % 2) c.timestamp_before_max_ms = static_cast<int64_t>(next() % 2000);
    if (next() % 2) c.timestamp_after_max_ms = static_cast<int64_t>(next() % 2000);
    const int64_t now = base_ts + static_cast<int64_t>(next() % 2000) - 1000;
    const bool expected = reference_accepts(b, c, now);
    Bytes copy = b;
    const auto v = validate_produce_records(copy, c, now);
    ASSERT_EQ(v.ok(), expected) << "round " << round << ": " << v.message;
    (expected ? accepted : refused) += 1;
  }
  EXPECT_GT(accepted, 300);
  EXPECT_GT(refused, 300);
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
