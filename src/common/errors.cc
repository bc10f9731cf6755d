#include "common/errors.h"

#include <string>

namespace keel {
namespace {

class WireCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "wire"; }
  std::string message(int c) const override {
    switch (static_cast<WireErrc>(c)) {
      case WireErrc::kTruncated: return "buffer truncated";
      case WireErrc::kMalformedVarint: return "malformed varint";
      case WireErrc::kBadLength: return "invalid length or count";
      case WireErrc::kNullNotAllowed: return "null value not allowed in this version";
      case WireErrc::kFieldNotInVersion: return "field cannot be written in this version";
      case WireErrc::kUnsupportedVersion: return "unsupported message version";
      case WireErrc::kTrailingBytes: return "trailing bytes after message";
    }
    return "unknown wire error";
  }
};

}  // namespace

const std::error_category& wire_category() {
  static const WireCategory category;
  return category;
}

}  // namespace keel
