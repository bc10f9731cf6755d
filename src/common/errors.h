#pragma once
// Errors of the byte-level wire codec (ByteReader / ByteWriter), shared by the
// generated protocol code and the record batch code.

#include <system_error>

namespace keel {

enum class WireErrc {
  kTruncated = 1,        // the buffer ended before the value did
  kMalformedVarint,      // a varint ran past its maximum length
  kBadLength,            // a length or count field is negative (and not -1 for null) or too large
  kNullNotAllowed,       // null where the version does not allow it
  kFieldNotInVersion,    // a non-ignorable field holds a value the version cannot carry
  kUnsupportedVersion,   // the message has no such version
  kTrailingBytes,        // bytes left after a complete message
};

const std::error_category& wire_category();
inline std::error_code make_error_code(WireErrc e) { return {static_cast<int>(e), wire_category()}; }

}  // namespace keel

template <>
struct std::is_error_code_enum<keel::WireErrc> : std::true_type {};
