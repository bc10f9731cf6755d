#include "coord/zookeeper_store.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>

#include "common/log.h"

namespace keel::coord {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("coord");
  return l;
}

std::error_code from_zk(int rc) {
  switch (rc) {
    case ZNONODE: return CoordErrc::kNoNode;
    case ZNODEEXISTS: return CoordErrc::kNodeExists;
    case ZBADVERSION: return CoordErrc::kBadVersion;
    case ZNOTEMPTY: return CoordErrc::kNotEmpty;
    case ZBADARGUMENTS: return CoordErrc::kInvalidPath;
    case ZNOCHILDRENFOREPHEMERALS: return CoordErrc::kEphemeralParent;
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE: return CoordErrc::kSessionExpired;
    default: return CoordErrc::kConnectionLoss;
  }
}

Stat from_zk(const ::Stat& s) {
  Stat out;
  out.czxid = s.czxid;
  out.mzxid = s.mzxid;
  out.ctime_ms = s.ctime;
  out.mtime_ms = s.mtime;
  out.version = s.version;
  out.cversion = s.cversion;
  out.ephemeral_owner = s.ephemeralOwner;
  out.num_children = s.numChildren;
  return out;
}

int zk_flags(CreateMode mode) {
  switch (mode) {
    case CreateMode::kPersistent: return 0;
    case CreateMode::kEphemeral: return ZOO_EPHEMERAL;
    case CreateMode::kPersistentSequential: return ZOO_SEQUENCE;
    case CreateMode::kEphemeralSequential: return ZOO_EPHEMERAL | ZOO_SEQUENCE;
  }
  return 0;
}

// Watches are handed to the C client as an integer id, never as a pointer:
// a watch that never fires (its store closed first) leaves nothing dangling.
// The registry is global because the C callback has only the context value.
struct WatchRegistry {
  std::mutex mu;
  uint64_t next_id = 1;
  std::map<uint64_t, Watch> watches;

  void* add(Watch w) {
    std::lock_guard lock(mu);
    const uint64_t id = next_id++;
    watches.emplace(id, std::move(w));
    return reinterpret_cast<void*>(static_cast<uintptr_t>(id));
  }
  std::optional<Watch> take(void* ctx) {
    std::lock_guard lock(mu);
    auto it = watches.find(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(ctx)));
    if (it == watches.end()) return std::nullopt;
    Watch w = std::move(it->second);
    watches.erase(it);
    return w;
  }
  void drop(void* ctx) { (void)take(ctx); }
};

WatchRegistry& registry() {
  static WatchRegistry* r = new WatchRegistry;  // outlives every client thread
  return *r;
}

void node_watcher(zhandle_t*, int type, int /*state*/, const char* path, void* ctx) {
  if (type == ZOO_SESSION_EVENT) return;  // the session watcher reports those
  auto w = registry().take(ctx);
  if (!w) return;
  EventType event;
  if (type == ZOO_CREATED_EVENT) {
    event = EventType::kCreated;
  } else if (type == ZOO_DELETED_EVENT) {
    event = EventType::kDeleted;
  } else if (type == ZOO_CHANGED_EVENT) {
    event = EventType::kDataChanged;
  } else if (type == ZOO_CHILD_EVENT) {
    event = EventType::kChildrenChanged;
  } else {
    return;
  }
  (*w)(WatchEvent{event, path ? path : ""});
}

}  // namespace

struct ZooKeeperStore::Impl {
  std::string connect_string;
  int session_timeout_ms = 18000;
  std::chrono::milliseconds connect_timeout{18000};

  std::mutex mu;
  std::condition_variable cv;
  zhandle_t* zh = nullptr;
  int state = 0;
  SessionListener listener;

  static void session_watcher(zhandle_t*, int type, int state, const char*, void* ctx) {
    if (type != ZOO_SESSION_EVENT) return;
    auto* self = static_cast<Impl*>(ctx);
    SessionListener listener;
    {
      std::lock_guard lock(self->mu);
      self->state = state;
      listener = self->listener;
    }
    self->cv.notify_all();
    if (state == ZOO_CONNECTED_STATE) {
      if (listener) listener(SessionEvent::kConnected);
    } else if (state == ZOO_EXPIRED_SESSION_STATE) {
      log()->warn("ZooKeeper session expired ({})", self->connect_string);
      if (listener) listener(SessionEvent::kExpired);
    } else if (state == ZOO_CONNECTING_STATE) {
      if (listener) listener(SessionEvent::kDisconnected);
    }
  }

  // The ZooKeeper client's own messages (errors only: see connect) go to
  // Keel's log, not to stderr, which nobody may be reading.
  static void client_message(const char* message) { log()->warn("zookeeper client: {}", message); }

