#include "protocol/wire.h"

#include <limits>

namespace keel::protocol::wire {
namespace {

// Reads a length prefix: int16 or int32 in the classic encoding, uvarint of
// length+1 in the compact one. Returns -1 for null.
int64_t read_length(ByteReader& r, bool compact, bool wide) {
  if (compact) {
    uint32_t n = r.read_uvarint();
    return static_cast<int64_t>(n) - 1;
  }
  return wide ? r.read_i32() : r.read_i16();
}

void write_length(ByteWriter& w, int64_t n, bool compact, bool wide) {
  if (compact) {
    w.write_uvarint(static_cast<uint64_t>(n + 1));
  } else if (wide) {
    w.write_i32(static_cast<int32_t>(n));
  } else {
    w.write_i16(static_cast<int16_t>(n));
  }
}

size_t length_size(size_t n, bool compact, bool wide) {
  if (compact) return uvarint_size(n + 1);
  return wide ? 4 : 2;
}

// Validates a length just read: -1 is null (allowed only when nullable), other
// negatives are malformed, and a length past the end of the buffer is a lie.
// Returns the view of the bytes or nullopt for null/error.
std::optional<ByteView> take_blob(ByteReader& r, int64_t len, bool nullable) {
  if (!r.ok()) return std::nullopt;
  if (len == -1) {
    if (!nullable) r.fail(WireErrc::kNullNotAllowed);
    return std::nullopt;
  }
  if (len < 0 || static_cast<uint64_t>(len) > r.remaining()) {
    r.fail(len < 0 ? WireErrc::kBadLength : WireErrc::kTruncated);
    return std::nullopt;
  }
  return r.read_view(static_cast<size_t>(len));
}

}  // namespace

void write_string(ByteWriter& w, std::string_view s, bool compact) {
  if (!compact && s.size() > static_cast<size_t>(std::numeric_limits<int16_t>::max())) {
    w.fail(WireErrc::kBadLength);
    return;
  }
  write_length(w, static_cast<int64_t>(s.size()), compact, false);
  w.write_bytes(s);
}

void write_nullable_string(ByteWriter& w, const std::optional<std::string>& s, bool compact,
                           bool nullable) {
  if (s) return write_string(w, *s, compact);
  if (!nullable) return w.fail(WireErrc::kNullNotAllowed);
  write_length(w, -1, compact, false);
}

size_t string_size(std::string_view s, bool compact) {
  return length_size(s.size(), compact, false) + s.size();
}

size_t nullable_string_size(const std::optional<std::string>& s, bool compact) {
  if (s) return string_size(*s, compact);
  return compact ? 1 : 2;
}

void read_string(ByteReader& r, std::string& out, bool compact) {
  auto view = take_blob(r, read_length(r, compact, false), false);
  if (view) out.assign(reinterpret_cast<const char*>(view->data()), view->size());
}

void read_nullable_string(ByteReader& r, std::optional<std::string>& out, bool compact,
                          bool nullable) {
  auto view = take_blob(r, read_length(r, compact, false), nullable);
  if (view) {
    out.emplace(reinterpret_cast<const char*>(view->data()), view->size());
  } else {
    out.reset();
  }
}

void write_bytes(ByteWriter& w, ByteView b, bool compact) {
  if (b.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()) - 1) {
    w.fail(WireErrc::kBadLength);
    return;
  }
  write_length(w, static_cast<int64_t>(b.size()), compact, true);
  w.write_bytes(b);
}

void write_nullable_bytes(ByteWriter& w, const std::optional<Bytes>& b, bool compact,
                          bool nullable) {
  if (b) return write_bytes(w, *b, compact);
  if (!nullable) return w.fail(WireErrc::kNullNotAllowed);
  write_length(w, -1, compact, true);
}

size_t bytes_size(size_t length, bool compact) { return length_size(length, compact, true) + length; }

size_t nullable_bytes_size(const std::optional<Bytes>& b, bool compact) {
  if (b) return bytes_size(b->size(), compact);
  return compact ? 1 : 4;
}

void read_bytes(ByteReader& r, Bytes& out, bool compact) {
  auto view = take_blob(r, read_length(r, compact, true), false);
  if (view) out.assign(view->begin(), view->end());
}

void read_nullable_bytes(ByteReader& r, std::optional<Bytes>& out, bool compact, bool nullable) {
  auto view = take_blob(r, read_length(r, compact, true), nullable);
  if (view) {
    out.emplace(view->begin(), view->end());
  } else {
    out.reset();
  }
}

