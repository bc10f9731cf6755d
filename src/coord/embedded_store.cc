#include "coord/embedded_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <random>

#include "common/crc32c.h"
#include "common/log.h"

namespace keel::coord {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'K', 'E', 'E', 'L', 'C', 'R', 'D', '1'};
constexpr const char* kSnapshotName = "coord.snapshot";
constexpr const char* kJournalName = "coord.journal";
// A journal record: u32 body length, u32 CRC-32C of the body, then the body:
// i64 zxid, u32 count, and per node u8 present, u32 path length, path and,
// when present, u32 data length, data, czxid, mzxid, ctime, mtime, version,
// cversion (the node's whole new state: replaying a record twice is harmless).
constexpr size_t kRecordHeader = 8;

void write_entry(ByteWriter& w, const std::string& path, const EmbeddedStore::Entry& e) {
  w.write_u32(static_cast<uint32_t>(path.size()));
  w.write_bytes(path);
  w.write_u32(static_cast<uint32_t>(e.data.size()));
  w.write_bytes(ByteView(e.data));
  w.write_i64(e.stat.czxid);
  w.write_i64(e.stat.mzxid);
  w.write_i64(e.stat.ctime_ms);
  w.write_i64(e.stat.mtime_ms);
  w.write_i32(e.stat.version);
  w.write_i32(e.stat.cversion);
}

// Reads what write_entry wrote after the path.
EmbeddedStore::Entry read_entry(ByteReader& r) {
  EmbeddedStore::Entry e;
  auto data_view = r.read_view(r.read_u32());
  e.data.assign(data_view.begin(), data_view.end());
  e.stat.czxid = r.read_i64();
  e.stat.mzxid = r.read_i64();
  e.stat.ctime_ms = r.read_i64();
  e.stat.mtime_ms = r.read_i64();
  e.stat.version = r.read_i32();
  e.stat.cversion = r.read_i32();
  return e;
}

bool write_all(int fd, const Bytes& buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void fsync_dir(const std::filesystem::path& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("coord");
  return l;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t new_session_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  int64_t id = 0;
  while (id <= 0) id = static_cast<int64_t>(rng() >> 1);
  return id;
}

// "/a/b" -> valid; "/" is the root. No empty segments, no trailing slash.
bool valid_path(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/') return false;
  return path.find("//") == std::string::npos;
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

bool is_ephemeral(CreateMode m) {
  return m == CreateMode::kEphemeral || m == CreateMode::kEphemeralSequential;
}
bool is_sequential(CreateMode m) {
  return m == CreateMode::kPersistentSequential || m == CreateMode::kEphemeralSequential;
}

class CoordCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "keel.coord"; }
  std::string message(int ev) const override {
    switch (static_cast<CoordErrc>(ev)) {
      case CoordErrc::kNoNode: return "no such node";
      case CoordErrc::kNodeExists: return "node exists";
      case CoordErrc::kBadVersion: return "version mismatch";
      case CoordErrc::kNotEmpty: return "node has children";
      case CoordErrc::kInvalidPath: return "invalid path";
      case CoordErrc::kEphemeralParent: return "ephemeral nodes cannot have children";
      case CoordErrc::kSessionExpired: return "session expired";
      case CoordErrc::kConnectionLoss: return "connection to the store lost";
      case CoordErrc::kStorage: return "cannot persist the store";
      case CoordErrc::kCorrupt: return "persisted store is corrupt";
      case CoordErrc::kNoAuth: return "not authorized by the node's ZooKeeper ACL";
    }
    return "unknown coordination error";
  }
};

}  // namespace

const std::error_category& coord_category() {
  static const CoordCategory category;
  return category;
}

Result<void> create_recursive(CoordinationStore& store, const std::string& path) {
  if (!valid_path(path)) return CoordErrc::kInvalidPath;
  if (path == "/") return {};
  size_t at = 1;
  while (true) {
    size_t next = path.find('/', at);
    std::string prefix = path.substr(0, next);
    auto created = store.create(prefix, {}, CreateMode::kPersistent);
    if (!created && created.error() != make_error_code(CoordErrc::kNodeExists)) {
      return created.error();
    }
    if (next == std::string::npos) return {};
    at = next + 1;
  }
}

