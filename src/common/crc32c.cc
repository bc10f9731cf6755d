#include "common/crc32c.h"

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define KEEL_CRC32C_X86 1
#endif
#if defined(__x86_64__)
#include <wmmintrin.h>
#define KEEL_CRC32C_X86_64 1
#endif

namespace keel {
namespace {

// Reflected Castagnoli polynomial.
constexpr uint32_t kPoly = 0x82F63B78u;

// Slicing-by-8: table[k][b] is the CRC of byte b followed by k zero bytes, so
// eight input bytes are folded per step with eight lookups.
struct Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  constexpr Tables() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b;
      for (int i = 0; i < 8; ++i) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; ++b) {
      for (size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
    }
  }
};
constexpr Tables kTables{};

uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

#ifdef KEEL_CRC32C_X86
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t* p, size_t n, uint32_t crc) {
  uint64_t c = crc;
#if defined(__x86_64__)
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);  // x86 is little-endian, as the instruction expects
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
#endif
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return c32;
}

bool detect_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

#ifdef KEEL_CRC32C_X86_64
// Three interleaved streams for large buffers.
//
// `crc32q` has a 3-cycle latency but issues once per cycle, so a single stream
// of them (crc32c_sse42) uses a third of the unit. A block of 3*L bytes is cut
// into lanes A, B, C of L bytes; each lane is a separate dependency chain, lane A
// starting from the running CRC and B, C from zero. The register-form CRC is
// linear, so
//
//   crc(c, A ++ B ++ C) = shift(crc(c, A), 2L) ^ shift(crc(0, B), L) ^ crc(0, C)
//
// where shift(v, n) = crc(v, n zero bytes) = v * x^(8n) mod P.
//
// shift() by a fixed n is one carry-less multiply and one `crc32q`. In the
// reflected bit order (bit i of a 32-bit value is the coefficient of x^(31-i)),
// the 64-bit clmul of v and k, read as a reflected 64-bit word, is v*k*x; and
// crc32q(0, w) computes w * x^32 mod P. So crc32q(0, clmul(v, k)) = v*k*x^33,
// and k = x^(8n-33) mod P gives the shift. Both shifts of a block share the
// final crc32q, since it is linear too.

// a * b mod P, reflected.
constexpr uint32_t gf2_mulmod(uint32_t a, uint32_t b) {
  uint32_t r = 0;
  for (int i = 0; i < 32; ++i) {  // Horner over a's coefficients, x^31 first
    r = (r & 1) ? (r >> 1) ^ kPoly : r >> 1;
    if ((a >> i) & 1) r ^= b;
  }
  return r;
}

// x^e mod P, reflected (x^0 is 0x80000000).
constexpr uint32_t xpow_mod(uint64_t e) {
  uint32_t result = 0x80000000u, base = 0x40000000u;
  for (; e != 0; e >>= 1) {
    if (e & 1) result = gf2_mulmod(result, base);
    base = gf2_mulmod(base, base);
  }
  return result;
}

// The multiplier that shifts a CRC register over n zero bytes (see above).
constexpr uint32_t shift_constant(size_t n) { return xpow_mod(8 * static_cast<uint64_t>(n) - 33); }

// Checks of the arithmetic the constants rest on: 1 * b = b, and x^32 mod P is P's low terms.
static_assert(gf2_mulmod(0x80000000u, 0x12345678u) == 0x12345678u);
static_assert(xpow_mod(32) == kPoly);

