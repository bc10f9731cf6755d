#pragma once
// Bytes on the wire: big-endian loads/stores, Kafka's varints, and a bounds-
// checked reader and an appending writer.
//
// ByteReader never reads out of bounds and never trusts a length: every read
// checks what remains, and the first failure is sticky (later reads return
// zero values and do not advance). Callers decode a whole message, then check
// ok() once. ByteWriter appends to a growable buffer; encode-time errors
// (a field a version cannot carry) are sticky too.

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/errors.h"

namespace keel {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// An allocator whose value-initialisation is default-initialisation: a
// vector<uint8_t> sized with it is not zero-filled first. For buffers that are
// written whole right away (a request frame read from the socket).
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <class U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// Bytes that are not zeroed when sized: `UninitBytes b(n)` holds n
// indeterminate bytes until written.
using UninitBytes = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_string_view(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

template <typename T>
constexpr T byteswap(T v) {
  if constexpr (sizeof(T) == 1) return v;
  else if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
  else if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
  else return static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
}

template <typename T>
inline T load_be(const uint8_t* p) {
  static_assert(std::is_integral_v<T>);
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) v = byteswap(v);
  return v;
}

template <typename T>
inline void store_be(uint8_t* p, T v) {
  static_assert(std::is_integral_v<T>);
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) v = byteswap(v);
  std::memcpy(p, &v, sizeof(T));
}

inline uint32_t zigzag_encode32(int32_t v) { return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31); }
inline int32_t zigzag_decode32(uint32_t v) { return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1)); }
inline uint64_t zigzag_encode64(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t zigzag_decode64(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

// Encoded sizes of Kafka's varints.
inline size_t uvarint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) { v >>= 7; ++n; }
  return n;
}
inline size_t varint_size(int32_t v) { return uvarint_size(zigzag_encode32(v)); }
inline size_t varlong_size(int64_t v) { return uvarint_size(zigzag_encode64(v)); }

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(ByteView data) : data_(data) {}

  bool ok() const { return !error_; }
  std::error_code error() const { return error_; }
  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }
  ByteView data() const { return data_; }

  // Marks the reader failed (first error wins); later reads yield zeros.
  void fail(std::error_code ec) {
    if (!error_) error_ = ec;
    pos_ = data_.size();
  }

  int8_t read_i8() { return static_cast<int8_t>(read_fixed<uint8_t>()); }
  uint8_t read_u8() { return read_fixed<uint8_t>(); }
  int16_t read_i16() { return static_cast<int16_t>(read_fixed<uint16_t>()); }
  uint16_t read_u16() { return read_fixed<uint16_t>(); }
  int32_t read_i32() { return static_cast<int32_t>(read_fixed<uint32_t>()); }
  uint32_t read_u32() { return read_fixed<uint32_t>(); }
  int64_t read_i64() { return static_cast<int64_t>(read_fixed<uint64_t>()); }
  uint64_t read_u64() { return read_fixed<uint64_t>(); }
  double read_f64() { return std::bit_cast<double>(read_fixed<uint64_t>()); }
  bool read_bool() { return read_u8() != 0; }

  // Unsigned varint of at most 5 bytes (32 bits), as Kafka's compact lengths.
  uint32_t read_uvarint() { return static_cast<uint32_t>(read_uvarint_n(5)); }
  // Unsigned varint of at most 10 bytes (64 bits).
  uint64_t read_uvarlong() { return read_uvarint_n(10); }
  int32_t read_varint() { return zigzag_decode32(read_uvarint()); }
  int64_t read_varlong() { return zigzag_decode64(read_uvarlong()); }

  // A view of the next n bytes (borrowed from the input), or an empty view and
  // a failure when fewer remain.
  ByteView read_view(size_t n) {
    if (n > remaining()) {
      fail(WireErrc::kTruncated);
      return {};
    }
    ByteView v = data_.subspan(pos_, n);
    pos_ += n;
    return v;
  }
  void skip(size_t n) { (void)read_view(n); }

 private:
  template <typename T>
  T read_fixed() {
    if (sizeof(T) > remaining()) {
      fail(WireErrc::kTruncated);
      return 0;
    }
    T v = load_be<T>(data_.data() + pos_);
    pos_ += sizeof(T);
    return v;
  }

  uint64_t read_uvarint_n(int max_bytes) {
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (pos_ >= data_.size()) {
        fail(WireErrc::kTruncated);
        return 0;
      }
      uint8_t b = data_[pos_++];
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return v;
    }
    fail(WireErrc::kMalformedVarint);
    return 0;
  }

  ByteView data_;
  size_t pos_ = 0;
  std::error_code error_;
};

class ByteWriter {
 public:
  ByteWriter() = default;
  explicit ByteWriter(size_t reserve) { buf_.reserve(reserve); }

  bool ok() const { return !error_; }
  std::error_code error() const { return error_; }
  void fail(std::error_code ec) {
    if (!error_) error_ = ec;
  }

  size_t size() const { return buf_.size(); }
  const Bytes& buffer() const { return buf_; }
  Bytes& buffer() { return buf_; }
  Bytes take() { return std::move(buf_); }

  void write_i8(int8_t v) { buf_.push_back(static_cast<uint8_t>(v)); }
  void write_u8(uint8_t v) { buf_.push_back(v); }
  void write_bool(bool v) { buf_.push_back(v ? 1 : 0); }
  void write_i16(int16_t v) { write_fixed(static_cast<uint16_t>(v)); }
  void write_u16(uint16_t v) { write_fixed(v); }
  void write_i32(int32_t v) { write_fixed(static_cast<uint32_t>(v)); }
  void write_u32(uint32_t v) { write_fixed(v); }
  void write_i64(int64_t v) { write_fixed(static_cast<uint64_t>(v)); }
  void write_u64(uint64_t v) { write_fixed(v); }
  void write_f64(double v) { write_fixed(std::bit_cast<uint64_t>(v)); }

  void write_uvarint(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<uint8_t>(v) | 0x80);
      v >>= 7;
    }
    buf_.push_back(static_cast<uint8_t>(v));
  }
  void write_varint(int32_t v) { write_uvarint(zigzag_encode32(v)); }
  void write_varlong(int64_t v) { write_uvarint(zigzag_encode64(v)); }

  void write_bytes(ByteView b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  void write_bytes(std::string_view s) { write_bytes(as_bytes(s)); }

  // Reserves n bytes to be filled in later (a length prefix); returns their position.
  size_t reserve_bytes(size_t n) {
    size_t at = buf_.size();
    buf_.resize(at + n);
    return at;
  }
  template <typename T>
  void patch_be(size_t at, T v) { store_be<T>(buf_.data() + at, v); }

  // A point where bytes held elsewhere (file ranges) go on the wire: at
  // buffer position `position`, the bytes of external part `id`.
  struct Splice {
    size_t position;
    uint32_t id;
  };
  void add_splice(uint32_t id) { splices_.push_back({buf_.size(), id}); }
  const std::vector<Splice>& splices() const { return splices_; }

 private:
  template <typename T>
  void write_fixed(T v) {
    size_t at = buf_.size();
    buf_.resize(at + sizeof(T));
    store_be<T>(buf_.data() + at, v);
  }

  Bytes buf_;
  std::error_code error_;
  std::vector<Splice> splices_;
};

}  // namespace keel
