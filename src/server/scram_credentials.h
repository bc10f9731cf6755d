#pragma once
// The SCRAM credentials of every user, as stored in /config/users/<user>
// (Kafka's JSON, the credential text under "SCRAM-SHA-256"/"SCRAM-SHA-512"),
// cached in memory for the SASL handlers and kept current the way Kafka's
// brokers keep dynamic configs current: a watch on /config/changes, and the
// named user re-read on each users/<user> notification. Works over either
// store backend (through coord::KafkaStore).
//
// Thread-safety: lookups from any thread; one thread of its own re-reads the
// store (store watches only wake it, so no store call runs on the store's
// callback thread). It also looks every 10 s, in case a watch was lost with
// a ZooKeeper session.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"
#include "security/scram.h"

namespace keel::coord {
class KafkaStore;
}

namespace keel::server {

// Kafka's Sanitizer: a user name as it appears in a znode path (URL-encoded
// UTF-8; letters, digits, '.', '-', '_' kept; '*' and space percent-encoded
// too, never '+'), and back. desanitize_user returns nullopt for a bad escape.
std::string sanitize_user(std::string_view user);
std::optional<std::string> desanitize_user(std::string_view sanitized);

// A user's SCRAM credentials, by mechanism.
struct UserScramCredentials {
  std::optional<security::ScramCredential> sha256;
  std::optional<security::ScramCredential> sha512;
  std::optional<security::ScramCredential>& of(security::ScramMechanism m) {
    return m == security::ScramMechanism::kSha256 ? sha256 : sha512;
  }
  const std::optional<security::ScramCredential>& of(security::ScramMechanism m) const {
    return m == security::ScramMechanism::kSha256 ? sha256 : sha512;
  }
  bool empty() const { return !sha256 && !sha512; }
};

// The SCRAM credentials in a /config/users/<user> config map. A value that
// does not parse is left out (and logged): that mechanism then fails like a
// missing credential, as Kafka's broker treats a credential it cannot read.
UserScramCredentials scram_credentials_from_config(const std::string& user,
                                                   const std::map<std::string, std::string>& config);

class ScramCredentialCache {
 public:
  explicit ScramCredentialCache(coord::KafkaStore& store);
  ~ScramCredentialCache();
  ScramCredentialCache(const ScramCredentialCache&) = delete;
  ScramCredentialCache& operator=(const ScramCredentialCache&) = delete;

  // Reads every user and starts following /config/changes. Fails when the
  // store cannot be read.
  Result<void> start();
  // Joins the thread; no watch touches this object afterwards. Idempotent.
  void stop();

  std::optional<security::ScramCredential> lookup(security::ScramMechanism m, std::string_view user) const;
  // Re-reads one user now (after this broker changed it), ahead of the notification.
  void reload(const std::string& user);

  // Straight from the store, for the admin requests (KIP-554): the users
  // holding SCRAM credentials (sorted), and one user's.
  Result<std::vector<std::string>> stored_users();
  Result<UserScramCredentials> stored(const std::string& user);
  // Writes the user's SCRAM credentials into /config/users/<user>, keeping
  // the node's other keys (quotas), then the change notification every broker
  // follows; this broker's cache is updated at once.
  Result<void> store(const std::string& user, const UserScramCredentials& creds);

 private:
  struct Signal;  // shared with store watches, which may outlive this object
  void run();
  void follow_changes();
  Result<void> load_user(const std::string& user);

  coord::KafkaStore& store_;
  std::shared_ptr<Signal> signal_;
  mutable std::mutex mu_;
  std::map<std::string, UserScramCredentials, std::less<>> users_;
  int64_t last_change_ = -1;  // the thread's only
  std::thread thread_;
};

}  // namespace keel::server
