// libFuzzer target: the record batch v2 reader.
//
// Input: any bytes, read as a concatenation of batches. Every batch the
// iterator yields has all its header fields read, its CRC computed and its
// records decoded (decompressed output capped at 1 MiB). Properties checked
// (abort on violation), beyond ASan/UBSan catching any bad read:
//   - a batch that decodes, rebuilt with RecordBatchBuilder from its decoded
//     records, decodes to the same records;
//   - set_log_append_time on a copy always leaves a batch whose CRC verifies;
//   - the iterator only moves forward and never past the input.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/record_batch.h"

using namespace keel;
using namespace keel::protocol;

namespace {

constexpr size_t kCap = 1u << 20;

void check(bool ok) {
  if (!ok) std::abort();
}

// Touches every byte a record borrows so ASan sees a read outside the input.
uint64_t touch(const Record& r) {
  uint64_t sum = static_cast<uint64_t>(r.timestamp) + static_cast<uint64_t>(r.offset);
  auto add = [&](std::optional<ByteView> v) {
    if (v)
      for (uint8_t b : *v) sum += b;
  };
  add(r.key);
  add(r.value);
  for (const auto& h : r.headers) {
    for (char c : h.key) sum += static_cast<uint8_t>(c);
    add(h.value);
  }
  return sum;
}

bool same(const Record& a, const Record& b) {
  auto eq = [](std::optional<ByteView> x, std::optional<ByteView> y) {
    if (x.has_value() != y.has_value()) return false;
    return !x || std::equal(x->begin(), x->end(), y->begin(), y->end());
  };
  if (a.timestamp != b.timestamp || a.offset != b.offset || !eq(a.key, b.key) || !eq(a.value, b.value) ||
      a.headers.size() != b.headers.size())
    return false;
  for (size_t i = 0; i < a.headers.size(); ++i)
    if (a.headers[i].key != b.headers[i].key || !eq(a.headers[i].value, b.headers[i].value)) return false;
  return true;
}

void exercise(const RecordBatchView& v) {
  volatile uint64_t sink = 0;
  // Unsigned sums: the fields are arbitrary, and signed overflow here would be
  // the harness's own undefined behaviour.
  for (int64_t x : {v.base_offset(), int64_t{v.batch_length()}, int64_t{v.partition_leader_epoch()},
                    int64_t{v.magic()}, int64_t{v.crc()}, int64_t{v.attributes()}, int64_t{v.last_offset_delta()},
                    v.last_offset(), v.base_timestamp(), v.max_timestamp(), v.producer_id(),
                    int64_t{v.producer_epoch()}, int64_t{v.base_sequence()}, int64_t{v.records_count()}})
    sink = sink + static_cast<uint64_t>(x);
  sink = sink + v.is_transactional() + v.is_control() + v.has_delete_horizon() +
         static_cast<uint64_t>(v.timestamp_type()) + v.verify_crc();

  Bytes scratch;
  auto recs = v.decode_records(scratch, kCap);
  if (!recs) return;
  for (const auto& r : *recs) sink = sink + touch(r);

  // Rebuild from the decoded records; offsets must be increasing deltas for the builder.
  RecordBatchBuilder b(Compression::kNone, v.base_offset());
  b.timestamp_type(v.timestamp_type()).log_append_time(v.max_timestamp());
  int64_t prev = -1;
  for (const auto& r : *recs) {
    int32_t d = r.offset_delta();
    if (d <= prev) return;  // not something a producer writes; skip the property
    prev = d;
    std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
    for (const auto& h : r.headers)
      headers.emplace_back(std::string(h.key), h.value ? std::optional<Bytes>(Bytes(h.value->begin(), h.value->end()))
                                                       : std::nullopt);
    b.add_with_offset_delta(d, r.timestamp, r.key, r.value, std::move(headers));
  }
  auto rebuilt = b.build();
  check(rebuilt.ok());
  auto v2 = RecordBatchView::parse(ByteView(*rebuilt));
  check(v2.ok() && v2->verify_crc());
  Bytes scratch2;
  auto recs2 = v2->decode_records(scratch2, kCap);
  check(recs2.ok() && recs2->size() == recs->size());
  for (size_t i = 0; i < recs->size(); ++i) {
    // With LogAppendTime both report the batch's maxTimestamp; otherwise the record's own.
    check(same((*recs)[i], (*recs2)[i]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in(data, size);
  BatchIterator it(in);
  size_t last = 0;
  for (;;) {
    auto n = it.next();
    check(it.position() >= last && it.position() <= size);
    last = it.position();
    if (!n || !n->has_value()) break;
    exercise(**n);
  }
  // The in-place rewrite on a copy of the first batch, when there is one.
  auto first = RecordBatchView::parse(in);
  if (first) {
    Bytes copy(first->bytes().begin(), first->bytes().end());
    set_base_offset(std::span<uint8_t>(copy), 42);
    set_log_append_time(std::span<uint8_t>(copy), 1234);
    auto v = RecordBatchView::parse(ByteView(copy));
    check(v.ok() && v->verify_crc() && v->base_offset() == 42 && v->max_timestamp() == 1234);
  }
  return 0;
}
