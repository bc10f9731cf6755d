#include "net/frame.h"

namespace keel::net {
namespace {

class NetCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "keel.net"; }
  std::string message(int ev) const override {
    switch (static_cast<NetErrc>(ev)) {
      case NetErrc::kPeerClosed: return "peer closed the connection";
      case NetErrc::kFrameTooLarge: return "request larger than socket.request.max.bytes";
      case NetErrc::kNegativeSize: return "negative request size";
      case NetErrc::kFrameTooSmall: return "request too small to hold a header";
    }
    return "unknown net error";
  }
};

}  // namespace

const std::error_category& net_category() {
  static const NetCategory category;
  return category;
}

Result<uint32_t> check_frame_size(const uint8_t (&prefix)[4], int32_t max_bytes) {
  const auto size = load_be<int32_t>(prefix);
  if (size < 0) return NetErrc::kNegativeSize;
  if (size < kMinRequestSize) return NetErrc::kFrameTooSmall;
  if (size > max_bytes) return NetErrc::kFrameTooLarge;
  return static_cast<uint32_t>(size);
}

void patch_frame_size(Bytes& frame) {
  store_be<int32_t>(frame.data(), static_cast<int32_t>(frame.size() - 4));
}

}  // namespace keel::net
