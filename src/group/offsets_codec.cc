#include "group/offsets_codec.h"

#include <utility>

#include "common/assert.h"
#include "common/errors.h"
#include "common/java_string_hash.h"
#include "protocol/generated/group_metadata_key.h"
#include "protocol/generated/group_metadata_value.h"
#include "protocol/generated/offset_commit_key.h"
#include "protocol/generated/offset_commit_value.h"
#include "protocol/version_prefixed.h"

namespace keel::group {
namespace {

using protocol::GroupMetadataKey;
using protocol::GroupMetadataValue;
using protocol::OffsetCommitKey;
using protocol::OffsetCommitValue;

OffsetValue from_record(OffsetCommitValue&& v) {
  return OffsetValue{.offset = v.offset,
                     .leader_epoch = v.leader_epoch,
                     .metadata = std::move(v.metadata),
                     .commit_timestamp = v.commit_timestamp,
                     .expire_timestamp = v.expire_timestamp};
}

GroupValue from_record(GroupMetadataValue&& v) {
  GroupValue out{.protocol_type = std::move(v.protocol_type),
                 .generation = v.generation,
                 .protocol = std::move(v.protocol),
                 .leader = std::move(v.leader),
                 .current_state_timestamp = v.current_state_timestamp,
                 .members = {}};
  out.members.reserve(v.members.size());
  for (auto& m : v.members) {
    out.members.push_back(GroupMemberRecord{.member_id = std::move(m.member_id),
                                            .group_instance_id = std::move(m.group_instance_id),
                                            .client_id = std::move(m.client_id),
                                            .client_host = std::move(m.client_host),
                                            .rebalance_timeout_ms = m.rebalance_timeout,
                                            .session_timeout_ms = m.session_timeout,
                                            .subscription = std::move(m.subscription),
                                            .assignment = std::move(m.assignment)});
  }
  return out;
}

}  // namespace

int32_t partition_for_group(std::string_view group_id, int32_t num_partitions) {
  KEEL_ASSERT(num_partitions > 0, "offsets topic needs at least one partition");
  return kafka_partition_for_key(group_id, num_partitions);
}

Bytes encode_offset_key(const OffsetKey& k) {
  OffsetCommitKey rec;
  rec.group = k.group;
  rec.topic = k.topic;
  rec.partition = k.partition;
  return protocol::encode_version_prefixed(rec, kOffsetCommitKeyVersion);
}

Bytes encode_offset_value(const OffsetValue& v) {
  const int16_t version = v.expire_timestamp != -1 ? kOffsetValueWithExpiryVersion : kOffsetValueVersion;
  OffsetCommitValue rec;
  rec.offset = v.offset;
  rec.leader_epoch = v.leader_epoch;
  rec.metadata = v.metadata;
  rec.commit_timestamp = v.commit_timestamp;
  rec.expire_timestamp = v.expire_timestamp;
  return protocol::encode_version_prefixed(rec, version);
}

Bytes encode_group_key(std::string_view group) {
  GroupMetadataKey rec;
  rec.group = std::string(group);
  return protocol::encode_version_prefixed(rec, kGroupMetadataKeyVersion);
}

Bytes encode_group_value(const GroupValue& v) {
  GroupMetadataValue rec;
  rec.protocol_type = v.protocol_type;
  rec.generation = v.generation;
  rec.protocol = v.protocol;
  rec.leader = v.leader;
  rec.current_state_timestamp = v.current_state_timestamp;
  rec.members.reserve(v.members.size());
  for (const auto& m : v.members) {
    auto& out = rec.members.emplace_back();
    out.member_id = m.member_id;
    out.group_instance_id = m.group_instance_id;
    out.client_id = m.client_id;
    out.client_host = m.client_host;
    out.rebalance_timeout = m.rebalance_timeout_ms;
    out.session_timeout = m.session_timeout_ms;
    out.subscription = m.subscription;
    out.assignment = m.assignment;
  }
  return protocol::encode_version_prefixed(rec, kGroupValueVersion);
}

Result<OffsetsRecord> decode_offsets_record(ByteView key, std::optional<ByteView> value) {
  OffsetsRecord out;
  ByteReader kr(key);
  auto key_version = protocol::read_key_version(kr);
  if (!key_version) return key_version.error();
  out.key_version = *key_version;

  if (out.key_version == kOffsetCommitKeyV0 || out.key_version == kOffsetCommitKeyVersion) {
    auto k = protocol::decode_to_end<OffsetCommitKey>(kr, out.key_version);
    if (!k) return k.error();
    out.kind = OffsetsRecord::Kind::kOffsetCommit;
    out.offset_key = OffsetKey{.group = std::move(k->group), .topic = std::move(k->topic),
                               .partition = k->partition};
    out.group = out.offset_key.group;
    if (!value) return out;
    ByteReader vr(*value);
    auto version = protocol::read_version_prefix<OffsetCommitValue>(vr);
    if (!version) return version.error();
    auto v = protocol::decode_to_end<OffsetCommitValue>(vr, *version);
    if (!v) return v.error();
    out.value_version = *version;
    out.offset_value = from_record(std::move(*v));
    return out;
  }

  if (out.key_version == kGroupMetadataKeyVersion) {
    auto k = protocol::decode_to_end<GroupMetadataKey>(kr, out.key_version);
    if (!k) return k.error();
    out.kind = OffsetsRecord::Kind::kGroupMetadata;
    out.group = std::move(k->group);
    if (!value) return out;
    ByteReader vr(*value);
    auto version = protocol::read_version_prefix<GroupMetadataValue>(vr);
    if (!version) return version.error();
    auto v = protocol::decode_to_end<GroupMetadataValue>(vr, *version);
    if (!v) return v.error();
    out.value_version = *version;
    out.group_value = from_record(std::move(*v));
    return out;
  }

  // A record type of the new group protocols (or one not defined yet).
  out.kind = OffsetsRecord::Kind::kOther;
  return out;
}

}  // namespace keel::group