// In memory each read is a lookup: one after another is as fast as it gets.
std::vector<Result<Node>> CoordinationStore::get_many(std::span<const std::string> paths) {
  std::vector<Result<Node>> out;
  out.reserve(paths.size());
  for (const auto& path : paths) out.push_back(get(path));
  return out;
}

EmbeddedStore::EmbeddedStore(std::optional<fs::path> dir)
    : dir_(std::move(dir)), session_id_(new_session_id()) {
  tree_["/"] = Entry{};
}

std::unique_ptr<EmbeddedStore> EmbeddedStore::in_memory() {
  return std::unique_ptr<EmbeddedStore>(new EmbeddedStore(std::nullopt));
}

Result<std::unique_ptr<EmbeddedStore>> EmbeddedStore::open(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    log()->error("cannot create coordination store directory {}: {}", dir.string(), ec.message());
    return CoordErrc::kStorage;
  }
  std::unique_ptr<EmbeddedStore> store(new EmbeddedStore(dir));
  if (auto res = store->load(); !res) return res.error();
  if (auto res = store->open_journal(); !res) return res.error();
  // Start every run from a fresh snapshot and an empty journal: opening stays
  // bounded by the snapshot's size, and a torn tail is gone for good.
  std::lock_guard lock(store->mu_);
  if (auto res = store->fold_journal(); !res) return res.error();
  return store;
}

EmbeddedStore::~EmbeddedStore() {
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

// ---------------------------------------------------------------- snapshot

Result<void> EmbeddedStore::load() {
  const fs::path path = *dir_ / kSnapshotName;
  std::ifstream in(path, std::ios::binary);
  if (!in) {  // a new store, or one that crashed before its first snapshot
    Tree tree = tree_;
    int64_t zxid = zxid_;
    if (auto res = replay_journal(tree, zxid); !res) return res;
    if (auto res = link_children(tree, *dir_); !res) return res;
    tree_ = std::move(tree);
    zxid_ = zxid;
    return {};
  }
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  snapshot_bytes_ = bytes.size();
  if (bytes.size() < sizeof(kMagic) + 4 ||
      !std::equal(kMagic, kMagic + sizeof(kMagic), bytes.begin())) {
    log()->error("{}: not a keel coordination snapshot", path.string());
    return CoordErrc::kCorrupt;
  }
  const size_t body = bytes.size() - 4;
  if (crc32c(ByteView(bytes.data(), body)) != load_be<uint32_t>(bytes.data() + body)) {
    log()->error("{}: checksum mismatch", path.string());
    return CoordErrc::kCorrupt;
  }
  ByteReader r(ByteView(bytes.data() + sizeof(kMagic), body - sizeof(kMagic)));
  Tree tree;
  const int64_t zxid = r.read_i64();
  const uint64_t count = r.read_u64();
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    auto path_view = r.read_view(r.read_u32());
    std::string node(as_string_view(path_view));
    tree[std::move(node)] = read_entry(r);
  }
  if (!r.ok() || !r.at_end() || !tree.count("/")) {
    log()->error("{}: malformed snapshot", path.string());
    return CoordErrc::kCorrupt;
  }
  int64_t zxid_now = zxid;
  if (auto res = replay_journal(tree, zxid_now); !res) return res;
  if (auto res = link_children(tree, *dir_); !res) return res;
  tree_ = std::move(tree);
  zxid_ = zxid_now;
  return {};
}