__attribute__((target("sse4.2"))) inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// One block of 3*L bytes at p, register-form CRC in and out.
template <size_t L>
__attribute__((target("sse4.2,pclmul"))) uint32_t crc32c_block3(const uint8_t* p, uint32_t crc) {
  static_assert(L % 8 == 0 && L >= 8);
  static constexpr uint32_t kShiftL = shift_constant(L);
  static constexpr uint32_t kShift2L = shift_constant(2 * L);
  uint64_t a = crc, b = 0, c = 0;
  for (size_t i = 0; i < L; i += 8) {
    a = _mm_crc32_u64(a, load_le64(p + i));
    b = _mm_crc32_u64(b, load_le64(p + L + i));
    c = _mm_crc32_u64(c, load_le64(p + 2 * L + i));
  }
  __m128i ma = _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(a)),
                                    _mm_cvtsi32_si128(static_cast<int>(kShift2L)), 0x00);
  __m128i mb = _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(b)),
                                    _mm_cvtsi32_si128(static_cast<int>(kShiftL)), 0x00);
  uint64_t folded = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_xor_si128(ma, mb)));
  return static_cast<uint32_t>(_mm_crc32_u64(0, folded)) ^ static_cast<uint32_t>(c);
}

// Lane lengths, largest first: joining a block has a fixed cost (two clmuls and a
// crc32q on the critical path), so big buffers use long lanes and what is left
// falls to shorter ones. Inputs under 3*kLaneSmall bytes keep the single stream.
// Other sets measured the same within noise (docs/performance.md, "CRC-32C").
constexpr size_t kLaneLarge = 4096;
constexpr size_t kLaneMedium = 512;
constexpr size_t kLaneSmall = 64;

__attribute__((target("sse4.2,pclmul"))) uint32_t crc32c_sse42_3way(const uint8_t* p, size_t n,
                                                                      uint32_t crc) {
  if (n < 3 * kLaneSmall) return crc32c_sse42(p, n, crc);
  // Align the lanes' loads to 8 bytes: a load across a cache line costs more.
  size_t head = (8 - (reinterpret_cast<uintptr_t>(p) & 7)) & 7;
  for (; head > 0; --head, --n) crc = _mm_crc32_u8(crc, *p++);
  for (; n >= 3 * kLaneLarge; p += 3 * kLaneLarge, n -= 3 * kLaneLarge)
    crc = crc32c_block3<kLaneLarge>(p, crc);
  for (; n >= 3 * kLaneMedium; p += 3 * kLaneMedium, n -= 3 * kLaneMedium)
    crc = crc32c_block3<kLaneMedium>(p, crc);
  for (; n >= 3 * kLaneSmall; p += 3 * kLaneSmall, n -= 3 * kLaneSmall)
    crc = crc32c_block3<kLaneSmall>(p, crc);
  return crc32c_sse42(p, n, crc);
}

bool detect_pclmul() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");
}
#endif

// Decided once; a function-local static is thread-safe to initialise.
bool hardware_available() {
#ifdef KEEL_CRC32C_X86
  static const bool available = detect_sse42();
  return available;
#else
  return false;
#endif
}

// SSE4.2 and PCLMULQDQ (every x86-64 since Westmere), for the interleaved path.
bool clmul_available() {
#ifdef KEEL_CRC32C_X86_64
  static const bool available = detect_pclmul();
  return available;
#else
  return false;
#endif
}

}  // namespace

uint32_t crc32c_software(ByteView data, uint32_t crc) {
  const auto& t = kTables.t;
  uint32_t c = ~crc;
  const uint8_t* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    uint32_t lo = load_le32(p) ^ c;
    uint32_t hi = load_le32(p + 4);
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
        t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
    --n;
  }
  return ~c;
}

bool crc32c_hardware_available() { return hardware_available(); }

uint32_t crc32c_hardware(ByteView data, uint32_t crc) {
#ifdef KEEL_CRC32C_X86_64
  if (clmul_available()) return ~crc32c_sse42_3way(data.data(), data.size(), ~crc);
#endif
#ifdef KEEL_CRC32C_X86
  return ~crc32c_sse42(data.data(), data.size(), ~crc);
#else
  return crc32c_software(data, crc);
#endif
}

uint32_t crc32c(ByteView data, uint32_t crc) {
  if (hardware_available()) return crc32c_hardware(data, crc);
  return crc32c_software(data, crc);
}

}  // namespace keel
