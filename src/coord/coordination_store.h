#pragma once
// All cluster metadata lives behind this interface: a tree of versioned
// nodes with ZooKeeper's semantics (persistent, ephemeral and sequential
// nodes, one-shot watches, compare-and-set by version, atomic multi-ops).
// The controller, topic management and broker registration are written once
// against it. Backends: EmbeddedStore (one process, persisted in the data
// directory; the default) and ZooKeeperStore (Kafka's layout in ZooKeeper).
//
// Threads: every method may be called from any thread. Watches fire at most
// once, on a thread of the backend's choosing, never while a store lock is
// held, so a watch may call back into the store.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "coord/errors.h"

namespace keel::coord {

// ZooKeeper's Stat, the fields Kafka reads.
struct Stat {
  int64_t czxid = 0;            // transaction that created the node (broker epoch)
  int64_t mzxid = 0;            // last transaction that changed its data
  int64_t ctime_ms = 0;
  int64_t mtime_ms = 0;
  int32_t version = 0;          // data version: the compare-and-set token
  int32_t cversion = 0;         // children version
  int64_t ephemeral_owner = 0;  // session id, 0 for persistent nodes
  int32_t num_children = 0;
  bool operator==(const Stat&) const = default;
};

enum class CreateMode { kPersistent, kEphemeral, kPersistentSequential, kEphemeralSequential };

enum class EventType { kCreated, kDeleted, kDataChanged, kChildrenChanged };

struct WatchEvent {
  EventType type;
  std::string path;
};
using Watch = std::function<void(const WatchEvent&)>;

struct Node {
  Bytes data;
  Stat stat;
};

// One operation of a multi-op transaction.
struct Op {
  enum class Kind { kCreate, kDelete, kSetData, kCheck } kind;
  std::string path;
  Bytes data;
  int32_t version = -1;  // -1: any (delete, set, check)
  CreateMode mode = CreateMode::kPersistent;

  static Op create(std::string path, Bytes data, CreateMode mode = CreateMode::kPersistent) {
    return {Kind::kCreate, std::move(path), std::move(data), -1, mode};
  }
  static Op remove(std::string path, int32_t version = -1) {
    return {Kind::kDelete, std::move(path), {}, version, CreateMode::kPersistent};
  }
  static Op set(std::string path, Bytes data, int32_t version = -1) {
    return {Kind::kSetData, std::move(path), std::move(data), version, CreateMode::kPersistent};
  }
  static Op check(std::string path, int32_t version) {
    return {Kind::kCheck, std::move(path), {}, version, CreateMode::kPersistent};
  }
};

struct OpResult {
  std::string path;  // created path (with the sequence suffix) for creates
  Stat stat;         // for set
};

class CoordinationStore {
 public:
  virtual ~CoordinationStore() = default;

  // Creates `path` (its parent must exist). Sequential modes append a
  // 10-digit counter kept by the parent. Returns the path created.
  virtual Result<std::string> create(const std::string& path, ByteView data, CreateMode mode) = 0;
  // Data and stat; `watch` fires on data change or deletion.
  virtual Result<Node> get(const std::string& path, Watch watch = {}) = 0;
  // Replaces the data if the version matches (-1: any); returns the new stat.
  virtual Result<Stat> set(const std::string& path, ByteView data, int32_t version = -1) = 0;
  // Deletes a node without children if the version matches (-1: any).
  virtual Result<void> remove(const std::string& path, int32_t version = -1) = 0;
  // The stat, or nullopt when absent; `watch` fires on creation, deletion or data change.
  virtual Result<std::optional<Stat>> exists(const std::string& path, Watch watch = {}) = 0;
  // Child names, sorted; `watch` fires when a child is added or removed, or on deletion.
  virtual Result<std::vector<std::string>> children(const std::string& path, Watch watch = {}) = 0;
  // All or nothing: either every op applies (results in order) or none does
  // (the error of the first failing op).
  virtual Result<std::vector<OpResult>> multi(std::span<const Op> ops) = 0;
  // Many reads without watches (a new controller reads every partition state):
  // per path its node, kNoNode when absent, or its read's error, in the order
  // of `paths`. Not a snapshot: each read sees the tree as it is on arrival.
  // ZooKeeperStore sends the reads before waiting for the answers (about one
  // round trip, not one per path, as Kafka's getTopicPartitionStates); the
  // default reads one path after another, so a wrapping store must forward
  // this call or lose that.
  virtual std::vector<Result<Node>> get_many(std::span<const std::string> paths);
  // This client's session; ephemeral nodes it creates carry this id.
  virtual int64_t session_id() const = 0;
  // How many times this client has lost its connection to the store so far
  // (ZooKeeper: the session went back to connecting). A request that meets
  // a short outage waits it out inside the store, so a caller that must know
  // whether the store went away meanwhile (a ZooKeeper restart renews every
  // session's timeout) compares this count instead. 0 for a store that
  // cannot be disconnected.
  virtual uint64_t disconnections() const { return 0; }
};

// Creates `path` and any missing ancestors as empty persistent nodes;
// existing nodes are left as they are.
Result<void> create_recursive(CoordinationStore& store, const std::string& path);

}  // namespace keel::coord
