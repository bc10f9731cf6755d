// __consumer_offsets records are read back from disk at every coordinator
// load, and a log may have been written by Kafka, by an older Keel, or be
// damaged: decoding must give a record or an error, never crash. Whatever
// decodes must also encode (in the versions Keel writes) and decode again to
// the same record — so a group survives a load/store round trip unchanged.
//
// Input: [int16 key length][key][1 byte: value present][value...].

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"
#include "group/offsets_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keel;
  using group::OffsetsRecord;
  if (size < 3) return 0;
  const size_t key_len = std::min<size_t>(size - 2, (size_t{data[0]} << 8) | data[1]);
  const ByteView key(data + 2, key_len);
  std::optional<ByteView> value;
  const size_t rest = 2 + key_len;
  if (rest < size && data[rest] != 0) value = ByteView(data + rest + 1, size - rest - 1);

  auto rec = group::decode_offsets_record(key, value);
  if (!rec) return 0;
  if (rec->kind == OffsetsRecord::Kind::kOffsetCommit) {
    Bytes k = group::encode_offset_key(rec->offset_key);
    if (k.empty()) return 0;  // a string the versions Keel writes cannot hold
    std::optional<Bytes> v;
    if (rec->offset_value) {
      v = group::encode_offset_value(*rec->offset_value);
      if (v->empty()) return 0;
    }
    auto again = group::decode_offsets_record(ByteView(k), v ? std::optional<ByteView>(ByteView(*v)) : std::nullopt);
    if (!again || again->offset_key != rec->offset_key) __builtin_trap();
    // v1 alone carries an expiry and lacks the leader epoch: re-encoding an
    // expiring commit drops the epoch, as Kafka's writer does.
    auto want = rec->offset_value;
    if (want && want->expire_timestamp != -1) want->leader_epoch = -1;
    if (again->offset_value != want) __builtin_trap();
  } else if (rec->kind == OffsetsRecord::Kind::kGroupMetadata) {
    Bytes k = group::encode_group_key(rec->group);
    if (k.empty()) return 0;
    std::optional<Bytes> v;
    if (rec->group_value) {
      v = group::encode_group_value(*rec->group_value);
      if (v->empty()) return 0;
    }
    auto again = group::decode_offsets_record(ByteView(k), v ? std::optional<ByteView>(ByteView(*v)) : std::nullopt);
    if (!again || again->group != rec->group || again->group_value != rec->group_value) __builtin_trap();
  }
  return 0;
}