  Result<void> open() {
    std::unique_lock lock(mu);
    state = 0;
    zh = zookeeper_init2(connect_string.c_str(), &Impl::session_watcher, session_timeout_ms,
                         nullptr, this, 0, &Impl::client_message);
    if (!zh) {
      log()->error("cannot start a ZooKeeper client for {}", connect_string);
      return CoordErrc::kConnectionLoss;
    }
    if (!cv.wait_for(lock, connect_timeout, [&] { return state == ZOO_CONNECTED_STATE; })) {
      log()->error("no ZooKeeper session with {} within {} ms", connect_string,
                   connect_timeout.count());
      zhandle_t* h = zh;
      zh = nullptr;
      lock.unlock();
      zookeeper_close(h);
      return CoordErrc::kConnectionLoss;
    }
    log()->info("ZooKeeper session 0x{:x} with {}", zoo_client_id(zh)->client_id, connect_string);
    return {};
  }

  void close() {
    zhandle_t* h;
    {
      std::lock_guard lock(mu);
      h = zh;
      zh = nullptr;
    }
    cv.notify_all();  // nobody waits for this session any more
    if (h) zookeeper_close(h);
  }

  zhandle_t* handle() {
    std::lock_guard lock(mu);
    return zh;
  }

  // The handle for a request. While the client is reconnecting (ZooKeeper
  // restarting, a network blip) the request waits for the connection, up to
  // the connection timeout, as Kafka's ZooKeeper client does before it sends
  // (KafkaZkClient's retryRequestsUntilConnected): a ZooKeeper restart is a
  // pause for the controller and for admin requests, not an error. An expired
  // or closed session does not wait; the request then fails as it would.
  zhandle_t* connected_handle() {
    std::unique_lock lock(mu);
    if (zh && !no_waits && state != ZOO_CONNECTED_STATE && state != ZOO_EXPIRED_SESSION_STATE) {
      cv.wait_for(lock, connect_timeout, [&] {
        return !zh || no_waits || state == ZOO_CONNECTED_STATE || state == ZOO_EXPIRED_SESSION_STATE ||
               state == ZOO_AUTH_FAILED_STATE;
      });
    }
    return zh;
  }
  bool no_waits = false;  // stop_waiting() was called
};

ZooKeeperStore::ZooKeeperStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ZooKeeperStore::~ZooKeeperStore() { impl_->close(); }

Result<std::unique_ptr<ZooKeeperStore>> ZooKeeperStore::connect(
    const std::string& connect_string, std::chrono::milliseconds session_timeout,
    std::chrono::milliseconds connect_timeout) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR); });
  auto impl = std::make_unique<Impl>();
  impl->connect_string = connect_string;
  impl->session_timeout_ms = static_cast<int>(session_timeout.count());
  impl->connect_timeout = connect_timeout;
  if (auto res = impl->open(); !res) return res.error();
  return std::unique_ptr<ZooKeeperStore>(new ZooKeeperStore(std::move(impl)));
}

void ZooKeeperStore::set_session_listener(SessionListener listener) {
  std::lock_guard lock(impl_->mu);
  impl_->listener = std::move(listener);
}

Result<void> ZooKeeperStore::reconnect() {
  impl_->close();
  return impl_->open();
}

void ZooKeeperStore::stop_waiting() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->no_waits = true;
  }
  impl_->cv.notify_all();
}

int64_t ZooKeeperStore::session_id() const {
  zhandle_t* zh = impl_->handle();
  return zh ? zoo_client_id(zh)->client_id : 0;
}

Result<std::string> ZooKeeperStore::create(const std::string& path, ByteView data,
                                           CreateMode mode) {
  zhandle_t* zh = impl_->connected_handle();
  if (!zh) return CoordErrc::kSessionExpired;
  std::string created(path.size() + 16, '\0');
  const int rc = zoo_create(zh, path.c_str(), reinterpret_cast<const char*>(data.data()),
                            static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE, zk_flags(mode),
                            created.data(), static_cast<int>(created.size()));
  if (rc != ZOK) return from_zk(rc);
  created.resize(std::strlen(created.c_str()));
  return created;
}

Result<Node> ZooKeeperStore::get(const std::string& path, Watch watch) {
  zhandle_t* zh = impl_->connected_handle();
  if (!zh) return CoordErrc::kSessionExpired;
  // The data may grow between asking its size and reading it: retry then.
  int capacity = 1024;
  for (int attempt = 0; attempt < 8; ++attempt) {
    Node node;
    node.data.resize(static_cast<size_t>(capacity));
    int len = capacity;
    ::Stat stat{};
    void* ctx = watch ? registry().add(watch) : nullptr;
    const int rc = zoo_wget(zh, path.c_str(), watch ? &node_watcher : nullptr, ctx,
                            reinterpret_cast<char*>(node.data.data()), &len, &stat);
    if (rc != ZOK) {
      if (ctx) registry().drop(ctx);
      return from_zk(rc);
    }
    if (stat.dataLength <= capacity) {
      node.data.resize(static_cast<size_t>(std::max(len, 0)));
      node.stat = from_zk(stat);
      return node;
    }
    // Too small: the watch set by this read stays registered with the server
    // and may fire once for nothing; drop ours and read again.
    if (ctx) registry().drop(ctx);
    capacity = stat.dataLength;
  }
  return CoordErrc::kConnectionLoss;
}