Result<void> EmbeddedStore::replay_journal(Tree& tree, int64_t& zxid) {
  const fs::path path = *dir_ / kJournalName;
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = 0;
  int replayed = 0;
  while (bytes.size() - at >= kRecordHeader) {
    const uint32_t len = load_be<uint32_t>(bytes.data() + at);
    const uint32_t crc = load_be<uint32_t>(bytes.data() + at + 4);
    if (len > bytes.size() - at - kRecordHeader) break;  // torn: the append did not finish
    ByteView body(bytes.data() + at + kRecordHeader, len);
    if (crc32c(body) != crc) break;  // torn or damaged: nothing after it is trusted
    ByteReader r(body);
    const int64_t rec_zxid = r.read_i64();
    const uint32_t count = r.read_u32();
    Changes changes;
    for (uint32_t i = 0; i < count && r.ok(); ++i) {
      const bool present = r.read_u8() != 0;
      std::string node(as_string_view(r.read_view(r.read_u32())));
      if (present) changes[std::move(node)] = read_entry(r);
      else changes[std::move(node)] = std::nullopt;
    }
    if (!r.ok() || !r.at_end()) {
      log()->error("{}: malformed record at byte {}", path.string(), at);
      return CoordErrc::kCorrupt;
    }
    if (rec_zxid > zxid) {  // older ones are already in the snapshot
      for (auto& [node, e] : changes) {
        if (e) tree[node] = std::move(*e);
        else tree.erase(node);
      }
      zxid = rec_zxid;
      ++replayed;
    }
    at += kRecordHeader + len;
  }
  if (at < bytes.size()) {
    log()->warn("{}: {} bytes after the last whole record dropped (an append cut short by a crash)",
                path.string(), bytes.size() - at);
  }
  if (replayed) log()->info("{}: {} changes replayed", path.string(), replayed);
  return {};
}

// Children sets and counts from the paths (the files keep neither); every
// node but the root needs its parent.
Result<void> EmbeddedStore::link_children(Tree& tree, const fs::path& dir) {
  for (auto& [p, e] : tree) e.children.clear();
  for (auto& [p, e] : tree) {
    if (p == "/") continue;
    auto parent = tree.find(parent_of(p));
    if (parent == tree.end()) {
      log()->error("{}: node {} has no parent", dir.string(), p);
      return CoordErrc::kCorrupt;
    }
    parent->second.children.insert(name_of(p));
  }
  for (auto& [p, e] : tree) e.stat.num_children = static_cast<int32_t>(e.children.size());
  return {};
}

Result<void> EmbeddedStore::open_journal() {
  const fs::path path = *dir_ / kJournalName;
  const bool existed = fs::exists(path);
  journal_fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (journal_fd_ < 0) {
    log()->error("cannot open {}: {}", path.string(), std::strerror(errno));
    return CoordErrc::kStorage;
  }
  if (!existed) fsync_dir(*dir_);
  journal_bytes_ = static_cast<uint64_t>(::lseek(journal_fd_, 0, SEEK_END));
  return {};
}

Result<void> EmbeddedStore::append_journal(const Changes& changes, int64_t zxid) {
  ByteWriter w;
  w.reserve_bytes(kRecordHeader);
  w.write_i64(zxid);
  const size_t count_at = w.reserve_bytes(4);
  uint32_t count = 0;
  for (const auto& [node, e] : changes) {
    if (e) {
      if (e->stat.ephemeral_owner != 0) continue;
      w.write_u8(1);
      write_entry(w, node, *e);
    } else {
      auto old = tree_.find(node);
      if (old == tree_.end() || old->second.stat.ephemeral_owner != 0) continue;  // never persisted
      w.write_u8(0);
      w.write_u32(static_cast<uint32_t>(node.size()));
      w.write_bytes(node);
    }
    ++count;
  }
  if (count == 0) return {};
  if (journal_broken_) return CoordErrc::kStorage;
  w.patch_be<uint32_t>(count_at, count);
  const size_t body = w.buffer().size() - kRecordHeader;
  w.patch_be<uint32_t>(0, static_cast<uint32_t>(body));
  w.patch_be<uint32_t>(4, crc32c(ByteView(w.buffer().data() + kRecordHeader, body)));
  if (!write_all(journal_fd_, w.buffer()) || ::fdatasync(journal_fd_) != 0) {
    const int err = errno;
    log()->error("cannot append to {}: {}", (*dir_ / kJournalName).string(), std::strerror(err));
    // Cut the partial record off, or a later record would sit behind it and be lost on replay.
    if (::ftruncate(journal_fd_, static_cast<off_t>(journal_bytes_)) != 0) journal_broken_ = true;
    return CoordErrc::kStorage;
  }
  journal_bytes_ += w.buffer().size();
  return {};
}

