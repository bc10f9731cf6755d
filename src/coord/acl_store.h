#pragma once
// ACLs in Kafka's ZooKeeper layout (docs/security.md §1.6), on either
// backend, so that kafka-acls.sh (--authorizer-properties zookeeper.connect=)
// and Keel brokers share one set of ACLs:
//   /kafka-acl/<Type>/<name>                    LITERAL patterns
//   /kafka-acl-extended/prefixed/<Type>/<name>  PREFIXED patterns
// each node holding the JSON of security::zk::encode_acl_node, and after each
// change a sequential notification under /kafka-acl-changes (literal) or
// /kafka-acl-extended-changes (prefixed) naming the pattern, from which every
// broker re-reads just that pattern.
//
// AclStore: the reads and writes (any thread, as the store). Its updates run
// one at a time in this process, as Kafka's AclAuthorizer runs them under one
// lock; the version checks handle the writers of other brokers.
// AclChangeListener: keeps one AclAuthorizer equal to the store: a full load
// at start, then the notifications, on a thread of its own (store watches
// must not block, and an embedded store fires them on the writer's thread).

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"
#include "coord/coordination_store.h"
#include "security/acl.h"

namespace keel::coord {

// A pattern's entries and its node's data version (the compare-and-set
// token); version -1 when there is no node.
struct VersionedAcls {
  std::vector<security::AccessControlEntry> entries;
  int32_t version = -1;
};

struct PatternAcls {
  security::ResourcePattern pattern;
  std::vector<security::AccessControlEntry> entries;
};

// How long notifications are kept: Kafka's changeExpirationMs.
inline constexpr int64_t kAclChangeMaxAgeMs = 15 * 60 * 1000;

class AclStore {
 public:
  explicit AclStore(CoordinationStore& store) : store_(store) {}

  // What Kafka's createAclPaths creates: both roots, both change parents and
  // a node per resource type under each root, so Kafka's tools find the
  // layout they expect.
  Result<void> ensure_paths();

  // Every pattern with ACLs, in path order. A node that cannot be decoded is
  // kCorrupt, with its path and the reason in error_message: loading ACLs
  // without it could grant what it denies.
  Result<std::vector<PatternAcls>> all_acls(std::string* error_message = nullptr);
  // One pattern's entries (none and version -1 when the node is absent).
  Result<VersionedAcls> resource_acls(const security::ResourcePattern& pattern,
                                      std::string* error_message = nullptr);

  // Kafka's updateResourceAcls: reads the pattern's node, applies `change`
  // to its entries and writes the result conditionally on the version read
  // (creates the node when absent, deletes it when no entry is left),
  // re-reading and retrying when another writer got in between. When the
  // entries changed, writes the change notification. Returns the entries
  // now stored. `changed` (if given) says whether anything was written.
  using AclChange =
      std::function<std::vector<security::AccessControlEntry>(const std::vector<security::AccessControlEntry>&)>;
  Result<std::vector<security::AccessControlEntry>> update_resource_acls(const security::ResourcePattern& pattern,
                                                                         const AclChange& change,
                                                                         bool* changed = nullptr,
                                                                         std::string* error_message = nullptr);

  // The notifications under the change parent of `kind` (LITERAL: literal,
  // PREFIXED: extended) with a sequence number above after_seq, in order.
  // Unreadable ones are skipped, as Kafka's listener skips them. `watch`
  // fires when a notification is added.
  struct Change {
    int64_t sequence = 0;
    security::ResourcePattern pattern;
  };
  Result<std::vector<Change>> changes_after(security::PatternType kind, int64_t after_seq, Watch watch = {});
  // The highest sequence number there, -1 when none; `watch` as above.
  Result<int64_t> last_change(security::PatternType kind, Watch watch = {});
  // Removes the notifications of `kind` older than max_age_ms by creation
  // time, as every Kafka broker does after processing them.
  Result<void> purge_changes(security::PatternType kind, int64_t now_ms, int64_t max_age_ms = kAclChangeMaxAgeMs);

 private:
  Result<void> write_change(const security::ResourcePattern& pattern);

  CoordinationStore& store_;
  std::mutex update_mu_;
};

// Keeps `authorizer` current with the store. start() loads everything; then
// each notification re-reads its pattern into the authorizer, normally within
// milliseconds of the write (the watch), at worst a second later after a store
// error (the retry). resync() after a ZooKeeper session expiry re-arms the
// watches (the old session's are gone) and reloads everything, since
// notifications may have come and gone meanwhile.
class AclChangeListener {
 public:
  AclChangeListener(AclStore& store, security::AclAuthorizer& authorizer, std::function<int64_t()> now_ms);
  ~AclChangeListener();
  AclChangeListener(const AclChangeListener&) = delete;
  AclChangeListener& operator=(const AclChangeListener&) = delete;

  // Loads every ACL (replacing what the authorizer held) and starts the
  // thread. An error (message in error_message) leaves nothing running.
  Result<void> start(std::string* error_message = nullptr);
  void resync();
  // Stops the thread; idempotent. Watches that fire later find nothing to do.
  void stop();

 private:
  // What the watches and resync() tell the thread; shared with the watches
  // so that one firing after stop() touches no freed memory.
  struct Signal {
    std::mutex mu;
    std::condition_variable cv;
    bool pending[2] = {false, false};  // [0] literal, [1] extended
    bool armed[2] = {false, false};    // a watch is registered for that parent
    bool reload_all = false;
    bool stopping = false;
  };

  Watch watch_for(int kind);
  // One pass over a change parent; false on a store error (retried later).
  bool process(int kind);
  // Arms both watches, notes the newest notifications and loads everything.
  Result<void> load_all(std::string* error_message);
  void run();

  AclStore& store_;
  security::AclAuthorizer& authorizer_;
  std::function<int64_t()> now_ms_;
  std::shared_ptr<Signal> signal_ = std::make_shared<Signal>();
  int64_t last_seq_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace keel::coord
