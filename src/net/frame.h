#pragma once
// Kafka framing: every request and response is a 4-byte big-endian size
// followed by that many bytes.

#include <cstdint>

#include "common/bytes.h"
#include "common/result.h"
#include "net/errors.h"

namespace keel::net {

// The smallest request: api key (2) + api version (2) + correlation id (4).
inline constexpr int32_t kMinRequestSize = 8;

// Checks a size prefix before anything is allocated for the frame: negative
// sizes, sizes below a request header and sizes above `max_bytes`
// (socket.request.max.bytes) are refused.
Result<uint32_t> check_frame_size(const uint8_t (&prefix)[4], int32_t max_bytes);

// `frame` starts with 4 bytes reserved for the size prefix: fills them with
// the size of what follows.
void patch_frame_size(Bytes& frame);

}  // namespace keel::net
