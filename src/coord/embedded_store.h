#pragma once
// EmbeddedStore: the coordination tree kept in this process, for a single
// broker that runs with no other service (the default when zookeeper.connect
// is not set). Same semantics as ZooKeeper for what Kafka uses.
//
// Durability: a change that touches persistent nodes is appended to a journal
// (coord.journal: one record per committed change, with the new state of each
// node it changed and a CRC) and fdatasync'ed before the call returns. The
// journal is folded into a snapshot of the persistent nodes (coord.snapshot:
// temporary file, fsync, rename, fsync of the directory) when it outgrows
// max(4 MiB, twice the snapshot) and at every open, so a change costs one
// append however big the tree is. Opening loads the snapshot and replays the
// journal's records newer than it; a torn last record (a crash mid-append) is
// cut off, everything before it kept; a snapshot that fails its CRC refuses to
// load. Ephemeral nodes belong to the process's session and are not persisted:
// after a restart they are gone, as after a ZooKeeper session expiry.
//
// Threads: one mutex guards the tree; watches fire on the calling thread
// after the mutex is released. A change is staged in an overlay of the nodes
// it touches (all ops or none), not in a copy of the tree.

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
  ~EmbeddedStore() override;
  EmbeddedStore(const EmbeddedStore&) = delete;
  EmbeddedStore& operator=(const EmbeddedStore&) = delete;

  // Journal size past which it is folded into the snapshot (at least this, or
  // twice the snapshot's size).
  static constexpr uint64_t kJournalFoldBytes = 4u << 20;

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

  // The nodes one change touches, over the live tree: nullopt = deleted.
  using Changes = std::map<std::string, std::optional<Entry>>;

  Result<std::vector<OpResult>> apply(std::span<const Op> ops);
  // Writes a snapshot of `tree` (persistent nodes) at zxid.
  Result<void> persist(const Tree& tree, int64_t zxid);
  // Appends the persistent part of `changes` as one record; false = nothing to append.
  Result<void> append_journal(const Changes& changes, int64_t zxid);
  // Snapshot of the live tree, then an empty journal (mu_ held).
  Result<void> fold_journal();
  Result<void> load();
  Result<void> replay_journal(Tree& tree, int64_t& zxid);
  static Result<void> link_children(Tree& tree, const std::filesystem::path& dir);
  Result<void> open_journal();
  void collect(std::multimap<std::string, Watch>& watches, const std::string& path,
               EventType type, std::vector<Fired>& out);
  static void fire(std::vector<Fired>& fired);

  std::optional<std::filesystem::path> dir_;
  mutable std::mutex mu_;
  Tree tree_;
  int64_t zxid_ = 0;
  int journal_fd_ = -1;
  uint64_t journal_bytes_ = 0;
  uint64_t snapshot_bytes_ = 0;
  bool journal_broken_ = false;  // an append failed and could not be undone
  int64_t session_id_;
  std::multimap<std::string, Watch> data_watches_;   // get/exists on an existing node
  std::multimap<std::string, Watch> exist_watches_;  // exists on an absent node
  std::multimap<std::string, Watch> child_watches_;  // children
};

}  // namespace keel::coord
