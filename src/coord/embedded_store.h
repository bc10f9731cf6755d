#pragma once
// EmbeddedStore: the coordination tree kept in this process, for a single
// broker that runs with no other service (the default when zookeeper.connect
// is not set). Same semantics as ZooKeeper for what Kafka uses.
//
// Durability: every committed change rewrites a snapshot of the persistent
// nodes (temporary file, fsync, rename, fsync of the directory) before the
// call returns, so a crash at any moment leaves the previous or the new state,
// never a mix; a snapshot that fails its CRC refuses to load. Ephemeral nodes
// belong to the process's session and are not persisted: after a restart
// they are gone, as after a ZooKeeper session expiry.
//
// Threads: one mutex guards the tree; watches fire on the calling thread
// after the mutex is released. Metadata is small (topics, partitions,
// configs), so a whole-snapshot rewrite per change is cheap enough for one
// broker; a journal can replace it if that stops being true.

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "coord/coordination_store.h"

namespace keel::coord {

class EmbeddedStore : public CoordinationStore {
 public:
  // Loads `dir`/coord.snapshot if present (creating `dir` if needed).
  static Result<std::unique_ptr<EmbeddedStore>> open(const std::filesystem::path& dir);
  // Not persisted at all (tests).
  static std::unique_ptr<EmbeddedStore> in_memory();

  Result<std::string> create(const std::string& path, ByteView data, CreateMode mode) override;
  Result<Node> get(const std::string& path, Watch watch = {}) override;
  Result<Stat> set(const std::string& path, ByteView data, int32_t version = -1) override;
  Result<void> remove(const std::string& path, int32_t version = -1) override;
  Result<std::optional<Stat>> exists(const std::string& path, Watch watch = {}) override;
  Result<std::vector<std::string>> children(const std::string& path, Watch watch = {}) override;
  Result<std::vector<OpResult>> multi(std::span<const Op> ops) override;
  int64_t session_id() const override { return session_id_; }

  // Ends this session and starts a new one: the session's ephemeral nodes are
  // deleted (their watches fire), as when a ZooKeeper session expires.
  void expire_session();

  struct Entry {
    Bytes data;
    Stat stat;
    std::set<std::string> children;  // names, not paths
  };

 private:
  explicit EmbeddedStore(std::optional<std::filesystem::path> dir);

  struct Fired {
    Watch watch;
    WatchEvent event;
  };
  using Tree = std::map<std::string, Entry>;

  Result<std::vector<OpResult>> apply(std::span<const Op> ops);
  Result<void> persist(const Tree& tree, int64_t zxid);
  Result<void> load();
  void collect(std::multimap<std::string, Watch>& watches, const std::string& path,
               EventType type, std::vector<Fired>& out);
  static void fire(std::vector<Fired>& fired);

  std::optional<std::filesystem::path> dir_;
  mutable std::mutex mu_;
  Tree tree_;
  int64_t zxid_ = 0;
  int64_t session_id_;
  std::multimap<std::string, Watch> data_watches_;   // get/exists on an existing node
  std::multimap<std::string, Watch> exist_watches_;  // exists on an absent node
  std::multimap<std::string, Watch> child_watches_;  // children
};

}  // namespace keel::coord