Result<void> EmbeddedStore::fold_journal() {
  if (auto res = persist(tree_, zxid_); !res) return res;
  // The snapshot holds every record now; a crash before the truncation only
  // leaves records the next open skips (their zxids are not newer).
  if (::ftruncate(journal_fd_, 0) != 0 || ::fsync(journal_fd_) != 0) {
    log()->error("cannot empty {}: {}", (*dir_ / kJournalName).string(), std::strerror(errno));
    return CoordErrc::kStorage;
  }
  journal_bytes_ = 0;
  return {};
}

Result<void> EmbeddedStore::persist(const Tree& tree, int64_t zxid) {
  if (!dir_) return {};
  ByteWriter w;
  w.write_bytes(ByteView(reinterpret_cast<const uint8_t*>(kMagic), sizeof(kMagic)));
  w.write_i64(zxid);
  const size_t count_at = w.reserve_bytes(8);
  uint64_t count = 0;
  for (const auto& [path, e] : tree) {
    if (e.stat.ephemeral_owner != 0) continue;
    write_entry(w, path, e);
    ++count;
  }
  w.patch_be<uint64_t>(count_at, count);
  w.write_u32(crc32c(ByteView(w.buffer())));

  const fs::path tmp = *dir_ / (std::string(kSnapshotName) + ".tmp");
  const fs::path final_path = *dir_ / kSnapshotName;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    log()->error("cannot write {}: {}", tmp.string(), std::strerror(errno));
    return CoordErrc::kStorage;
  }
  const bool ok = write_all(fd, w.buffer()) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    log()->error("cannot write {}: {}", tmp.string(), std::strerror(err));
    ::unlink(tmp.c_str());
    return CoordErrc::kStorage;
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    log()->error("cannot rename {}: {}", tmp.string(), std::strerror(errno));
    return CoordErrc::kStorage;
  }
  fsync_dir(*dir_);
  snapshot_bytes_ = w.buffer().size();
  return {};
}

// ------------------------------------------------------------------ watches

void EmbeddedStore::collect(std::multimap<std::string, Watch>& watches, const std::string& path,
                            EventType type, std::vector<Fired>& out) {
  auto [lo, hi] = watches.equal_range(path);
  for (auto it = lo; it != hi; ++it) out.push_back({std::move(it->second), {type, path}});
  watches.erase(lo, hi);
}

void EmbeddedStore::fire(std::vector<Fired>& fired) {
  for (auto& f : fired) f.watch(f.event);
}

// --------------------------------------------------------------- mutations

namespace {

// The nodes one change touches, staged over the live tree: reads see the
// change's own writes, and nothing reaches the tree until every op passed.
class Overlay {
 public:
  using Entry = EmbeddedStore::Entry;
  Overlay(const std::map<std::string, Entry>& base, std::map<std::string, std::optional<Entry>>& changes)
      : base_(base), changes_(changes) {}

  // The node to change (copied from the tree on first touch), or nullptr.
  Entry* find(const std::string& path) {
    auto it = changes_.find(path);
    if (it != changes_.end()) return it->second ? &*it->second : nullptr;
    auto b = base_.find(path);
    if (b == base_.end()) return nullptr;
    return &*(changes_[path] = b->second);
  }
  bool contains(const std::string& path) const {
    auto it = changes_.find(path);
    if (it != changes_.end()) return it->second.has_value();
    return base_.count(path) != 0;
  }
  void put(const std::string& path, Entry e) { changes_[path] = std::move(e); }
  void erase(const std::string& path) { changes_[path] = std::nullopt; }

