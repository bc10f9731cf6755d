#include "group/offsets_codec.h"

#include <utility>

#include "common/assert.h"
#include "common/errors.h"
#include "protocol/generated/group_metadata_key.h"
#include "protocol/generated/group_metadata_value.h"
#include "protocol/generated/offset_commit_key.h"
#include "protocol/generated/offset_commit_value.h"

namespace keel::group {
namespace {

using protocol::GroupMetadataKey;
using protocol::GroupMetadataValue;
using protocol::OffsetCommitKey;
using protocol::OffsetCommitValue;

constexpr uint16_t kReplacement = 0xFFFD;

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Calls unit(c) for each UTF-16 code unit of the string Java's
// new String(bytes, UTF_8) builds from `s` (see partition_for_group for the
// rule on malformed input). `i` always points at the next unread byte.
template <typename F>
void for_each_utf16_unit(std::string_view s, F&& unit) {
  const size_t n = s.size();
  auto at = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  size_t i = 0;
  while (i < n) {
    const uint8_t b1 = at(i++);
    if (b1 < 0x80) {
      unit(b1);
    } else if (b1 >= 0xC2 && b1 <= 0xDF) {  // two bytes (C0, C1 would be overlong)
      if (i == n) {
        unit(kReplacement);
      } else if (!is_continuation(at(i))) {
        unit(kReplacement);  // the next byte starts afresh
      } else {
        unit(static_cast<uint16_t>(((b1 & 0x1F) << 6) | (at(i++) & 0x3F)));
      }
    } else if ((b1 & 0xF0) == 0xE0) {  // three bytes
      // E0 80..9F is overlong: the lead byte alone is malformed.
      auto bad_second = [&](uint8_t b2) {
        return (b1 == 0xE0 && (b2 & 0xE0) == 0x80) || !is_continuation(b2);
      };
      if (i + 1 < n) {
        const uint8_t b2 = at(i), b3 = at(i + 1);
        if (bad_second(b2)) {
          unit(kReplacement);
        } else if (!is_continuation(b3)) {
          unit(kReplacement);  // the lead and b2; b3 starts afresh
          i += 1;
        } else {
          const auto c = static_cast<uint16_t>(((b1 & 0x0F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F));
          i += 2;
          // An encoded surrogate is malformed in UTF-8: one U+FFFD for all three bytes.
          unit(c >= 0xD800 && c <= 0xDFFF ? kReplacement : c);
        }
      } else if (i < n && bad_second(at(i))) {
        unit(kReplacement);  // the lead alone; the last byte starts afresh
      } else {
        unit(kReplacement);  // an incomplete sequence ends the input
        i = n;
      }
    } else if ((b1 & 0xF8) == 0xF0) {  // four bytes (F5..F7 are beyond U+10FFFF)
      auto bad_second = [&](uint8_t b2) {
        return b1 > 0xF4 || (b1 == 0xF0 && (b2 < 0x90 || b2 > 0xBF)) ||
               (b1 == 0xF4 && (b2 & 0xF0) != 0x80) || !is_continuation(b2);
      };
      if (i + 2 < n) {
        const uint8_t b2 = at(i), b3 = at(i + 1), b4 = at(i + 2);
        const uint32_t cp = (static_cast<uint32_t>(b1 & 0x07) << 18) |
                            (static_cast<uint32_t>(b2 & 0x3F) << 12) |
                            (static_cast<uint32_t>(b3 & 0x3F) << 6) | (b4 & 0x3F);
        if (bad_second(b2)) {
          unit(kReplacement);
        } else if (!is_continuation(b3)) {
          unit(kReplacement);
          i += 1;
        } else if (!is_continuation(b4) || cp < 0x10000 || cp > 0x10FFFF) {
          unit(kReplacement);
          i += 2;
        } else {
          i += 3;
          const uint32_t v = cp - 0x10000;
          unit(static_cast<uint16_t>(0xD800 + (v >> 10)));
          unit(static_cast<uint16_t>(0xDC00 + (v & 0x3FF)));
        }
      } else if (b1 > 0xF4 || (i < n && bad_second(at(i)))) {
        unit(kReplacement);
      } else if (i + 1 < n && !is_continuation(at(i + 1))) {
        unit(kReplacement);  // the lead and b2; b3 starts afresh
        i += 1;
      } else {
        unit(kReplacement);  // an incomplete sequence ends the input
        i = n;
      }
    } else {
      unit(kReplacement);  // a stray continuation byte, C0, C1 or F8..FF
    }
  }
}

// `msg` framed by its int16 version, or empty Bytes when it cannot be written
// (a string too long for the version's length prefix).
template <typename T>
Bytes framed(const T& msg, int16_t version) {
  ByteWriter w(2 + msg.encoded_size(version));
  w.write_i16(version);
  msg.encode(w, version);
  if (!w.ok()) return {};
  return w.take();
}

// Decodes all of `r` as T at `version`; bytes left over are an error.
template <typename T>
Result<T> decode_all(ByteReader& r, int16_t version) {
  T msg;
  if (auto res = msg.decode(r, version); !res) return res.error();
  if (!r.at_end()) return WireErrc::kTrailingBytes;
  return msg;
}

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

// Reads the int16 version that frames a value and checks it against T's range.
template <typename T>
Result<int16_t> read_value_version(ByteReader& r) {
  const int16_t version = r.read_i16();
  if (!r.ok()) return r.error();
  if (version < T::kLowestVersion || version > T::kHighestVersion) return WireErrc::kUnsupportedVersion;
  return version;
}

}  // namespace

int32_t java_string_hash(std::string_view utf8) {
  uint32_t hash = 0;  // unsigned: wraps exactly as Java's int arithmetic does
  for_each_utf16_unit(utf8, [&](uint16_t c) { hash = 31 * hash + c; });
  return static_cast<int32_t>(hash);
}

int32_t partition_for_group(std::string_view group_id, int32_t num_partitions) {
  KEEL_ASSERT(num_partitions > 0, "offsets topic needs at least one partition");
  // Kafka's Utils.abs: masking, so Integer.MIN_VALUE gives 0.
  return (java_string_hash(group_id) & 0x7FFFFFFF) % num_partitions;
}

Bytes encode_offset_key(const OffsetKey& k) {
  OffsetCommitKey rec;
  rec.group = k.group;
  rec.topic = k.topic;
  rec.partition = k.partition;
  return framed(rec, kOffsetCommitKeyVersion);
}

Bytes encode_offset_value(const OffsetValue& v) {
  const int16_t version = v.expire_timestamp != -1 ? kOffsetValueWithExpiryVersion : kOffsetValueVersion;
  OffsetCommitValue rec;
  rec.offset = v.offset;
  rec.leader_epoch = v.leader_epoch;
  rec.metadata = v.metadata;
  rec.commit_timestamp = v.commit_timestamp;
  rec.expire_timestamp = v.expire_timestamp;
  return framed(rec, version);
}

Bytes encode_group_key(std::string_view group) {
  GroupMetadataKey rec;
  rec.group = std::string(group);
  return framed(rec, kGroupMetadataKeyVersion);
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
  return framed(rec, kGroupValueVersion);
}

Result<OffsetsRecord> decode_offsets_record(ByteView key, std::optional<ByteView> value) {
  OffsetsRecord out;
  ByteReader kr(key);
  out.key_version = kr.read_i16();
  if (!kr.ok()) return kr.error();
  if (out.key_version < 0) return WireErrc::kUnsupportedVersion;

  if (out.key_version == kOffsetCommitKeyV0 || out.key_version == kOffsetCommitKeyVersion) {
    auto k = decode_all<OffsetCommitKey>(kr, out.key_version);
    if (!k) return k.error();
    out.kind = OffsetsRecord::Kind::kOffsetCommit;
    out.offset_key = OffsetKey{.group = std::move(k->group), .topic = std::move(k->topic),
                               .partition = k->partition};
    out.group = out.offset_key.group;
    if (!value) return out;
    ByteReader vr(*value);
    auto version = read_value_version<OffsetCommitValue>(vr);
    if (!version) return version.error();
    auto v = decode_all<OffsetCommitValue>(vr, *version);
    if (!v) return v.error();
    out.value_version = *version;
    out.offset_value = from_record(std::move(*v));
    return out;
  }

  if (out.key_version == kGroupMetadataKeyVersion) {
    auto k = decode_all<GroupMetadataKey>(kr, out.key_version);
    if (!k) return k.error();
    out.kind = OffsetsRecord::Kind::kGroupMetadata;
    out.group = std::move(k->group);
    if (!value) return out;
    ByteReader vr(*value);
    auto version = read_value_version<GroupMetadataValue>(vr);
    if (!version) return version.error();
    auto v = decode_all<GroupMetadataValue>(vr, *version);
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
