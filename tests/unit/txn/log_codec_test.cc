// The __transaction_state record codec against bytes written out by hand from
// Kafka's schemas (internal-topics/TransactionLogKey.json,
// TransactionLogValue.json), and the id -> partition mapping against values
// computed with Java's String.hashCode and Kafka's Utils.abs.

#include "txn/log_codec.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "common/errors.h"
#include "txn/errors.h"

namespace keel::txn {
namespace {

// Bytes from hex pieces (spaces ignored), one piece per field so each can
// carry its comment.
Bytes hex(std::initializer_list<std::string_view> pieces) {
  Bytes out;
  for (std::string_view piece : pieces) {
    std::string digits;
    for (char c : piece) {
      if (c != ' ') digits.push_back(c);
    }
    for (size_t i = 0; i + 1 < digits.size(); i += 2) {
      out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
    }
  }
  return out;
}

constexpr int64_t kUpdate = 1700000000123;
constexpr int64_t kStart = 1700000000100;

TxnLogValue ongoing_value() {
  return TxnLogValue{.producer_id = 1000,
                     .producer_epoch = 3,
                     .timeout_ms = 60000,
                     .state = TxnState::kOngoing,
                     .partitions = {{"u", 0}, {"t", 1}, {"t", 0}},
                     .last_update_ms = kUpdate,
                     .start_ms = kStart};
}

Result<TxnLogRecord> decode(const Bytes& key, const Bytes& value) {
  return decode_txn_record(ByteView(key), ByteView(value));
}

// --- partition_for_transactional_id ----------------------------------------------
// Expected values printed by a throwaway Java program:
//   Utils.abs(s.hashCode()) % n with Utils.abs(x) = x == MIN_VALUE ? 0 : Math.abs(x).

TEST(PartitionForTransactionalId, MatchesJavaForAsciiIds) {
  EXPECT_EQ(partition_for_transactional_id("txn-1", 50), 10);       // hash 110810510
  EXPECT_EQ(partition_for_transactional_id("txn-1", 7), 6);
  EXPECT_EQ(partition_for_transactional_id("producer-0", 50), 29);  // hash 1752578229
  EXPECT_EQ(partition_for_transactional_id("transactional-id-with-a-long-name-0123456789", 50), 35);
  EXPECT_EQ(partition_for_transactional_id("a", 50), 47);
}

TEST(PartitionForTransactionalId, NegativeHashIsNegatedNotMasked) {
  // "my-txn".hashCode() = -1061187895. Utils.abs negates: 1061187895 % 50 = 45;
  // masking the sign bit (Utils.toPositive) would give 1086295753 % 50 = 3.
  EXPECT_EQ(partition_for_transactional_id("my-txn", 50), 45);
  EXPECT_EQ(partition_for_transactional_id("my-txn", 7), 5);
}

TEST(PartitionForTransactionalId, MinValueHashIsPartitionZero) {
  // "polygenelubricants".hashCode() == Integer.MIN_VALUE.
  EXPECT_EQ(partition_for_transactional_id("polygenelubricants", 50), 0);
  EXPECT_EQ(partition_for_transactional_id("polygenelubricants", 7), 0);
}

TEST(PartitionForTransactionalId, HashesUtf16UnitsOfNonAsciiIds) {
  EXPECT_EQ(partition_for_transactional_id("\xC3\xBC" "ber-txn", 50), 46);          // "über-txn": 880869296
  EXPECT_EQ(partition_for_transactional_id("\xF0\x9F\x98\x80-txn", 50), 4);         // U+1F600 as two surrogates
  EXPECT_EQ(partition_for_transactional_id("\xF0\x9F\x98\x80-txn", 7), 2);
  // Invalid UTF-8 (t C3 28 FF) as Java's new String(bytes, UTF_8) reads it: 66499742.
  EXPECT_EQ(partition_for_transactional_id("t\xC3(\xFF", 50), 42);
}

TEST(PartitionForTransactionalId, CollidingHashesShareAPartition) {
  // "Aa" and "BB" both hash to 2112.
  EXPECT_EQ(partition_for_transactional_id("Aa", 50), 12);
  EXPECT_EQ(partition_for_transactional_id("BB", 50), 12);
  EXPECT_EQ(partition_for_transactional_id("anything", 1), 0);
}

// --- exact bytes ----------------------------------------------------------------------

TEST(TxnLogCodec, KeyIsVersionZeroAndTheId) {
  EXPECT_EQ(encode_txn_key("my-txn"), hex({"0000",                 // key version 0
                                          "0006 6d792d74786e"}));  // "my-txn"
}

TEST(TxnLogCodec, KeyTooLongForAnInt16StringCannotBeWritten) {
  EXPECT_TRUE(encode_txn_key(std::string(kMaxTransactionalIdBytes + 1, 'x')).empty());
  EXPECT_EQ(encode_txn_key(std::string(kMaxTransactionalIdBytes, 'x')).size(), 2 + 2 + kMaxTransactionalIdBytes);
}

TEST(TxnLogCodec, OngoingValueV0GroupsPartitionsByTopic) {
  const Bytes expected = hex({
      "0000",                            // value version 0
      "00000000000003e8",                // ProducerId 1000
      "0003",                            // ProducerEpoch 3
      "0000ea60",                        // TransactionTimeoutMs 60000
      "01",                              // TransactionStatus: Ongoing
      "00000002",                        // TransactionPartitions: two topics
      "0001 74 00000002 00000000 00000001",  // "t": [0, 1]
      "0001 75 00000001 00000000",           // "u": [0]
      "0000018bcfe5687b",                // TransactionLastUpdateTimestampMs
      "0000018bcfe56864",                // TransactionStartTimestampMs
  });
  EXPECT_EQ(encode_txn_value(ongoing_value()), expected);
}

TEST(TxnLogCodec, EmptyValueV0HasNullPartitions) {
  TxnLogValue v{.producer_id = 7, .producer_epoch = 0, .timeout_ms = 900000, .state = TxnState::kEmpty,
                .partitions = {}, .last_update_ms = kUpdate, .start_ms = -1};
  const Bytes expected = hex({"0000", "0000000000000007", "0000", "000dbba0",
                              "00",                // Empty
                              "ffffffff",          // null partitions
                              "0000018bcfe5687b",  // last update
                              "ffffffffffffffff"}); // no start
  EXPECT_EQ(encode_txn_value(v), expected);
}

TEST(TxnLogCodec, CompleteCommitValueV0HasAnEmptyNotANullList) {
  TxnLogValue v{.producer_id = 7, .producer_epoch = 2, .timeout_ms = 1000, .state = TxnState::kCompleteCommit,
                .partitions = {}, .last_update_ms = kUpdate, .start_ms = kStart};
  const Bytes expected = hex({"0000", "0000000000000007", "0002", "000003e8",
                              "04",        // CompleteCommit
                              "00000000",  // no partitions, but a list
                              "0000018bcfe5687b", "0000018bcfe56864"});
  EXPECT_EQ(encode_txn_value(v), expected);
}

TEST(TxnLogCodec, ValueV1IsCompactWithTaggedProducerIds) {
  TxnLogValue v = ongoing_value();
  v.partitions = {{"t", 0}};
  v.previous_producer_id = 999;
  v.client_transaction_version = 2;
  const Bytes expected = hex({
      "0001",              // value version 1
      "00000000000003e8",  // ProducerId
      "0003",              // ProducerEpoch
      "0000ea60",          // TransactionTimeoutMs
      "01",                // Ongoing
      "02",                // compact array: one topic
      "02 74",             // compact string "t"
      "02 00000000",       // compact array: partition 0
      "00",                // the topic struct's tagged fields: none
      "0000018bcfe5687b", "0000018bcfe56864",
      "02",                            // two tagged fields (NextProducerId is -1, its default: left out)
      "00 08 00000000000003e7",        // tag 0 PreviousProducerId 999
      "02 02 0002",                    // tag 2 ClientTransactionVersion 2
  });
  EXPECT_EQ(encode_txn_value(v, kTxnValueFlexibleVersion), expected);
}

TEST(TxnLogCodec, ValuesNeverStoredCannotBeEncoded) {
  TxnLogValue v = ongoing_value();
  v.state = TxnState::kDead;
  EXPECT_TRUE(encode_txn_value(v).empty());
  v.state = TxnState::kPrepareEpochFence;
  EXPECT_TRUE(encode_txn_value(v).empty());
  v.state = TxnState::kEmpty;  // with partitions
  EXPECT_TRUE(encode_txn_value(v).empty());
  EXPECT_TRUE(encode_txn_value(ongoing_value(), 2).empty());
}

// --- round trips and decoding ----------------------------------------------------------

TEST(TxnLogCodec, EveryStoredStateRoundTripsInBothVersions) {
  for (TxnState s : {TxnState::kEmpty, TxnState::kOngoing, TxnState::kPrepareCommit, TxnState::kPrepareAbort,
                     TxnState::kCompleteCommit, TxnState::kCompleteAbort}) {
    for (int16_t version : {kTxnValueVersion, kTxnValueFlexibleVersion}) {
      TxnLogValue v = ongoing_value();
      v.state = s;
      if (s == TxnState::kEmpty) v.partitions.clear();
      if (version == kTxnValueFlexibleVersion) {
        v.previous_producer_id = 5;
        v.next_producer_id = 6;
        v.client_transaction_version = 1;
      }
      auto rec = decode(encode_txn_key("id"), encode_txn_value(v, version));
      ASSERT_TRUE(rec.ok()) << rec.error().message();
      EXPECT_TRUE(rec->known_key);
      EXPECT_EQ(rec->transactional_id, "id");
      EXPECT_EQ(rec->value_version, version);
      ASSERT_TRUE(rec->value.has_value());
      EXPECT_EQ(*rec->value, v) << txn_state_name(s) << " v" << version;
    }
  }
}

TEST(TxnLogCodec, TombstoneHasNoValue) {
  auto rec = decode_txn_record(ByteView(encode_txn_key("gone")), std::nullopt);
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->known_key);
  EXPECT_EQ(rec->transactional_id, "gone");
  EXPECT_FALSE(rec->value.has_value());
  EXPECT_FALSE(rec->value_version.has_value());
}

TEST(TxnLogCodec, UnknownKeyVersionIsReportedNotDecoded) {
  auto rec = decode(hex({"0001", "dead"}), Bytes{0x01});
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->known_key);
  EXPECT_EQ(rec->key_version, 1);
}