Result<Stat> ZooKeeperStore::set(const std::string& path, ByteView data, int32_t version) {
  zhandle_t* zh = impl_->connected_handle();
  if (!zh) return CoordErrc::kSessionExpired;
  ::Stat stat{};
  const int rc = zoo_set2(zh, path.c_str(), reinterpret_cast<const char*>(data.data()),
                          static_cast<int>(data.size()), version, &stat);
  if (rc != ZOK) return from_zk(rc);
  return from_zk(stat);
}

Result<void> ZooKeeperStore::remove(const std::string& path, int32_t version) {
  zhandle_t* zh = impl_->connected_handle();
  if (!zh) return CoordErrc::kSessionExpired;
  const int rc = zoo_delete(zh, path.c_str(), version);
  if (rc != ZOK) return from_zk(rc);
  return {};
}

Result<std::optional<Stat>> ZooKeeperStore::exists(const std::string& path, Watch watch) {
  zhandle_t* zh = impl_->connected_handle();
  if (!zh) return CoordErrc::kSessionExpired;
  ::Stat stat{};
  void* ctx = watch ? registry().add(watch) : nullptr;
  const int rc = zoo_wexists(zh, path.c_str(), watch ? &node_watcher : nullptr, ctx, &stat);
  if (rc == ZNONODE) return std::optional<Stat>();  // the watch now waits for creation
  if (rc != ZOK) {
    if (ctx) registry().drop(ctx);
    return from_zk(rc);
  }
  return std::optional<Stat>(from_zk(stat));
}

Result<std::vector<std::string>> ZooKeeperStore::children(const std::string& path, Watch watch) {
  zhandle_t* zh = impl_->connected_handle();
  if (!zh) return CoordErrc::kSessionExpired;
  String_vector names{};
  void* ctx = watch ? registry().add(watch) : nullptr;
  const int rc =
      zoo_wget_children(zh, path.c_str(), watch ? &node_watcher : nullptr, ctx, &names);
  if (rc != ZOK) {
    if (ctx) registry().drop(ctx);
    return from_zk(rc);
  }
  std::vector<std::string> out;
  for (int i = 0; i < names.count; ++i) out.emplace_back(names.data[i]);
  deallocate_String_vector(&names);
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<OpResult>> ZooKeeperStore::multi(std::span<const Op> ops) {
  zhandle_t* zh = impl_->connected_handle();
  if (!zh) return CoordErrc::kSessionExpired;
  if (ops.empty()) return std::vector<OpResult>{};
  const size_t n = ops.size();
  std::vector<zoo_op_t> zops(n);
  std::vector<zoo_op_result_t> results(n);
  std::vector<std::string> paths(n);
  std::vector<::Stat> stats(n);
  for (size_t i = 0; i < n; ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case Op::Kind::kCreate:
        paths[i].assign(op.path.size() + 16, '\0');
        zoo_create_op_init(&zops[i], op.path.c_str(), reinterpret_cast<const char*>(op.data.data()),
                           static_cast<int>(op.data.size()), &ZOO_OPEN_ACL_UNSAFE,
                           zk_flags(op.mode), paths[i].data(), static_cast<int>(paths[i].size()));
        break;
      case Op::Kind::kDelete:
        zoo_delete_op_init(&zops[i], op.path.c_str(), op.version);
        break;
      case Op::Kind::kSetData:
        zoo_set_op_init(&zops[i], op.path.c_str(), reinterpret_cast<const char*>(op.data.data()),
                        static_cast<int>(op.data.size()), op.version, &stats[i]);
        break;
      case Op::Kind::kCheck:
        zoo_check_op_init(&zops[i], op.path.c_str(), op.version);
        break;
    }
  }
  const int rc = zoo_multi(zh, static_cast<int>(n), zops.data(), results.data());
  if (rc != ZOK) {
    // The failing op carries the reason; the others say "rolled back".
    for (const auto& r : results) {
      if (r.err != ZOK && r.err != ZRUNTIMEINCONSISTENCY) return from_zk(r.err);
    }
    return from_zk(rc);
  }
  std::vector<OpResult> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (ops[i].kind == Op::Kind::kCreate) {
      out[i].path = std::string(paths[i].c_str());
    } else {
      out[i].path = ops[i].path;
    }
    if (ops[i].kind == Op::Kind::kSetData) out[i].stat = from_zk(stats[i]);
  }
  return out;
}

}  // namespace keel::coord
