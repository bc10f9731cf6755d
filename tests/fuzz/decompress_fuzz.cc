// libFuzzer target: the four codecs' decompressors (and compressors).
//
// Input: [codec selector byte][payload]. The payload is decompressed with a
// 1 MiB cap: it must either fail cleanly or return at most 1 MiB. Whatever
// comes out, and the payload itself, must survive compress -> decompress
// unchanged (abort otherwise).

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/compression.h"

using namespace keel;
using namespace keel::protocol;

namespace {
constexpr size_t kCap = 1u << 20;

void check(bool ok) {
  if (!ok) std::abort();
}

void round_trip(Compression c, ByteView data) {
  auto z = compress(c, data);
  check(z.ok());
  auto back = decompress(c, ByteView(*z), data.size());
  check(back.ok() && std::equal(back->begin(), back->end(), data.begin(), data.end()));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto codec = static_cast<Compression>(data[0] % 5);
  ByteView payload(data + 1, size - 1);
  auto out = decompress(codec, payload, kCap);
  if (out) {
    check(out->size() <= kCap);
    round_trip(codec, ByteView(*out));
  } else {
    check(out.error().category() == records_category());
  }
  round_trip(codec, payload);
  return 0;
}
