#pragma once
// Errors of the network layer.

#include <system_error>

namespace keel::net {

enum class NetErrc {
  kPeerClosed = 1,   // the client went away (normal, not logged as an error)
  kFrameTooLarge,    // size prefix above socket.request.max.bytes
  kNegativeSize,     // size prefix below zero
  kFrameTooSmall,    // too short to hold a request header
};

const std::error_category& net_category();
inline std::error_code make_error_code(NetErrc e) { return {static_cast<int>(e), net_category()}; }

}  // namespace keel::net

template <>
struct std::is_error_code_enum<keel::net::NetErrc> : std::true_type {};