void write_records(ByteWriter& w, const Records& rec, bool compact) {
  if (rec.is_external()) {
    write_length(w, static_cast<int64_t>(rec.size()), compact, true);
    w.add_splice(rec.splice_id());
    return;
  }
  write_bytes(w, rec.bytes(), compact);
}

void write_nullable_records(ByteWriter& w, const std::optional<Records>& rec, bool compact,
                            bool nullable) {
  if (rec) return write_records(w, *rec, compact);
  if (!nullable) return w.fail(WireErrc::kNullNotAllowed);
  write_length(w, -1, compact, true);
}

size_t nullable_records_size(const std::optional<Records>& rec, bool compact) {
  if (rec) return bytes_size(rec->size(), compact);
  return compact ? 1 : 4;
}

void read_records(ByteReader& r, Records& out, bool compact) {
  auto view = take_blob(r, read_length(r, compact, true), false);
  out = view ? Records::borrow(*view) : Records{};
}

void read_nullable_records(ByteReader& r, std::optional<Records>& out, bool compact,
                           bool nullable) {
  auto view = take_blob(r, read_length(r, compact, true), nullable);
  if (view) {
    out = Records::borrow(*view);
  } else {
    out.reset();
  }
}

void write_uuid(ByteWriter& w, const Uuid& u) { w.write_bytes(ByteView(u.bytes)); }

Uuid read_uuid(ByteReader& r) {
  Uuid u;
  ByteView v = r.read_view(16);
  if (v.size() == 16) std::copy(v.begin(), v.end(), u.bytes.begin());
  return u;
}

void write_array_length(ByteWriter& w, size_t n, bool compact) {
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()) - 1) {
    w.fail(WireErrc::kBadLength);
    return;
  }
  write_length(w, static_cast<int64_t>(n), compact, true);
}

void write_null_array(ByteWriter& w, bool compact, bool nullable) {
  if (!nullable) return w.fail(WireErrc::kNullNotAllowed);
  write_length(w, -1, compact, true);
}

size_t array_length_size(size_t n, bool compact) { return length_size(n, compact, true); }

int32_t read_array_length(ByteReader& r, bool compact, bool nullable) {
  int64_t n = read_length(r, compact, true);
  if (!r.ok()) return -1;
  if (n == -1) {
    if (!nullable) r.fail(WireErrc::kNullNotAllowed);
    return -1;
  }
  if (n < 0) {
    r.fail(WireErrc::kBadLength);
    return -1;
  }
  if (static_cast<uint64_t>(n) > r.remaining()) {
    r.fail(WireErrc::kBadLength);
    return -1;
  }
  return static_cast<int32_t>(n);
}

void write_struct_marker(ByteWriter& w, bool present, bool nullable) {
  if (!present && !nullable) return w.fail(WireErrc::kNullNotAllowed);
  w.write_i8(present ? 1 : -1);
}

bool read_struct_marker(ByteReader& r, bool nullable) {
  int8_t m = r.read_i8();
  if (!r.ok()) return false;
  if (m < 0) {
    if (!nullable) r.fail(WireErrc::kNullNotAllowed);
    return false;
  }
  return true;
}

size_t write_unknown_tagged_below(ByteWriter& w, const std::vector<RawTaggedField>& fields,
                                  size_t next, uint64_t below) {
  while (next < fields.size() && fields[next].tag < below) {
    write_tagged_payload(w, fields[next].tag, fields[next].data);
    ++next;
  }
  return next;
}

size_t unknown_tagged_size(const std::vector<RawTaggedField>& fields) {
  size_t n = 0;
  for (const auto& f : fields) n += tagged_field_size(f.tag, f.data.size());
  return n;
}

void write_tagged_payload(ByteWriter& w, uint32_t tag, const Bytes& payload) {
  w.write_uvarint(tag);
  w.write_uvarint(payload.size());
  w.write_bytes(ByteView(payload));
}

uint32_t read_tagged_count(ByteReader& r) {
  uint32_t n = r.read_uvarint();
  // Each tagged field takes at least two bytes (tag and size).
  if (r.ok() && n > r.remaining() / 2) {
    r.fail(WireErrc::kBadLength);
    return 0;
  }
  return n;
}

}  // namespace keel::protocol::wire
