#pragma once
// CRC-32C (Castagnoli), the checksum of Kafka record batches v2 and of the
// producer-state snapshot files.
//
// crc32c() uses the SSE4.2 `crc32` instruction when the CPU has it (checked
// once at start-up) and a slicing-by-8 table otherwise. Both give the same
// value; the software one is exposed so tests can prove it. On x86-64 with
// PCLMULQDQ too, inputs of 192 bytes and more run as three interleaved
// `crc32q` streams joined by carry-less multiplication (~3x one stream).
//
// Chaining: crc32c(b, crc32c(a)) == crc32c(a ++ b). Thread-safe, no allocation.

#include <cstdint>

#include "common/bytes.h"

namespace keel {

uint32_t crc32c(ByteView data, uint32_t crc = 0);

// The table-driven implementation, always available.
uint32_t crc32c_software(ByteView data, uint32_t crc = 0);

// The SSE4.2 implementation (three-stream with PCLMULQDQ, one stream without).
// Only call when crc32c_hardware_available().
uint32_t crc32c_hardware(ByteView data, uint32_t crc = 0);
bool crc32c_hardware_available();

}  // namespace keel
