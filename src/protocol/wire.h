#pragma once
// The building blocks the generated messages are made of: strings, bytes,
// records and array lengths in both the classic (int16/int32 prefix) and the
// compact (unsigned varint of length+1) encodings, and tagged-field sections.
//
// Readers follow ByteReader's sticky-error contract: on bad input they fail
// the reader (truncated, negative or oversized length, null where the version
// forbids it) and return an empty value; the caller checks the reader once at
// the end. No length read from the wire is trusted before it is checked
// against the bytes remaining.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/errors.h"
#include "protocol/types.h"

namespace keel::protocol::wire {

// --- strings ---------------------------------------------------------------
void write_string(ByteWriter& w, std::string_view s, bool compact);
void write_nullable_string(ByteWriter& w, const std::optional<std::string>& s, bool compact,
                           bool nullable);
size_t string_size(std::string_view s, bool compact);
size_t nullable_string_size(const std::optional<std::string>& s, bool compact);
void read_string(ByteReader& r, std::string& out, bool compact);
void read_nullable_string(ByteReader& r, std::optional<std::string>& out, bool compact,
                          bool nullable);

// --- bytes -----------------------------------------------------------------
void write_bytes(ByteWriter& w, ByteView b, bool compact);
void write_nullable_bytes(ByteWriter& w, const std::optional<Bytes>& b, bool compact,
                          bool nullable);
size_t bytes_size(size_t length, bool compact);
size_t nullable_bytes_size(const std::optional<Bytes>& b, bool compact);
void read_bytes(ByteReader& r, Bytes& out, bool compact);
void read_nullable_bytes(ByteReader& r, std::optional<Bytes>& out, bool compact, bool nullable);

// --- records (borrowed from the reader's buffer) -----------------------------
void write_records(ByteWriter& w, const Records& rec, bool compact);
void write_nullable_records(ByteWriter& w, const std::optional<Records>& rec, bool compact,
                            bool nullable);
size_t nullable_records_size(const std::optional<Records>& rec, bool compact);
void read_records(ByteReader& r, Records& out, bool compact);
void read_nullable_records(ByteReader& r, std::optional<Records>& out, bool compact,
                           bool nullable);

// --- uuid ------------------------------------------------------------------
void write_uuid(ByteWriter& w, const Uuid& u);
Uuid read_uuid(ByteReader& r);

// --- arrays ----------------------------------------------------------------
void write_array_length(ByteWriter& w, size_t n, bool compact);
// Writes the null marker, or fails the writer when the version has no null.
void write_null_array(ByteWriter& w, bool compact, bool nullable);
size_t array_length_size(size_t n, bool compact);
// Returns the element count, or -1 for null. A count larger than the bytes
// left (every element takes at least one byte), a negative count other than
// null, or null where not nullable fails the reader and returns -1.
int32_t read_array_length(ByteReader& r, bool compact, bool nullable);

// --- single nullable struct: an int8 marker, -1 for null, 1 for present ----
void write_struct_marker(ByteWriter& w, bool present, bool nullable);
// True when a struct follows.
bool read_struct_marker(ByteReader& r, bool nullable);

// --- tagged fields ---------------------------------------------------------
// Writes the unknown fields with tag < `below`, starting at index `next`
// (they are kept sorted by tag); returns the next index to write.
size_t write_unknown_tagged_below(ByteWriter& w, const std::vector<RawTaggedField>& fields,
                                  size_t next, uint64_t below);
// Size of the unknown fields in a tagged section.
size_t unknown_tagged_size(const std::vector<RawTaggedField>& fields);
// Writes one known tagged field whose payload was encoded into `payload`.
void write_tagged_payload(ByteWriter& w, uint32_t tag, const Bytes& payload);
// Size of one tagged field with a payload of `payload_size` bytes.
inline size_t tagged_field_size(uint32_t tag, size_t payload_size) {
  return uvarint_size(tag) + uvarint_size(payload_size) + payload_size;
}
// Reads a tagged-field count and checks it against the bytes left.
uint32_t read_tagged_count(ByteReader& r);

}  // namespace keel::protocol::wire