 private:
  const std::map<std::string, Entry>& base_;
  std::map<std::string, std::optional<Entry>>& changes_;
};

}  // namespace

Result<std::vector<OpResult>> EmbeddedStore::apply(std::span<const Op> ops) {
  std::vector<Fired> fired;
  std::vector<OpResult> results;
  {
    std::lock_guard lock(mu_);
    Changes changes;
    Overlay tree(tree_, changes);
    const int64_t zxid = zxid_ + 1;
    const int64_t now = now_ms();
    struct Event {
      std::string path;
      EventType type;
    };
    std::vector<Event> events;

    for (const auto& op : ops) {
      if (!valid_path(op.path)) return CoordErrc::kInvalidPath;
      OpResult result;
      switch (op.kind) {
        case Op::Kind::kCreate: {
          if (op.path == "/") return CoordErrc::kNodeExists;
          Entry* parent = tree.find(parent_of(op.path));
          if (!parent) return CoordErrc::kNoNode;
          if (parent->stat.ephemeral_owner != 0) return CoordErrc::kEphemeralParent;
          std::string path = op.path;
          if (is_sequential(op.mode)) {
            char suffix[16];
            std::snprintf(suffix, sizeof(suffix), "%010d", parent->stat.cversion);
            path += suffix;
          }
          if (tree.contains(path)) return CoordErrc::kNodeExists;
          Entry e;
          e.data = op.data;
          e.stat.czxid = e.stat.mzxid = zxid;
          e.stat.ctime_ms = e.stat.mtime_ms = now;
          e.stat.ephemeral_owner = is_ephemeral(op.mode) ? session_id_ : 0;
          parent->children.insert(name_of(path));
          parent->stat.cversion++;
          parent->stat.num_children = static_cast<int32_t>(parent->children.size());
          tree.put(path, std::move(e));
          events.push_back({path, EventType::kCreated});
          events.push_back({parent_of(path), EventType::kChildrenChanged});
          result.path = path;
          break;
        }
        case Op::Kind::kDelete: {
          if (op.path == "/") return CoordErrc::kInvalidPath;
          Entry* node = tree.find(op.path);
          if (!node) return CoordErrc::kNoNode;
          if (op.version != -1 && op.version != node->stat.version) return CoordErrc::kBadVersion;
          if (!node->children.empty()) return CoordErrc::kNotEmpty;
          Entry* parent = tree.find(parent_of(op.path));
          parent->children.erase(name_of(op.path));
          parent->stat.cversion++;
          parent->stat.num_children = static_cast<int32_t>(parent->children.size());
          tree.erase(op.path);
          events.push_back({op.path, EventType::kDeleted});
          events.push_back({parent_of(op.path), EventType::kChildrenChanged});
          result.path = op.path;
          break;
        }
        case Op::Kind::kSetData: {
          Entry* node = tree.find(op.path);
          if (!node) return CoordErrc::kNoNode;
          if (op.version != -1 && op.version != node->stat.version) return CoordErrc::kBadVersion;
          node->data = op.data;
          node->stat.version++;
          node->stat.mzxid = zxid;
          node->stat.mtime_ms = now;
          events.push_back({op.path, EventType::kDataChanged});
          result.path = op.path;
          result.stat = node->stat;
          break;
        }
        case Op::Kind::kCheck: {
          Entry* node = tree.find(op.path);
          if (!node) return CoordErrc::kNoNode;
          if (op.version != -1 && op.version != node->stat.version) return CoordErrc::kBadVersion;
          result.path = op.path;
          result.stat = node->stat;
          break;
        }
      }
      results.push_back(std::move(result));
    }

    // Durable before visible: the journal record first, then the live tree.
    if (dir_) {
      if (auto res = append_journal(changes, zxid); !res) return res.error();
    }
    for (auto& [path, e] : changes) {
      if (e) tree_[path] = std::move(*e);
      else tree_.erase(path);
    }
    zxid_ = zxid;
    if (dir_ && journal_bytes_ > std::max<uint64_t>(kJournalFoldBytes, 2 * snapshot_bytes_)) {
      // The change is durable in the journal already; a failed fold only
      // leaves a longer journal, so it is logged, not returned.
      if (auto res = fold_journal(); !res) log()->warn("folding the coordination journal failed; retried later");
    }

    for (const auto& e : events) {
      switch (e.type) {
        case EventType::kCreated:
          collect(exist_watches_, e.path, EventType::kCreated, fired);
          break;
        case EventType::kDeleted:
          collect(data_watches_, e.path, EventType::kDeleted, fired);
          collect(exist_watches_, e.path, EventType::kDeleted, fired);
          collect(child_watches_, e.path, EventType::kDeleted, fired);
          break;
        case EventType::kDataChanged:
          collect(data_watches_, e.path, EventType::kDataChanged, fired);
          break;
        case EventType::kChildrenChanged:
          collect(child_watches_, e.path, EventType::kChildrenChanged, fired);
          break;
      }
    }
  }
  fire(fired);
  return results;
}

