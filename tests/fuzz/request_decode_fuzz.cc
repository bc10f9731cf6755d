// libFuzzer target: every request decoder, every version.
//
// Input: [api key: int16][version: int16][body...]. The key and version are
// folded into the ranges the schemas define so that no input is wasted on an
// unknown key. A body that decodes must re-encode to the same size and decode
// to an equal message (check_request_roundtrip aborts otherwise); one that does
// not must fail cleanly — ASan/UBSan catch any read out of bounds.

#include <cstddef>
#include <cstdint>

#include "protocol/generated/api.h"
#include "protocol/generated/dispatch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  auto apis = keel::protocol::all_apis();
  const auto raw_key = static_cast<uint16_t>((data[0] << 8) | data[1]);
  const auto raw_version = static_cast<uint16_t>((data[2] << 8) | data[3]);
  const auto& api = apis[raw_key % apis.size()];
  const int span = api.max_version - api.min_version + 1;
  const auto version = static_cast<int16_t>(api.min_version + raw_version % span);
  keel::ByteView body(data + 4, size - 4);
  (void)keel::protocol::check_request_roundtrip(api.key, version, body);
  (void)keel::protocol::check_response_roundtrip(api.key, version, body);
  return 0;
}
