// The __consumer_offsets record codec against bytes written out by hand from
// Kafka's schemas (internal-topics/*.json) and ON-DISK-FORMAT.md, and the
// coordinator partition against Java's String.hashCode worked out by hand.

#include "group/offsets_codec.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "common/errors.h"

namespace keel::group {
namespace {

// A little builder for the decode tests: each call appends one field in
// Kafka's encoding (big-endian; classic strings with an int16 length, bytes
// with an int32 length; compact ones with an unsigned varint of length + 1).
struct B {
  Bytes b;
  B& raw(std::initializer_list<uint8_t> bytes) {
    b.insert(b.end(), bytes);
    return *this;
  }
  B& i16(int16_t v) { return be(static_cast<uint16_t>(v), 2); }
  B& i32(int32_t v) { return be(static_cast<uint32_t>(v), 4); }
  B& i64(int64_t v) { return be(static_cast<uint64_t>(v), 8); }
  B& str(std::string_view s) {
    i16(static_cast<int16_t>(s.size()));
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  B& null_str() { return i16(-1); }
  B& bytes(std::initializer_list<uint8_t> v) {
    i32(static_cast<int32_t>(v.size()));
    return raw(v);
  }
  // Compact forms (flexible versions); every length here is below 127, so
  // the varint is one byte.
  B& cstr(std::string_view s) {
    b.push_back(static_cast<uint8_t>(s.size() + 1));
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  B& null_cstr() { return raw({0x00}); }
  B& cbytes(std::initializer_list<uint8_t> v) {
    b.push_back(static_cast<uint8_t>(v.size() + 1));
    return raw(v);
  }
  B& carray(uint8_t n) { return raw({static_cast<uint8_t>(n + 1)}); }
  B& no_tags() { return raw({0x00}); }

 private:
  B& be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
};

Result<OffsetsRecord> decode(const Bytes& key, const Bytes& value) {
  return decode_offsets_record(ByteView(key), ByteView(value));
}
Result<OffsetsRecord> decode_tombstone(const Bytes& key) {
  return decode_offsets_record(ByteView(key), std::nullopt);
}

Bytes offset_key_g1_t_5() { return B{}.i16(1).str("g1").str("t").i32(5).b; }
Bytes group_key_g1() { return B{}.i16(2).str("g1").b; }

// --- partition_for_group -----------------------------------------------------

TEST(PartitionForGroup, EmptyIdIsPartitionZero) {
  EXPECT_EQ(java_string_hash(""), 0);
  EXPECT_EQ(partition_for_group("", 50), 0);
}

TEST(PartitionForGroup, SingleCharacterHashesToItsCode) {
  EXPECT_EQ(java_string_hash("a"), 97);
  EXPECT_EQ(partition_for_group("a", 50), 47);  // 97 % 50
}

TEST(PartitionForGroup, AsciiIdMatchesJavaHashCodeWithOverflow) {
  // g r o u p - 1 = 103 114 111 117 112 45 49, h = 31 * h + c:
  //   103, 3307, 102628, 3181585, 98629247, 3057506702,
  //   3057506702 * 31 + 49 = 94782707811 = 22 * 2^32 + 293427299.
  EXPECT_EQ(java_string_hash("group-1"), 293427299);
  EXPECT_EQ(partition_for_group("group-1", 50), 49);  // 293427299 = 50 * 5868545 + 49
}

TEST(PartitionForGroup, NonAsciiIdHashesUtf16UnitsAndNegatesANegativeHash) {
  // "grüppe" (ü is C3 BC in UTF-8, one UTF-16 unit 0xFC = 252):
  //   103, 3307, 102769, 3185951, 98764593, 98764593 * 31 + 101 = 3061702484,
  //   which is -1233264812 as an int32.
  EXPECT_EQ(java_string_hash("gr\xC3\xBCppe"), -1233264812);
  // Kafka's Utils.abs negates it: 1233264812 % 50 = 12. (Masking the sign bit,
  // as Keel did before 0.1.0, gives 914218836 % 50 = 36: another coordinator.)
  EXPECT_EQ(partition_for_group("gr\xC3\xBCppe", 50), 12);
}

TEST(PartitionForGroup, CharacterOutsideBmpHashesBothSurrogates) {
  // U+1F600 is F0 9F 98 80 in UTF-8 and D83D DE00 in UTF-16:
  //   0xD83D * 31 + 0xDE00 = 55357 * 31 + 56832 = 1772899.
  // (Hashing the code point 0x1F600 instead would give 128512.)
  EXPECT_EQ(java_string_hash("\xF0\x9F\x98\x80"), 1772899);
  EXPECT_EQ(partition_for_group("\xF0\x9F\x98\x80", 50), 49);  // 1772899 = 50 * 35457 + 49
}

TEST(PartitionForGroup, MinValueHashMapsToPartitionZero) {
  // "polygenelubricants".hashCode() is Integer.MIN_VALUE (the well-known
  // example); Math.abs would leave it negative, Utils.abs gives 0.
  EXPECT_EQ(java_string_hash("polygenelubricants"), INT32_MIN);
  EXPECT_EQ(partition_for_group("polygenelubricants", 50), 0);
  EXPECT_EQ(partition_for_group("polygenelubricants", 7), 0);
}

TEST(PartitionForGroup, InvalidUtf8BecomesReplacementCharactersAsInJava) {
  constexpr int32_t kRepl = 0xFFFD;  // 65533
  EXPECT_EQ(java_string_hash("\xFF"), kRepl);
  // A lone continuation byte, and C0/C1 (always overlong).
  EXPECT_EQ(java_string_hash("\x80"), kRepl);
  EXPECT_EQ(java_string_hash("\xC1\xBF"), kRepl * 31 + kRepl);
  // An incomplete sequence at the end: 'a', then one U+FFFD for C3.
  EXPECT_EQ(java_string_hash("a\xC3"), 97 * 31 + kRepl);  // 68540
  // A lead byte whose next byte is no continuation: U+FFFD, then 'a' again.
  EXPECT_EQ(java_string_hash("\xC3" "a"), kRepl * 31 + 97);
  // Overlong E0 80 80: E0 alone is malformed, then two stray continuations.
  EXPECT_EQ(java_string_hash("\xE0\x80\x80"), kRepl * 993);  // 31^2 + 31 + 1 = 993
  // An encoded surrogate (ED A0 80) is one U+FFFD for all three bytes in the JDK.
  EXPECT_EQ(java_string_hash("\xED\xA0\x80"), kRepl);
  // Truncated four-byte sequence at the end: one U+FFFD.
  EXPECT_EQ(java_string_hash("\xF0\x9F\x98"), kRepl);
  // Beyond U+10FFFF (F4 90 ...): F4 alone, then three stray continuations.
  EXPECT_EQ(java_string_hash("\xF4\x90\x80\x80"), kRepl * (31 * 31 * 31 + 31 * 31 + 31 + 1));
}

// --- exact bytes -------------------------------------------------------------

TEST(OffsetsCodec, OffsetKeyIsVersionOneBytes) {
  const Bytes expected = {
      0x00, 0x01,                          // key version 1
      0x00, 0x02, 'g', '1',                // group
      0x00, 0x01, 't',                     // topic
      0x00, 0x00, 0x00, 0x05,              // partition
  };
  EXPECT_EQ(encode_offset_key({.group = "g1", .topic = "t", .partition = 5}), expected);
}

TEST(OffsetsCodec, OffsetValueIsVersionThreeBytes) {
  const Bytes expected = {
      0x00, 0x03,                                      // value version 3
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,  // offset 100
      0x00, 0x00, 0x00, 0x07,                          // leader epoch 7
      0x00, 0x01, 'm',                                 // metadata
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8,  // commit timestamp 1000
  };
  EXPECT_EQ(encode_offset_value({.offset = 100, .leader_epoch = 7, .metadata = "m",
                                 .commit_timestamp = 1000, .expire_timestamp = -1}),
            expected);
}

TEST(OffsetsCodec, OffsetValueWithExpiryIsVersionOneWithoutLeaderEpoch) {
  const Bytes expected = {
      0x00, 0x01,                                      // value version 1
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,  // offset 100
      0x00, 0x00,                                      // metadata ""
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8,  // commit timestamp 1000
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0xD0,  // expire timestamp 2000
  };
  EXPECT_EQ(encode_offset_value({.offset = 100, .leader_epoch = 7, .metadata = "",
                                 .commit_timestamp = 1000, .expire_timestamp = 2000}),
            expected);
}

TEST(OffsetsCodec, GroupKeyIsVersionTwoBytes) {
  const Bytes expected = {
      0x00, 0x02,            // key version 2
      0x00, 0x02, 'g', '1',  // group
  };
  EXPECT_EQ(encode_group_key("g1"), expected);
}

TEST(OffsetsCodec, GroupValueIsVersionThreeBytes) {
  GroupValue v{.protocol_type = "consumer",
               .generation = 3,
               .protocol = "range",
               .leader = "m1",
               .current_state_timestamp = 1234,
               .members = {{.member_id = "m1",
                            .group_instance_id = "i1",
                            .client_id = "c",
                            .client_host = "/h",
                            .rebalance_timeout_ms = 300000,
                            .session_timeout_ms = 10000,
                            .subscription = {0x01, 0x02},
                            .assignment = {}},
                           {.member_id = "m2",
                            .group_instance_id = std::nullopt,
                            .client_id = "",
                            .client_host = "",
                            .rebalance_timeout_ms = -1,
                            .session_timeout_ms = 1,
                            .subscription = {},
                            .assignment = {0xAB}}}};
  const Bytes expected = {
      0x00, 0x03,                                         // value version 3
      0x00, 0x08, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', // protocolType
      0x00, 0x00, 0x00, 0x03,                             // generation
      0x00, 0x05, 'r', 'a', 'n', 'g', 'e',                // protocol
      0x00, 0x02, 'm', '1',                               // leader
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xD2,     // currentStateTimestamp 1234
      0x00, 0x00, 0x00, 0x02,                             // members: 2
      0x00, 0x02, 'm', '1',                               //   memberId
      0x00, 0x02, 'i', '1',                               //   groupInstanceId
      0x00, 0x01, 'c',                                    //   clientId
      0x00, 0x02, '/', 'h',                               //   clientHost
      0x00, 0x04, 0x93, 0xE0,                             //   rebalanceTimeout 300000
      0x00, 0x00, 0x27, 0x10,                             //   sessionTimeout 10000
      0x00, 0x00, 0x00, 0x02, 0x01, 0x02,                 //   subscription
      0x00, 0x00, 0x00, 0x00,                             //   assignment (empty)
      0x00, 0x02, 'm', '2',                               //   memberId
      0xFF, 0xFF,                                         //   groupInstanceId null
      0x00, 0x00,                                         //   clientId ""
      0x00, 0x00,                                         //   clientHost ""
      0xFF, 0xFF, 0xFF, 0xFF,                             //   rebalanceTimeout -1
      0x00, 0x00, 0x00, 0x01,                             //   sessionTimeout 1
      0x00, 0x00, 0x00, 0x00,                             //   subscription (empty)
      0x00, 0x00, 0x00, 0x01, 0xAB,                       //   assignment
  };
  EXPECT_EQ(encode_group_value(v), expected);
}

TEST(OffsetsCodec, EmptyGroupValueWritesNullProtocolAndLeader) {
  const Bytes expected = {
      0x00, 0x03,                                      // value version 3
      0x00, 0x00,                                      // protocolType ""
      0x00, 0x00, 0x00, 0x00,                          // generation 0
      0xFF, 0xFF,                                      // protocol null
      0xFF, 0xFF,                                      // leader null
      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // currentStateTimestamp -1
      0x00, 0x00, 0x00, 0x00,                          // members: 0
  };
  EXPECT_EQ(encode_group_value({.protocol_type = "", .generation = 0, .protocol = std::nullopt,
                                .leader = std::nullopt, .current_state_timestamp = -1,
                                .members = {}}),
            expected);
}

TEST(OffsetsCodec, StringTooLongForRecordGivesEmptyBytes) {
  const std::string huge(kMaxRecordStringBytes + 1, 'x');
  EXPECT_TRUE(encode_offset_key({.group = huge, .topic = "t", .partition = 0}).empty());
  EXPECT_TRUE(encode_group_key(huge).empty());
  EXPECT_TRUE(encode_offset_value({.offset = 1, .leader_epoch = -1, .metadata = huge,
                                   .commit_timestamp = 0, .expire_timestamp = -1})
                  .empty());
  GroupValue g;
  g.members.emplace_back().group_instance_id = huge;
  EXPECT_TRUE(encode_group_value(g).empty());
  // The longest string that fits still encodes.
  EXPECT_FALSE(encode_group_key(std::string(kMaxRecordStringBytes, 'x')).empty());
}

// --- round trips through the encoders -----------------------------------------

TEST(OffsetsCodec, EncodedOffsetCommitDecodesBack) {
  const OffsetKey key{.group = "g", .topic = "orders", .partition = 17};
  for (const OffsetValue& value : {OffsetValue{.offset = 42, .leader_epoch = 3, .metadata = "meta",
                                               .commit_timestamp = 1700000000000, .expire_timestamp = -1},
                                   OffsetValue{.offset = 42, .leader_epoch = -1, .metadata = "",
                                               .commit_timestamp = 5, .expire_timestamp = 6}}) {
    auto rec = decode(encode_offset_key(key), encode_offset_value(value));
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    EXPECT_EQ(rec->kind, OffsetsRecord::Kind::kOffsetCommit);
    EXPECT_EQ(rec->key_version, 1);
    EXPECT_EQ(rec->offset_key, key);
    EXPECT_EQ(rec->group, "g");
    EXPECT_EQ(rec->value_version, value.expire_timestamp == -1 ? 3 : 1);
    ASSERT_TRUE(rec->offset_value.has_value());
    EXPECT_EQ(*rec->offset_value, value);
  }
}

TEST(OffsetsCodec, EncodedGroupMetadataDecodesBack) {
  GroupValue value{.protocol_type = "consumer", .generation = 9, .protocol = "cooperative-sticky",
                   .leader = "m-1", .current_state_timestamp = 77,
                   .members = {{.member_id = "m-1", .group_instance_id = "static-1",
                                .client_id = "cli", .client_host = "/10.0.0.1",
                                .rebalance_timeout_ms = 60000, .session_timeout_ms = 45000,
                                .subscription = {0, 1, 2}, .assignment = {3, 4}}}};
  auto rec = decode(encode_group_key("grp"), encode_group_value(value));
  ASSERT_TRUE(rec.ok()) << rec.error().message();
  EXPECT_EQ(rec->kind, OffsetsRecord::Kind::kGroupMetadata);
  EXPECT_EQ(rec->key_version, 2);
  EXPECT_EQ(rec->group, "grp");
  EXPECT_EQ(rec->value_version, 3);
  ASSERT_TRUE(rec->group_value.has_value());
  EXPECT_EQ(*rec->group_value, value);
}

// --- every value version -----------------------------------------------------

TEST(OffsetsCodec, DecodesOffsetKeyVersionZero) {
  auto rec = decode_tombstone(B{}.i16(0).str("g1").str("t").i32(5).b);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->kind, OffsetsRecord::Kind::kOffsetCommit);
  EXPECT_EQ(rec->key_version, 0);
  EXPECT_EQ(rec->offset_key, (OffsetKey{.group = "g1", .topic = "t", .partition = 5}));
}

TEST(OffsetsCodec, DecodesOffsetValueVersionZero) {
  auto rec = decode(offset_key_g1_t_5(), B{}.i16(0).i64(100).str("m").i64(1000).b);
  ASSERT_TRUE(rec.ok()) << rec.error().message();
  EXPECT_EQ(rec->value_version, 0);
  EXPECT_EQ(*rec->offset_value, (OffsetValue{.offset = 100, .leader_epoch = -1, .metadata = "m",
                                             .commit_timestamp = 1000, .expire_timestamp = -1}));
}

TEST(OffsetsCodec, DecodesOffsetValueVersionOneWithExpiry) {
  auto rec = decode(offset_key_g1_t_5(), B{}.i16(1).i64(100).str("m").i64(1000).i64(2000).b);
  ASSERT_TRUE(rec.ok()) << rec.error().message();
  EXPECT_EQ(rec->value_version, 1);
  EXPECT_EQ(*rec->offset_value, (OffsetValue{.offset = 100, .leader_epoch = -1, .metadata = "m",
                                             .commit_timestamp = 1000, .expire_timestamp = 2000}));
}

TEST(OffsetsCodec, DecodesOffsetValueVersionTwoWithoutExpiry) {
  auto rec = decode(offset_key_g1_t_5(), B{}.i16(2).i64(100).str("m").i64(1000).b);
  ASSERT_TRUE(rec.ok()) << rec.error().message();
  EXPECT_EQ(rec->value_version, 2);
  EXPECT_EQ(*rec->offset_value, (OffsetValue{.offset = 100, .leader_epoch = -1, .metadata = "m",
                                             .commit_timestamp = 1000, .expire_timestamp = -1}));
}

TEST(OffsetsCodec, DecodesOffsetValueVersionThreeWithLeaderEpoch) {
  auto rec = decode(offset_key_g1_t_5(), B{}.i16(3).i64(100).i32(7).str("m").i64(1000).b);
  ASSERT_TRUE(rec.ok()) << rec.error().message();
  EXPECT_EQ(rec->value_version, 3);
  EXPECT_EQ(*rec->offset_value, (OffsetValue{.offset = 100, .leader_epoch = 7, .metadata = "m",
                                             .commit_timestamp = 1000, .expire_timestamp = -1}));
}

TEST(OffsetsCodec, DecodesFlexibleOffsetValueVersionFourSkippingUnknownTags) {
  const OffsetValue want{.offset = 100, .leader_epoch = 7, .metadata = "m",
                         .commit_timestamp = 1000, .expire_timestamp = -1};
  // No tagged fields.
  auto plain = decode(offset_key_g1_t_5(), B{}.i16(4).i64(100).i32(7).cstr("m").i64(1000).no_tags().b);
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  EXPECT_EQ(plain->value_version, 4);
  EXPECT_EQ(*plain->offset_value, want);
  // Two tagged fields a later Kafka might add: count 2, (tag 0, size 1, 0x2A),
  // (tag 5, size 2, 0x01 0x02).
  auto tagged = decode(offset_key_g1_t_5(), B{}.i16(4).i64(100).i32(7).cstr("m").i64(1000)
                                                .raw({0x02, 0x00, 0x01, 0x2A, 0x05, 0x02, 0x01, 0x02})
                                                .b);
  ASSERT_TRUE(tagged.ok()) << tagged.error().message();
  EXPECT_EQ(*tagged->offset_value, want);
}

// A group value at `version`, written field by field: one member with every
// field the version has and, in v4, unknown tagged fields on the member and on
// the group.
Bytes group_value_bytes(int16_t version) {
  B b;
  b.i16(version);
  if (version < 4) {
    b.str("consumer").i32(3).str("range").str("m1");
    if (version >= 2) b.i64(1234);
    b.i32(1).str("m1");
    if (version >= 3) b.str("i1");
    b.str("c").str("/h");
    if (version >= 1) b.i32(300000);
    b.i32(10000).bytes({0x01, 0x02}).bytes({0x03});
  } else {
    b.cstr("consumer").i32(3).cstr("range").cstr("m1").i64(1234);
    b.carray(1).cstr("m1").cstr("i1").cstr("c").cstr("/h").i32(300000).i32(10000);
    b.cbytes({0x01, 0x02}).cbytes({0x03});
    b.raw({0x01, 0x07, 0x01, 0xEE});  // member: one unknown tag 7 of one byte
    b.raw({0x01, 0x03, 0x00});        // group: one unknown tag 3, empty
  }
  return b.b;
}

TEST(OffsetsCodec, DecodesEveryGroupValueVersion) {
  for (int16_t version = 0; version <= 4; ++version) {
    SCOPED_TRACE("version " + std::to_string(version));
    auto rec = decode(group_key_g1(), group_value_bytes(version));
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    EXPECT_EQ(rec->kind, OffsetsRecord::Kind::kGroupMetadata);
    EXPECT_EQ(rec->group, "g1");
    EXPECT_EQ(rec->value_version, version);
    ASSERT_TRUE(rec->group_value.has_value());
    const GroupValue& g = *rec->group_value;
    EXPECT_EQ(g.protocol_type, "consumer");
    EXPECT_EQ(g.generation, 3);
    EXPECT_EQ(g.protocol, "range");
    EXPECT_EQ(g.leader, "m1");
    EXPECT_EQ(g.current_state_timestamp, version >= 2 ? 1234 : -1);
    ASSERT_EQ(g.members.size(), 1u);
    const GroupMemberRecord& m = g.members[0];
    EXPECT_EQ(m.member_id, "m1");
    EXPECT_EQ(m.group_instance_id, version >= 3 ? std::optional<std::string>("i1") : std::nullopt);
    EXPECT_EQ(m.client_id, "c");
    EXPECT_EQ(m.client_host, "/h");
    EXPECT_EQ(m.rebalance_timeout_ms, version >= 1 ? 300000 : -1);
    EXPECT_EQ(m.session_timeout_ms, 10000);
    EXPECT_EQ(m.subscription, (Bytes{0x01, 0x02}));
    EXPECT_EQ(m.assignment, (Bytes{0x03}));
  }
}

TEST(OffsetsCodec, DecodesFlexibleGroupValueWithNulls) {
  const Bytes value = B{}.i16(4).cstr("").i32(0).null_cstr().null_cstr().i64(-1).carray(0).no_tags().b;
  auto rec = decode(group_key_g1(), value);
  ASSERT_TRUE(rec.ok()) << rec.error().message();
  EXPECT_EQ(*rec->group_value, (GroupValue{.protocol_type = "", .generation = 0, .protocol = std::nullopt,
                                           .leader = std::nullopt, .current_state_timestamp = -1,
                                           .members = {}}));
}

// --- tombstones, unknown versions, malformed input ---------------------------

TEST(OffsetsCodec, NullValueIsTombstone) {
  auto offset = decode_tombstone(offset_key_g1_t_5());
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(offset->kind, OffsetsRecord::Kind::kOffsetCommit);
  EXPECT_EQ(offset->group, "g1");
  EXPECT_FALSE(offset->offset_value.has_value());
  EXPECT_FALSE(offset->value_version.has_value());

  auto group = decode_tombstone(group_key_g1());
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(group->kind, OffsetsRecord::Kind::kGroupMetadata);
  EXPECT_EQ(group->group, "g1");
  EXPECT_FALSE(group->group_value.has_value());
}

TEST(OffsetsCodec, EmptyValueIsTruncatedNotTombstone) {
  auto rec = decode(offset_key_g1_t_5(), Bytes{});
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.error(), make_error_code(WireErrc::kTruncated));
}

TEST(OffsetsCodec, KeyVersionsOfNewerGroupProtocolsAreOther) {
  // KIP-848 (3-8) and KIP-932 (9-15) keys, and a version nobody uses yet; the
  // value is not looked at, so garbage there does not matter.
  for (int16_t version : {3, 4, 5, 6, 7, 8, 9, 15, 16, 0x7FFF}) {
    SCOPED_TRACE("key version " + std::to_string(version));
    auto rec = decode(B{}.i16(version).str("g1").str("member").b, Bytes{0xFF});
    ASSERT_TRUE(rec.ok()) << rec.error().message();
    EXPECT_EQ(rec->kind, OffsetsRecord::Kind::kOther);
    EXPECT_EQ(rec->key_version, version);
    auto tomb = decode_tombstone(B{}.i16(version).b);
    ASSERT_TRUE(tomb.ok());
    EXPECT_EQ(tomb->kind, OffsetsRecord::Kind::kOther);
  }
}

TEST(OffsetsCodec, NegativeKeyVersionIsAnError) {
  auto rec = decode_tombstone(B{}.i16(-1).str("g1").b);
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.error(), make_error_code(WireErrc::kUnsupportedVersion));
}

TEST(OffsetsCodec, UnknownValueVersionIsAnError) {
  for (int16_t version : {-1, 5, 100}) {
    SCOPED_TRACE("value version " + std::to_string(version));
    auto offset = decode(offset_key_g1_t_5(), B{}.i16(version).i64(100).i32(7).str("m").i64(1000).b);
    ASSERT_FALSE(offset.ok());
    EXPECT_EQ(offset.error(), make_error_code(WireErrc::kUnsupportedVersion));
    auto group = decode(group_key_g1(), B{}.i16(version).b);
    ASSERT_FALSE(group.ok());
    EXPECT_EQ(group.error(), make_error_code(WireErrc::kUnsupportedVersion));
  }
}

TEST(OffsetsCodec, TrailingBytesAreAnError) {
  Bytes key = offset_key_g1_t_5();
  key.push_back(0);
  auto k = decode_tombstone(key);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error(), make_error_code(WireErrc::kTrailingBytes));