Result<std::string> EmbeddedStore::create(const std::string& path, ByteView data, CreateMode mode) {
  const Op op = Op::create(path, Bytes(data.begin(), data.end()), mode);
  auto res = apply(std::span<const Op>(&op, 1));
  if (!res) return res.error();
  return std::move(res->front().path);
}

Result<Stat> EmbeddedStore::set(const std::string& path, ByteView data, int32_t version) {
  const Op op = Op::set(path, Bytes(data.begin(), data.end()), version);
  auto res = apply(std::span<const Op>(&op, 1));
  if (!res) return res.error();
  return res->front().stat;
}

Result<void> EmbeddedStore::remove(const std::string& path, int32_t version) {
  const Op op = Op::remove(path, version);
  auto res = apply(std::span<const Op>(&op, 1));
  if (!res) return res.error();
  return {};
}

Result<std::vector<OpResult>> EmbeddedStore::multi(std::span<const Op> ops) { return apply(ops); }

// ------------------------------------------------------------------- reads

Result<Node> EmbeddedStore::get(const std::string& path, Watch watch) {
  if (!valid_path(path)) return CoordErrc::kInvalidPath;
  std::lock_guard lock(mu_);
  auto it = tree_.find(path);
  if (it == tree_.end()) return CoordErrc::kNoNode;
  if (watch) data_watches_.emplace(path, std::move(watch));
  return Node{it->second.data, it->second.stat};
}

Result<std::optional<Stat>> EmbeddedStore::exists(const std::string& path, Watch watch) {
  if (!valid_path(path)) return CoordErrc::kInvalidPath;
  std::lock_guard lock(mu_);
  auto it = tree_.find(path);
  if (it == tree_.end()) {
    if (watch) exist_watches_.emplace(path, std::move(watch));
    return std::optional<Stat>();
  }
  if (watch) data_watches_.emplace(path, std::move(watch));
  return std::optional<Stat>(it->second.stat);
}

Result<std::vector<std::string>> EmbeddedStore::children(const std::string& path, Watch watch) {
  if (!valid_path(path)) return CoordErrc::kInvalidPath;
  std::lock_guard lock(mu_);
  auto it = tree_.find(path);
  if (it == tree_.end()) return CoordErrc::kNoNode;
  if (watch) child_watches_.emplace(path, std::move(watch));
  return std::vector<std::string>(it->second.children.begin(), it->second.children.end());
}

// ----------------------------------------------------------------- session

void EmbeddedStore::expire_session() {
  std::vector<Op> ops;
  {
    std::lock_guard lock(mu_);
    for (const auto& [path, e] : tree_) {
      if (e.stat.ephemeral_owner == session_id_) ops.push_back(Op::remove(path));
    }
  }
  if (!ops.empty()) {
    auto res = apply(ops);
    if (!res) log()->error("expiring session {}: {}", session_id_, res.error().message());
  }
  std::lock_guard lock(mu_);
  session_id_ = new_session_id();
}

}  // namespace keel::coord
