#include "storage/txn_marker.h"

namespace keel::storage {

namespace {
constexpr int16_t kControlRecordVersion = 0;
}  // namespace

Result<Bytes> build_marker_batch(const TxnMarker& marker, int64_t timestamp, int32_t partition_leader_epoch) {
  ByteWriter key(4);
  key.write_i16(kControlRecordVersion);
  key.write_i16(static_cast<int16_t>(marker.commit ? ControlType::kCommit : ControlType::kAbort));
  ByteWriter value(6);
  value.write_i16(kControlRecordVersion);
  value.write_i32(marker.coordinator_epoch);
  const Bytes k = key.take();
  const Bytes v = value.take();
  protocol::RecordBatchBuilder builder;
  builder.producer(marker.producer_id, marker.producer_epoch, -1)
      .transactional(true)
      .control(true)
      .partition_leader_epoch(partition_leader_epoch)
      .add(timestamp, ByteView(k), ByteView(v));
  return builder.build();
}

namespace {
// The batch's single control record (markers are never compressed, but a
// batch read from disk is decoded generally).
std::optional<protocol::Record> first_record(const protocol::RecordBatchView& batch, Bytes& scratch) {
  if (!batch.is_control() || batch.records_count() < 1) return std::nullopt;
  auto records = batch.decode_records(scratch);
  if (!records || records->empty()) return std::nullopt;
  return (*records)[0];
}
}  // namespace

std::optional<int16_t> control_type(const protocol::RecordBatchView& batch) {
  Bytes scratch;
  auto rec = first_record(batch, scratch);
  if (!rec || !rec->key || rec->key->size() < 4) return std::nullopt;
  ByteReader r{*rec->key};
  // Kafka reads newer key versions too (fields are only ever appended).
  if (r.read_i16() < kControlRecordVersion) return std::nullopt;
  return r.read_i16();
}

std::optional<TxnMarker> parse_marker(const protocol::RecordBatchView& batch) {
  Bytes scratch;
  auto rec = first_record(batch, scratch);
  if (!rec || !rec->key || !rec->value || rec->key->size() < 4 || rec->value->size() < 6) return std::nullopt;
  ByteReader k{*rec->key};
  if (k.read_i16() < kControlRecordVersion) return std::nullopt;
  const int16_t type = k.read_i16();
  if (type != static_cast<int16_t>(ControlType::kAbort) && type != static_cast<int16_t>(ControlType::kCommit))
    return std::nullopt;
  ByteReader v{*rec->value};
  (void)v.read_i16();
  TxnMarker m;
  m.producer_id = batch.producer_id();
  m.producer_epoch = batch.producer_epoch();
  m.commit = type == static_cast<int16_t>(ControlType::kCommit);
  m.coordinator_epoch = v.read_i32();
  if (!k.ok() || !v.ok()) return std::nullopt;
  return m;
}

}  // namespace keel::storage