TEST(TxnLogCodec, MalformedRecordsAreErrorsNotCrashes) {
  const Bytes key = encode_txn_key("id");
  const Bytes value = encode_txn_value(ongoing_value());
  // Negative key version, truncated key, trailing key bytes.
  EXPECT_EQ(decode(hex({"ffff", "0002 6964"}), value).error(), make_error_code(WireErrc::kUnsupportedVersion));
  EXPECT_EQ(decode(hex({"0000", "0005 61"}), value).error(), make_error_code(WireErrc::kTruncated));
  Bytes long_key = key;
  long_key.push_back(0);
  EXPECT_EQ(decode(long_key, value).error(), make_error_code(WireErrc::kTrailingBytes));
  // An empty value is truncated, not a tombstone; an unknown value version.
  EXPECT_EQ(decode(key, Bytes{}).error(), make_error_code(WireErrc::kTruncated));
  Bytes v2 = value;
  v2[1] = 2;
  EXPECT_EQ(decode(key, v2).error(), make_error_code(WireErrc::kUnsupportedVersion));
  // Cut short anywhere.
  for (size_t n = 2; n < value.size(); ++n) {
    Bytes cut(value.begin(), value.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(decode(key, cut).ok()) << n;
  }
}

TEST(TxnLogCodec, StatusBytesOutsideTheStoredStatesAreRefused) {
  const Bytes key = encode_txn_key("id");
  for (std::string_view status : {"06", "07", "08", "ff"}) {  // Dead, PrepareEpochFence, unknown, -1
    const Bytes v = hex({"0000", "0000000000000001", "0000", "000003e8", status, "00000000", "0000000000000001",
                         "0000000000000001"});
    EXPECT_EQ(decode(key, v).error(), make_error_code(TxnErrc::kUnknownState)) << status;
  }
}

TEST(TxnLogCodec, PartitionsOfAnEmptyValueAreIgnoredAndANullListReadsAsNone) {
  const Bytes key = encode_txn_key("id");
  // Empty with a partition list (Kafka ignores it).
  auto empty = decode(key, hex({"0000", "0000000000000001", "0000", "000003e8", "00", "00000001",
                                "0001 74 00000001 00000000", "0000000000000001", "ffffffffffffffff"}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->value->partitions.empty());
  // Ongoing with a null list.
  auto ongoing = decode(key, hex({"0000", "0000000000000001", "0000", "000003e8", "01", "ffffffff",
                                  "0000000000000001", "0000000000000001"}));
  ASSERT_TRUE(ongoing.ok());
  EXPECT_EQ(ongoing->value->state, TxnState::kOngoing);
  EXPECT_TRUE(ongoing->value->partitions.empty());
}

TEST(TxnLogCodec, UnknownTaggedFieldsOfV1AreSkipped) {
  const Bytes key = encode_txn_key("id");
  const Bytes v = hex({"0001", "0000000000000001", "0000", "000003e8", "00",
                       "00",                          // null compact array
                       "0000000000000001", "ffffffffffffffff",
                       "01 09 02 abcd"});             // one tagged field: tag 9, two bytes
  auto rec = decode(key, v);
  ASSERT_TRUE(rec.ok()) << rec.error().message();
  EXPECT_EQ(rec->value->producer_id, 1);
  EXPECT_EQ(rec->value->previous_producer_id, kNoProducerId);
}

TEST(TxnLogCodec, ValueOfATransitCarriesItsFields) {
  TxnTransit t{.producer_id = 9, .last_producer_id = 8, .producer_epoch = 4, .last_producer_epoch = 3,
               .timeout_ms = 500, .state = TxnState::kPrepareCommit, .partitions = {TopicPartition{"t", 0}},
               .start_ms = 10, .last_update_ms = 20};
  const TxnLogValue v = value_of(t);
  EXPECT_EQ(v.producer_id, 9);
  EXPECT_EQ(v.producer_epoch, 4);
  EXPECT_EQ(v.timeout_ms, 500);
  EXPECT_EQ(v.state, TxnState::kPrepareCommit);
  EXPECT_EQ(v.partitions, t.partitions);
  EXPECT_EQ(v.start_ms, 10);
  EXPECT_EQ(v.last_update_ms, 20);
  // The last epoch and id are not stored (as in Kafka).
  EXPECT_EQ(v.previous_producer_id, kNoProducerId);
}

}  // namespace
}  // namespace keel::txn
