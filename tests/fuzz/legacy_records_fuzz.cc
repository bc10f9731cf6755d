// libFuzzer target: the legacy (magic 0/1) message set reader and up-conversion.
//
// Input: [flags byte][message set]. Flag bit 0 turns CRC checking on (off by
// default so the fuzzer reaches the field parsing and the compressed wrappers
// behind the CRC). Every message's borrowed bytes are touched (ASan catches a
// bad read). A set that reads and whose offsets increase is up-converted to a
// v2 batch, which must parse, pass its CRC and decode to as many records.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/legacy_records.h"

using namespace keel;
using namespace keel::protocol;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  bool verify = data[0] & 1;
  ByteView in(data + 1, size - 1);
  std::vector<Bytes> scratch;
  auto set = read_legacy_message_set(in, scratch, 1u << 20, verify);
  if (!set) return 0;
  check(set->bytes_consumed <= in.size());
  volatile uint64_t sink = 0;
  for (const auto& m : set->messages) {
    if (m.key)
      for (uint8_t b : *m.key) sink = sink + b;
    if (m.value)
      for (uint8_t b : *m.value) sink = sink + b;
  }
  if (set->messages.empty()) return 0;
  for (size_t i = 1; i < set->messages.size(); ++i)
    if (set->messages[i].offset <= set->messages[i - 1].offset) return 0;
  auto batch = legacy_to_batch(set->messages);
  if (!batch) return 0;  // offsets spanning more than int32
  auto v = RecordBatchView::parse(ByteView(*batch));
  check(v.ok() && v->verify_crc());
  Bytes rs;
  auto recs = v->decode_records(rs, 64u << 20);
  check(recs.ok() && recs->size() == set->messages.size());
  return 0;
}
