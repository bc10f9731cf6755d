#pragma once
// The records of the internal topic __consumer_offsets, in Kafka's exact
// format, so a log written by Keel loads in Kafka and one written by Kafka
// loads in Keel.
//
// A record key is an int16 key version followed by the key struct at that
// version (never flexible); the key version names the record type: 0 and 1
// are an offset commit, 2 is a group's metadata, 3 and up are KIP-848 and
// KIP-932 records that a classic coordinator skips. A record value is an int16
// value version followed by the value struct at that version (flexible from
// v4). A null value is a tombstone: the offset was deleted or the group
// removed. The structs themselves are generated from Kafka's schemas
// (protocol/generated/offset_commit_*.h, group_metadata_*.h); this file adds
// the version framing and the choice of versions Kafka 3.x writes.
//
// Stateless and thread-safe. Decoding never trusts the input: malformed bytes
// come back as a WireErrc, never an assert.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/java_string_hash.h"
#include "common/result.h"

namespace keel::group {

// The key versions that name the record types this coordinator uses.
inline constexpr int16_t kOffsetCommitKeyV0 = 0;
inline constexpr int16_t kOffsetCommitKeyVersion = 1;  // what Kafka 3.x (and Keel) writes
inline constexpr int16_t kGroupMetadataKeyVersion = 2;

// The value versions Keel writes, as Kafka 3.x does at IBP >= 2.3.
inline constexpr int16_t kOffsetValueVersion = 3;            // has the leader epoch
inline constexpr int16_t kOffsetValueWithExpiryVersion = 1;  // only v1 has expireTimestamp
inline constexpr int16_t kGroupValueVersion = 3;             // has group instance ids

// The longest string a record can hold: every key and the non-flexible values
// Keel writes use int16 string lengths. A flexible (compact) request can carry
// a longer group id, instance id or metadata; the coordinator must refuse
// those before it builds a record (the encoders give empty Bytes for them).
inline constexpr size_t kMaxRecordStringBytes = 32767;

// The __consumer_offsets partition that holds `group_id`, by Kafka's rule
// (GroupMetadataManager.partitionFor): Utils.abs of Java's String.hashCode of
// the id (common/java_string_hash.h has the exact rule, malformed UTF-8
// included), % num_partitions. Kafka's brokers and Keel's therefore agree on
// every group's coordinator. (Keel before 0.1.0 masked the sign bit instead,
// which puts a group with a negative hash elsewhere; docs/compatibility.md.)
//
// num_partitions > 0 (offsets.topic.num.partitions is validated at start-up).
int32_t partition_for_group(std::string_view group_id, int32_t num_partitions);

// Java's String.hashCode, kept visible here for the group's callers.
using keel::java_string_hash;

// An offset commit's key: which group committed which partition.
struct OffsetKey {
  std::string group;
  std::string topic;
  int32_t partition = 0;
  bool operator==(const OffsetKey&) const = default;
};

// A committed offset.
struct OffsetValue {
  int64_t offset = 0;
  int32_t leader_epoch = -1;      // -1: unknown (and always so in values v0-v2)
  std::string metadata;           // Kafka stores a null metadata as ""
  int64_t commit_timestamp = 0;
  int64_t expire_timestamp = -1;  // -1: none; only value v1 carries one
  bool operator==(const OffsetValue&) const = default;
};

// One member of a classic group, as a group-metadata value stores it.
struct GroupMemberRecord {
  std::string member_id;
  std::optional<std::string> group_instance_id;  // static membership (KIP-345); v3+
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = -1;  // -1 in v0, which predates it
  int32_t session_timeout_ms = 0;
  Bytes subscription;  // the member's metadata for the chosen protocol
  Bytes assignment;    // what the leader assigned it
  bool operator==(const GroupMemberRecord&) const = default;
};

// A classic group's state after a rebalance (or its emptying).
struct GroupValue {
  std::string protocol_type;            // "consumer", "connect", ... ("" if none)
  int32_t generation = 0;
  std::optional<std::string> protocol;  // null while the group is empty
  std::optional<std::string> leader;    // null while the group is empty
  int64_t current_state_timestamp = -1; // -1: unknown (values v0-v1)
  std::vector<GroupMemberRecord> members;
  bool operator==(const GroupValue&) const = default;
};

// The encoders write the versions Kafka 3.x writes, each framed by its int16
// version. A string longer than kMaxRecordStringBytes cannot be written in
// these versions: the encoder then returns empty Bytes (a real record is never
// empty), which the caller must treat as "cannot store this".

// Key version 1.
Bytes encode_offset_key(const OffsetKey& k);
// Value version 3, or version 1 when expire_timestamp != -1 (Kafka 3.x's rule:
// only v1 can carry a per-commit expiry; v1 has no leader epoch, so the epoch
// is dropped then).
Bytes encode_offset_value(const OffsetValue& v);
// Key version 2.
Bytes encode_group_key(std::string_view group);
// Value version 3.
Bytes encode_group_value(const GroupValue& v);

// One record read back from the log. A null value (tombstone) is nullopt.
struct OffsetsRecord {
  // kOther: a key version this coordinator does not use (KIP-848 / KIP-932
  // records, or anything newer): the loader skips it.
  enum class Kind { kOffsetCommit, kGroupMetadata, kOther };
  Kind kind = Kind::kOther;
  int16_t key_version = -1;                 // as read from the key
  OffsetKey offset_key;                     // kOffsetCommit
  std::string group;                        // both kinds: the group id
  std::optional<int16_t> value_version;     // nullopt for a tombstone (and for kOther)
  std::optional<OffsetValue> offset_value;  // kOffsetCommit, unless a tombstone
  std::optional<GroupValue> group_value;    // kGroupMetadata, unless a tombstone
};

// Decodes key versions 0-2 and every value version in the schemas (offset
// commit v0-v4, group metadata v0-v4, v4 being flexible with tagged fields,
// whose unknown tags are dropped), so logs written by Kafka itself load. A key
// version of 3 or more is kOther and its value is not looked at.
//
// Errors (a WireErrc; the loader logs and skips the record): kTruncated when
// the key or a value ends early (an empty value is truncated, not a
// tombstone), kUnsupportedVersion for a negative key version or a value version
// the schema does not have, kTrailingBytes when bytes follow a complete key or
// value, kBadLength for a negative length or count, kNullNotAllowed for a
// null where the schema has none.
Result<OffsetsRecord> decode_offsets_record(ByteView key, std::optional<ByteView> value);

}  // namespace keel::group
