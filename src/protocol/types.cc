#include "protocol/types.h"

#include <algorithm>
#include <random>

namespace keel::protocol {
namespace {

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64_url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

bool Uuid::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

std::string Uuid::to_string() const {
  // 16 bytes = 128 bits = 21 full sextets + 2 bits: 22 characters, no padding.
  std::string out;
  out.reserve(22);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<Uuid> Uuid::from_string(std::string_view text) {
  if (text.size() != 22) return std::nullopt;
  Uuid u;
  uint32_t acc = 0;
  int bits = 0;
  size_t at = 0;
  for (char c : text) {
    int v = base64_url_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (at < 16) u.bytes[at++] = static_cast<uint8_t>(acc >> bits);
    }
  }
  // The last character carries 2 bits of data; the other 4 must be zero.
  if (at != 16 || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return u;
}

Uuid Uuid::random() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (;;) {
    Uuid u;
    uint64_t hi = rng(), lo = rng();
    store_be<uint64_t>(u.bytes.data(), hi);
    store_be<uint64_t>(u.bytes.data() + 8, lo);
    u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0f) | 0x40);  // version 4
    u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);  // IETF variant
    if (!u.is_zero() && u.to_string()[0] != '-') return u;
  }
}

Records Records::borrow(ByteView view) {
  Records r;
  r.view_ = view;
  return r;
}

Records Records::own(Bytes bytes) {
  Records r;
  r.owned_ = std::move(bytes);
  return r;
}

Records Records::external(size_t length, uint32_t splice_id) {
  Records r;
  r.external_ = true;
  r.external_length_ = length;
  r.splice_id_ = splice_id;
  return r;
}

bool Records::operator==(const Records& other) const {
  if (external_ || other.external_) {
    return external_ == other.external_ && external_length_ == other.external_length_ &&
           splice_id_ == other.splice_id_;
  }
  ByteView a = bytes(), b = other.bytes();
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace keel::protocol
