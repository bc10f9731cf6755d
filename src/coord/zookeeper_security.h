#pragma once
// Opening Kafka's tree in ZooKeeper as a broker: the chroot made when it is
// missing, the digest identity from zookeeper.digest.credentials.file, and
// zookeeper.set.acl's ACLs (issue 22 part 5). Start-up only: a ZooKeeper
// that goes away for a moment once connected is waited for, up to the
// connection timeout (coord/startup_retry.h); every failure throws
// std::runtime_error with a message an operator can act on, and no message
// carries the password.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "coord/zookeeper_store.h"

namespace keel::coord {

// The credentials file: one line "user:password" (the user before the first
// ':', the password the rest, may hold ':'); blank lines and lines starting
// with '#' are skipped, a trailing "\r" is dropped. Throws
// std::invalid_argument saying what is wrong (never the password).
struct DigestCredentials {
  std::string user;
  std::string password;
  std::string auth() const { return user + ":" + password; }
};
DigestCredentials parse_digest_credentials(std::string_view text);

struct KafkaZooKeeperOptions {
  std::string connect_string;  // zookeeper.connect, chroot included
  std::chrono::milliseconds session_timeout{18000};
  std::chrono::milliseconds connect_timeout{18000};
  std::string credentials_file;  // zookeeper.digest.credentials.file; empty = anonymous
  bool set_acl = false;          // zookeeper.set.acl
};

// Connects as a broker does: creates the chroot like Kafka when it is
// missing (with set_acl, protected as Kafka protects it), authenticates,
// refuses to go on when the cluster's nodes are protected for another
// identity (a wrong password, or none), and with set_acl secures the nodes
// left open from before (paths::secure_roots and below; the chroot node).
std::unique_ptr<ZooKeeperStore> open_kafka_zookeeper(const KafkaZooKeeperOptions& options);

}  // namespace keel::coord
