#include "common/java_string_hash.h"

#include "common/assert.h"

#include <cstdint>

namespace keel {
namespace {

constexpr uint16_t kReplacement = 0xFFFD;

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Calls unit(c) for each UTF-16 code unit of the string Java's
// new String(bytes, UTF_8) builds from `s` (see java_string_hash in the header
// for the rule on malformed input). `i` always points at the next unread byte.
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

}  // namespace

int32_t java_string_hash(std::string_view utf8) {
  uint32_t hash = 0;  // unsigned: wraps exactly as Java's int arithmetic does
  for_each_utf16_unit(utf8, [&](uint16_t c) { hash = 31 * hash + c; });
  return static_cast<int32_t>(hash);
}

int32_t kafka_partition_for_key(std::string_view key, int32_t num_partitions) {
  KEEL_ASSERT(num_partitions > 0, "a partition count must be positive");
  const int32_t hash = java_string_hash(key);
  const int32_t abs = hash == INT32_MIN ? 0 : (hash < 0 ? -hash : hash);
  return abs % num_partitions;
}

}  // namespace keel
