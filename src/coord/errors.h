#pragma once
// Errors of the coordination store, named after ZooKeeper's so the two
// backends answer alike.

#include <system_error>

namespace keel::coord {

enum class CoordErrc {
  kNoNode = 1,        // the node (or, for create, its parent) does not exist
  kNodeExists,        // create on an existing path
  kBadVersion,        // expected version does not match
  kNotEmpty,          // delete of a node that has children
  kInvalidPath,       // not an absolute path of non-empty segments
  kEphemeralParent,   // ephemeral nodes cannot have children
  kSessionExpired,    // the session ended; ephemeral nodes are gone
  kConnectionLoss,    // the backend cannot be reached (ZooKeeper)
  kStorage,           // the embedded store could not persist
  kCorrupt,           // the persisted state failed its checksum
  kNoAuth,            // the node's ZooKeeper ACL refuses this client (zookeeper.set.acl)
};

const std::error_category& coord_category();
inline std::error_code make_error_code(CoordErrc e) { return {static_cast<int>(e), coord_category()}; }

}  // namespace keel::coord

template <>
struct std::is_error_code_enum<keel::coord::CoordErrc> : std::true_type {};
