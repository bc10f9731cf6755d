#pragma once
// Value types shared by the generated protocol messages: UUIDs, raw tagged
// fields kept for round-tripping, and the `records` field.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"

namespace keel::protocol {

// Kafka's 128-bit UUID (topic ids, directory ids). All-zero means "none".
struct Uuid {
  std::array<uint8_t, 16> bytes{};

  bool is_zero() const;
  // Kafka's text form: URL-safe base64 without padding, 22 characters.
  std::string to_string() const;
  static std::optional<Uuid> from_string(std::string_view text);
  // A random version-4 UUID that is never zero and whose text form does not
  // start with '-' (Kafka avoids those so they never look like a CLI flag).
  static Uuid random();

  auto operator<=>(const Uuid&) const = default;
};

// A tagged field this version of Keel does not know: kept on decode and
// written back on encode so a message passes through unchanged.
struct RawTaggedField {
  uint32_t tag = 0;
  Bytes data;
  bool operator==(const RawTaggedField&) const = default;
};

// The `records` field of Produce/Fetch: a blob of record batches. Decoding
// borrows a view into the request buffer (zero-copy; the caller keeps that
// buffer alive while the message is in use); a message built in memory may own
// its bytes instead. A Fetch response uses the third form, `external`: the
// encoder writes only the length prefix and marks a splice point in the
// ByteWriter, where the sender puts the bytes (file ranges sent with
// sendfile) — the record bytes never pass through the encoder.
class Records {
 public:
  Records() = default;
  static Records borrow(ByteView view);
  static Records own(Bytes bytes);
  // `length` bytes supplied at splice `splice_id` (ByteWriter::splices()).
  static Records external(size_t length, uint32_t splice_id);

  ByteView bytes() const { return owned_ ? ByteView(*owned_) : view_; }
  size_t size() const { return external_ ? external_length_ : bytes().size(); }
  bool is_external() const { return external_; }
  uint32_t splice_id() const { return splice_id_; }
  bool empty() const { return size() == 0; }
  // Byte equality, whether borrowed or owned.
  bool operator==(const Records& other) const;

 private:
  ByteView view_;
  std::optional<Bytes> owned_;
  bool external_ = false;
  size_t external_length_ = 0;
  uint32_t splice_id_ = 0;
};

}  // namespace keel::protocol
