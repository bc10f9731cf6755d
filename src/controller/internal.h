#pragma once
// Helpers shared by the controller's source files (not part of its interface).

#include <algorithm>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cluster/topic_admin.h"
#include "common/log.h"
#include "coord/errors.h"

namespace keel::controller::internal {

inline std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("controller");
  return l;
}

inline cluster::AdminResult error(protocol::ErrorCode code, std::string message) { return {code, std::move(message)}; }

// The store could not be reached (ZooKeeper away, or our session lost): an
// outage that passes, unlike an answer the store gave.
inline bool is_outage(const std::error_code& e) {
  return e == coord::CoordErrc::kConnectionLoss || e == coord::CoordErrc::kSessionExpired;
}

// A store that could not be reached (ZooKeeper down past the connection
// timeout) is a timeout the client may retry; anything else is the server's.
inline cluster::AdminResult store_error(const std::error_code& e) {
  return error(is_outage(e) ? protocol::ErrorCode::kRequestTimedOut : protocol::ErrorCode::kUnknownServerError,
               "coordination store: " + e.message());
}

inline bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace keel::controller::internal
