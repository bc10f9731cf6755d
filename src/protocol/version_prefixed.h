#pragma once
// Records of Kafka's internal topics (__consumer_offsets,
// __transaction_state): an int16 version, then a generated struct at that
// version, as Kafka's MessageUtil.toVersionPrefixedBytes writes them. Helpers
// for the codecs of those records; T is a generated data struct.

#include <cstdint>

#include "common/bytes.h"
#include "common/errors.h"
#include "common/result.h"

namespace keel::protocol {

// `msg` prefixed by `version`, or empty Bytes when it cannot be written (a
// string too long for the version's length prefix).
template <typename T>
Bytes encode_version_prefixed(const T& msg, int16_t version) {
  ByteWriter w(2 + msg.encoded_size(version));
  w.write_i16(version);
  msg.encode(w, version);
  if (!w.ok()) return {};
  return w.take();
}

// Decodes all of `r` as T at `version`; bytes left over are kTrailingBytes.
template <typename T>
Result<T> decode_to_end(ByteReader& r, int16_t version) {
  T msg;
  if (auto res = msg.decode(r, version); !res) return res.error();
  if (!r.at_end()) return WireErrc::kTrailingBytes;
  return msg;
}

// Reads the int16 version prefix and checks it against T's versions
// (kUnsupportedVersion outside them).
template <typename T>
Result<int16_t> read_version_prefix(ByteReader& r) {
  const int16_t version = r.read_i16();
  if (!r.ok()) return r.error();
  if (version < T::kLowestVersion || version > T::kHighestVersion) return WireErrc::kUnsupportedVersion;
  return version;
}

// Reads the int16 version of a record key, which also names the record's
// type: the caller decides which it knows; a negative one is
// kUnsupportedVersion.
inline Result<int16_t> read_key_version(ByteReader& r) {
  const int16_t version = r.read_i16();
  if (!r.ok()) return r.error();
  if (version < 0) return WireErrc::kUnsupportedVersion;
  return version;
}

}  // namespace keel::protocol
