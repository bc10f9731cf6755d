#include "coord/embedded_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "common/crc32c.h"
#include "common/log.h"

namespace keel::coord {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'K', 'E', 'E', 'L', 'C', 'R', 'D', '1'};
constexpr const char* kSnapshotName = "coord.snapshot";

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
  return store;
}

// ---------------------------------------------------------------- snapshot

Result<void> EmbeddedStore::load() {
  const fs::path path = *dir_ / kSnapshotName;
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};  // a new store
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
    auto data_view = r.read_view(r.read_u32());
    Entry e;
    e.data.assign(data_view.begin(), data_view.end());
    e.stat.czxid = r.read_i64();
    e.stat.mzxid = r.read_i64();
    e.stat.ctime_ms = r.read_i64();
    e.stat.mtime_ms = r.read_i64();
    e.stat.version = r.read_i32();
    e.stat.cversion = r.read_i32();
    tree[std::string(as_string_view(path_view))] = std::move(e);
  }
  if (!r.ok() || !r.at_end() || !tree.count("/")) {
    log()->error("{}: malformed snapshot", path.string());
    return CoordErrc::kCorrupt;
  }
  for (auto& [p, e] : tree) {
    if (p == "/") continue;
    auto parent = tree.find(parent_of(p));
    if (parent == tree.end()) {
      log()->error("{}: node {} has no parent", path.string(), p);
      return CoordErrc::kCorrupt;
    }
    parent->second.children.insert(name_of(p));
  }
  for (auto& [p, e] : tree) e.stat.num_children = static_cast<int32_t>(e.children.size());
  tree_ = std::move(tree);
  zxid_ = zxid;
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
  const Bytes& buf = w.buffer();
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == buf.size() && ::fsync(fd) == 0;
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
  int dfd = ::open(dir_->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
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

Result<std::vector<OpResult>> EmbeddedStore::apply(std::span<const Op> ops) {
  std::vector<Fired> fired;
  std::vector<OpResult> results;
  {
    std::lock_guard lock(mu_);
    // Applied to a copy: all ops or none, and the live tree never holds a
    // half-applied transaction.
    Tree tree = tree_;
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
          auto parent = tree.find(parent_of(op.path));
          if (parent == tree.end()) return CoordErrc::kNoNode;
          if (parent->second.stat.ephemeral_owner != 0) return CoordErrc::kEphemeralParent;
          std::string path = op.path;
          if (is_sequential(op.mode)) {
            char suffix[16];
            std::snprintf(suffix, sizeof(suffix), "%010d", parent->second.stat.cversion);
            path += suffix;
          }
          if (tree.count(path)) return CoordErrc::kNodeExists;
          Entry e;
          e.data = op.data;
          e.stat.czxid = e.stat.mzxid = zxid;
          e.stat.ctime_ms = e.stat.mtime_ms = now;
          e.stat.ephemeral_owner = is_ephemeral(op.mode) ? session_id_ : 0;
          parent->second.children.insert(name_of(path));
          parent->second.stat.cversion++;
          parent->second.stat.num_children = static_cast<int32_t>(parent->second.children.size());
          tree[path] = std::move(e);
          events.push_back({path, EventType::kCreated});
          events.push_back({parent_of(path), EventType::kChildrenChanged});
          result.path = path;
          break;
        }
        case Op::Kind::kDelete: {
          if (op.path == "/") return CoordErrc::kInvalidPath;
          auto it = tree.find(op.path);
          if (it == tree.end()) return CoordErrc::kNoNode;
          if (op.version != -1 && op.version != it->second.stat.version) return CoordErrc::kBadVersion;
          if (!it->second.children.empty()) return CoordErrc::kNotEmpty;
          auto& parent = tree[parent_of(op.path)];
          parent.children.erase(name_of(op.path));
          parent.stat.cversion++;
          parent.stat.num_children = static_cast<int32_t>(parent.children.size());
          tree.erase(it);
          events.push_back({op.path, EventType::kDeleted});
          events.push_back({parent_of(op.path), EventType::kChildrenChanged});
          result.path = op.path;
          break;
        }
        case Op::Kind::kSetData: {
          auto it = tree.find(op.path);
          if (it == tree.end()) return CoordErrc::kNoNode;
          if (op.version != -1 && op.version != it->second.stat.version) return CoordErrc::kBadVersion;
          it->second.data = op.data;
          it->second.stat.version++;
          it->second.stat.mzxid = zxid;
          it->second.stat.mtime_ms = now;
          events.push_back({op.path, EventType::kDataChanged});
          result.path = op.path;
          result.stat = it->second.stat;
          break;
        }
        case Op::Kind::kCheck: {
          auto it = tree.find(op.path);
          if (it == tree.end()) return CoordErrc::kNoNode;
          if (op.version != -1 && op.version != it->second.stat.version) return CoordErrc::kBadVersion;
          result.path = op.path;
          result.stat = it->second.stat;
          break;
        }
      }
      results.push_back(std::move(result));
    }

    bool touches_persistent = false;
    for (const auto& e : events) {
      auto it = tree.find(e.path);
      auto old = tree_.find(e.path);
      const bool eph = (it != tree.end() && it->second.stat.ephemeral_owner != 0) ||
                       (old != tree_.end() && old->second.stat.ephemeral_owner != 0);
      if (!eph || e.type == EventType::kChildrenChanged) touches_persistent = true;
    }
    if (touches_persistent) {
      if (auto res = persist(tree, zxid); !res) return res.error();
    }
    tree_ = std::move(tree);
    zxid_ = zxid;

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