  Bytes value = group_value_bytes(3);
  value.push_back(0);
  auto v = decode(group_key_g1(), value);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error(), make_error_code(WireErrc::kTrailingBytes));
}

TEST(OffsetsCodec, NegativeLengthsAreErrors) {
  // A string length of -2 in the key, and a member count of -2 in a value.
  EXPECT_FALSE(decode_tombstone(B{}.i16(2).i16(-2).b).ok());
  EXPECT_FALSE(decode(group_key_g1(), B{}.i16(3).str("c").i32(1).null_str().null_str().i64(-1).i32(-2).b).ok());
  // A null group id where the schema has no null.
  auto null_group = decode_tombstone(B{}.i16(2).null_str().b);
  ASSERT_FALSE(null_group.ok());
  EXPECT_EQ(null_group.error(), make_error_code(WireErrc::kNullNotAllowed));
}

// Every strict prefix of the key (with the whole value) and of the value (with
// the whole key) must fail cleanly.
void expect_every_truncation_fails(const Bytes& key, const Bytes& value) {
  ASSERT_TRUE(decode(key, value).ok());
  for (size_t len = 0; len < key.size(); ++len) {
    const Bytes prefix(key.begin(), key.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_FALSE(decode(prefix, value).ok()) << "key prefix of " << len << " bytes decoded";
    EXPECT_FALSE(decode_tombstone(prefix).ok()) << "key prefix of " << len << " bytes decoded";
  }
  for (size_t len = 0; len < value.size(); ++len) {
    const Bytes prefix(value.begin(), value.begin() + static_cast<ptrdiff_t>(len));
    EXPECT_FALSE(decode(key, prefix).ok()) << "value prefix of " << len << " bytes decoded";
  }
}

TEST(OffsetsCodec, EveryTruncationOfAnOffsetCommitFails) {
  expect_every_truncation_fails(offset_key_g1_t_5(),
                                encode_offset_value({.offset = 100, .leader_epoch = 7, .metadata = "m",
                                                     .commit_timestamp = 1000, .expire_timestamp = -1}));
  expect_every_truncation_fails(B{}.i16(0).str("g1").str("t").i32(5).b,
                                B{}.i16(1).i64(100).str("m").i64(1000).i64(2000).b);
  expect_every_truncation_fails(offset_key_g1_t_5(),
                                B{}.i16(4).i64(100).i32(7).cstr("m").i64(1000)
                                    .raw({0x01, 0x05, 0x02, 0x01, 0x02})
                                    .b);
}

TEST(OffsetsCodec, EveryTruncationOfGroupMetadataFails) {
  for (int16_t version = 0; version <= 4; ++version) {
    SCOPED_TRACE("version " + std::to_string(version));
    expect_every_truncation_fails(group_key_g1(), group_value_bytes(version));
  }
}

}  // namespace
}  // namespace keel::group
