#include "coord/zookeeper_store.h"

#include <atomic>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>

#include "common/log.h"
#include "coord/kafka_layout.h"

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
    case ZNOAUTH:
    case ZAUTHFAILED:
    case ZINVALIDACL: return CoordErrc::kNoAuth;
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE: return CoordErrc::kSessionExpired;
    default: return CoordErrc::kConnectionLoss;
  }
}

// The answer of a request the connection took with it: ZCONNECTIONLOSS when
// the socket closed or the next connect attempt failed, ZOPERATIONTIMEOUT
// when the server said nothing for 2/3 of the session timeout (the C
// client's receive timeout, which it then treats as a dead connection: a
// network cut that drops packets instead of closing). The C client fails
// every request in flight or queued with that code. The request may or may
// not have been carried out; the session lives on until ZooKeeper expires it.
bool lost_with_connection(int rc) { return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT; }

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

// The ACL a node is created with. Without zookeeper.set.acl everything is
// open, as in Kafka; with it, Kafka's rule (paths::zk_acl_kind). "auth" in
// ZOO_AUTH_IDS stands for every identity this session has authenticated as:
// ZooKeeper writes the digest identity into the node's ACL.
const ACL_vector* acl_for(bool set_acl, std::string_view path) {
  static ACL brokers_write_world_read[2] = {{ZOO_PERM_ALL, ZOO_AUTH_IDS},
                                            {ZOO_PERM_READ, ZOO_ANYONE_ID_UNSAFE}};
  static ACL_vector kBrokersWriteWorldRead{2, brokers_write_world_read};
  if (!set_acl) return &ZOO_OPEN_ACL_UNSAFE;
  switch (paths::zk_acl_kind(path)) {
    case paths::ZkAclKind::kOpen: return &ZOO_OPEN_ACL_UNSAFE;
    case paths::ZkAclKind::kBrokersOnly: return &ZOO_CREATOR_ALL_ACL;
    case paths::ZkAclKind::kBrokersWriteWorldRead: return &kBrokersWriteWorldRead;
  }
  return &ZOO_CREATOR_ALL_ACL;
}

// A node's ACL is more open than its kind allows: world may do more than
// read, or may read where nobody else should.
bool more_open_than(const ACL_vector& acl, paths::ZkAclKind kind) {
  if (kind == paths::ZkAclKind::kOpen) return false;
  for (int i = 0; i < acl.count; ++i) {
    const ACL& a = acl.data[i];
    if (std::strcmp(a.id.scheme, "world") != 0) continue;
    if ((a.perms & ~ZOO_PERM_READ) != 0) return true;
    if (kind == paths::ZkAclKind::kBrokersOnly && a.perms != 0) return true;
  }
  return false;
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

// True on a C client's completion thread, which runs the watches, the
// session listener and every asynchronous completion. get_many must not wait
// there: the answers it would wait for can only come from that thread.
// (Synchronous calls are safe there: their answers come from the I/O thread;
// a call waiting for a lost connection polls the I/O thread's state.)
thread_local bool on_completion_thread = false;

// The answers of one get_many call, shared with its completions: a
// completion that comes after the call gave up waiting (the store closing)
// still finds it.
struct ReadBatch {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<Node>>> answers;
  std::vector<int> rcs;  // each read's ZooKeeper code: a lost read is sent again
  size_t in_flight = 0;
};

struct PendingRead {
  std::shared_ptr<ReadBatch> batch;
  size_t index = 0;
};

void read_done(int rc, const char* value, int value_len, const ::Stat* stat, const void* data) {
  on_completion_thread = true;
  std::unique_ptr<PendingRead> read(static_cast<PendingRead*>(const_cast<void*>(data)));
  std::optional<Result<Node>> answer;
  if (rc == ZOK) {
    Node node;
    if (value && value_len > 0) {
      const auto* bytes = reinterpret_cast<const uint8_t*>(value);
      node.data.assign(bytes, bytes + value_len);
    }
    if (stat) node.stat = from_zk(*stat);
    answer.emplace(std::move(node));
  } else {
    answer.emplace(from_zk(rc));
  }
  ReadBatch& batch = *read->batch;
  {
    std::lock_guard lock(batch.mu);
    batch.answers[read->index] = std::move(answer);
    batch.rcs[read->index] = rc;
    --batch.in_flight;
  }
  batch.cv.notify_all();
}

void node_watcher(zhandle_t*, int type, int /*state*/, const char* path, void* ctx) {
  on_completion_thread = true;
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
  Security security;
  int session_timeout_ms = 18000;
  std::chrono::milliseconds connect_timeout{18000};

  std::mutex mu;
  std::condition_variable cv;
  zhandle_t* zh = nullptr;
  // Counts the handles opened: a handle's address may be reused by the next
  // one (reconnect() closes, then opens), so a request identifies the
  // session it was sent in by this number.
  uint64_t generation = 0;
  std::atomic<uint64_t> disconnections{0};
  int state = 0;
  SessionListener listener;

  static void session_watcher(zhandle_t*, int type, int state, const char*, void* ctx) {
    on_completion_thread = true;
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
      self->disconnections.fetch_add(1, std::memory_order_relaxed);
      if (listener) listener(SessionEvent::kDisconnected);
    }
  }

  // The ZooKeeper client's own messages (errors only: see connect) go to
  // Keel's log, not to stderr, which nobody may be reading.
  static void client_message(const char* message) { log()->warn("zookeeper client: {}", message); }

  Result<void> open() {
    std::unique_lock lock(mu);
    state = 0;
    ++generation;
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
    if (!security.digest.empty()) {
      lock.unlock();
      return authenticate();
    }
    return {};
  }

  // Adds the digest identity to the session and waits for ZooKeeper's
  // answer. ZooKeeper takes any user:password (the identity is its hash), so
  // a wrong password shows only later, as kNoAuth on the cluster's nodes:
  // see check_write_access. The password is never logged.
  Result<void> authenticate() {
    struct Answer {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<int> rc;
    };
    auto answer = std::make_shared<Answer>();
    // The completion may run after a timeout here: it holds its own reference.
    auto* ctx = new std::shared_ptr<Answer>(answer);
    const auto completion = [](int rc, const void* data) {
      auto* held = static_cast<std::shared_ptr<Answer>*>(const_cast<void*>(data));
      {
        std::lock_guard l((*held)->mu);
        (*held)->rc = rc;
      }
      (*held)->cv.notify_all();
      delete held;
    };
    zhandle_t* h = handle();
    const int rc = h ? zoo_add_auth(h, "digest", security.digest.data(),
                                    static_cast<int>(security.digest.size()), completion, ctx)
                     : ZINVALIDSTATE;
    if (rc != ZOK) {
      delete ctx;
      log()->error("cannot authenticate to ZooKeeper at {}: {}", connect_string, zerror(rc));
      return from_zk(rc);
    }
    std::unique_lock l(answer->mu);
    if (!answer->cv.wait_for(l, connect_timeout, [&] { return answer->rc.has_value(); })) {
      log()->error("ZooKeeper at {} did not answer the digest authentication within {} ms", connect_string,
                   connect_timeout.count());
      return CoordErrc::kConnectionLoss;
    }
    if (*answer->rc != ZOK) {
      log()->error("ZooKeeper at {} refused the digest authentication: {}", connect_string, zerror(*answer->rc));
      return CoordErrc::kNoAuth;
    }
    const std::string user = security.digest.substr(0, security.digest.find(':'));
    log()->info("authenticated to ZooKeeper as digest user '{}'{}", user,
                security.set_acl ? "; creating nodes with Kafka's ACLs (zookeeper.set.acl)" : "");
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

  using Clock = std::chrono::steady_clock;

  // How long one call may wait for the connection, in all (before its
  // request and between resends): zookeeper.connection.timeout.ms, Kafka's
  // bound for waiting on a connection and the one the broker's start-up
  // steps use (startup_retry.h). Kafka's KafkaZkClient waits without bound;
  // a bound keeps a handler thread from being held for ever by a ZooKeeper
  // that does not come back. It is not the session timeout: a ZooKeeper
  // that is down expires nobody, and an operator who lengthens the
  // connection timeout to ride out longer restarts means requests too.
  Clock::time_point deadline() const { return Clock::now() + connect_timeout; }

  // How often a waiting request looks at the client's state. The session
  // watcher wakes waiters as soon as it hears of a change, but it runs on
  // the completion thread: a request made there (a watch, the session
  // listener) would never hear it, so the state is polled as well.
  static constexpr std::chrono::milliseconds kStatePoll{50};

  // The handle a request is sent on and which one it is.
  struct Session {
    zhandle_t* h = nullptr;
    uint64_t generation = 0;
  };
  Session session() {
    std::lock_guard lock(mu);
    return {zh, generation};
  }

  // Waits until `session` is connected. ZOK: send the request (again).
  // Otherwise the request's answer: ZSESSIONEXPIRED when that session is
  // gone (expired, closed, or replaced by reconnect(): what it held went
  // with it), ZINVALIDSTATE when ZooKeeper refused its credentials,
  // ZCONNECTIONLOSS when `deadline` passed or stop_waiting() was called.
  // The state read is the I/O thread's own (zoo_state), not `state`, which
  // follows the session events and so lags behind them, and never moves on
  // the completion thread while a request made there waits.
  int await_connected(const Session& session, Clock::time_point deadline, bool after_loss) {
    std::unique_lock lock(mu);
    // After a loss the client may still say connected for a moment: it
    // fails the requests before it marks the connection closed.
    bool pause = after_loss;
    for (;;) {
      if (!session.h || zh != session.h || generation != session.generation) return ZSESSIONEXPIRED;
      // Not closed while it is current under mu: close() clears zh first.
      const int s = zoo_state(session.h);
      if (s == ZOO_EXPIRED_SESSION_STATE) return ZSESSIONEXPIRED;
      if (s == ZOO_AUTH_FAILED_STATE) return ZINVALIDSTATE;
      if (s == ZOO_CONNECTED_STATE && !pause) return ZOK;
      const auto now = Clock::now();
      if (no_waits || now >= deadline) return ZCONNECTIONLOSS;
      cv.wait_until(lock, std::min(deadline, now + kStatePoll));
      pause = false;
    }
  }

  struct Outcome {
    int rc;
    bool resent;  // sent more than once: the first try may have been carried out
  };

  // One synchronous request (`send` makes it on the handle it is given and
  // returns the C client's code) as Kafka's KafkaZkClient makes them
  // (retryRequestsUntilConnected): a request that meets a lost connection
  // waits for the session to be connected again and is sent again, until
  // `deadline`. A ZooKeeper restart or a network blip is a pause for the
  // controller and for admin requests, not an error. An expired session is
  // not waited for: what the request was for went with it.
  template <typename Send>
  Outcome request(const char* what, const std::string& path, Clock::time_point until, Send&& send) {
    const Session current = session();
    bool resent = false;
    for (int attempt = 0;; ++attempt) {
      const int ready = await_connected(current, until, attempt > 0);
      if (ready != ZOK) return {ready, resent};
      resent = attempt > 0;
      const int rc = send(current.h);
      if (!lost_with_connection(rc)) return {rc, resent};
      if (attempt == 0) {
        log()->info("ZooKeeper {} {}: {}; sending it again once the connection is back", what, path, zerror(rc));
      }
    }
  }
  bool no_waits = false;  // stop_waiting() was called

  // get(), with the deadline of the call it is part of.
  Result<Node> read(const std::string& path, const Watch& watch, Clock::time_point until);
};

Result<Node> ZooKeeperStore::Impl::read(const std::string& path, const Watch& watch, Clock::time_point until) {
  // The data may grow between asking its size and reading it: read again then.
  int capacity = 1024;
  for (int attempt = 0; attempt < 8; ++attempt) {
    Node node;
    node.data.resize(static_cast<size_t>(capacity));
    int len = 0;
    ::Stat stat{};
    void* ctx = nullptr;
    const auto [rc, resent] = request("read", path, until, [&](zhandle_t* zh) {
      // A watch is the client's only once the answer came: a lost read
      // leaves nothing registered, and the one sent again sets its own.
      ctx = watch ? registry().add(watch) : nullptr;
      len = capacity;
      const int r = zoo_wget(zh, path.c_str(), watch ? &node_watcher : nullptr, ctx,
                             reinterpret_cast<char*>(node.data.data()), &len, &stat);
      if (r != ZOK && ctx) registry().drop(ctx);
      return r;
    });
    (void)resent;  // a read is the same read again
    if (rc != ZOK) return from_zk(rc);
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

ZooKeeperStore::ZooKeeperStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ZooKeeperStore::~ZooKeeperStore() { impl_->close(); }

Result<std::unique_ptr<ZooKeeperStore>> ZooKeeperStore::connect(
    const std::string& connect_string, std::chrono::milliseconds session_timeout,
    std::chrono::milliseconds connect_timeout, Security security) {
  static std::once_flag quiet;
  std::call_once(quiet, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR); });
  auto impl = std::make_unique<Impl>();
  impl->connect_string = connect_string;
  impl->session_timeout_ms = static_cast<int>(session_timeout.count());
  impl->connect_timeout = connect_timeout;
  impl->security = std::move(security);
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

uint64_t ZooKeeperStore::disconnections() const { return impl_->disconnections.load(std::memory_order_relaxed); }

int64_t ZooKeeperStore::session_id() const {
  zhandle_t* zh = impl_->handle();
  return zh ? zoo_client_id(zh)->client_id : 0;
}

// What a request sent again cannot know is whether its first try was carried
// out before the connection went; Kafka's requests have the same doubt (and
// answer a create whose first try went through NodeExists: CreateTopics then
// says TOPIC_ALREADY_EXISTS). Where the answer can be checked cheaply it is:
// - a create that finds an ephemeral node this session holds made it
//   (Kafka's checkedEphemeralCreate);
// - a create that finds a persistent node holding exactly its data, never
//   changed since (version 0), made it: another creator would have had to
//   write the very same bytes (a topic's assignment carries a random topic
//   id), and the node is then what the caller asked for anyway;
// - a versioned set that finds its own data at the next version made it;
// - a delete that finds no node has its result either way;
// - a multi of checks and sets: see multi_applied().
// What stays open: a sequential create sent again may leave a second node
// (Keel's are change notifications, which readers take as "read this entity
// again": one more is harmless); another multi sent again fails on the
// first op its first try made stale (NodeExists, NoNode), which its callers
// take as a conflict and read again, as Kafka's do.
Result<std::string> ZooKeeperStore::create(const std::string& path, ByteView data,
                                           CreateMode mode) {
  const auto until = impl_->deadline();
  std::string created(path.size() + 16, '\0');
  const auto [rc, resent] = impl_->request("create", path, until, [&](zhandle_t* zh) {
    return zoo_create(zh, path.c_str(), reinterpret_cast<const char*>(data.data()), static_cast<int>(data.size()),
                      acl_for(impl_->security.set_acl, path), zk_flags(mode), created.data(),
                      static_cast<int>(created.size()));
  });
  if (rc == ZNODEEXISTS && resent) {
    auto there = impl_->read(path, {}, until);
    if (there) {
      const int64_t owner = there->stat.ephemeral_owner;
      const bool same_data = std::equal(there->data.begin(), there->data.end(), data.begin(), data.end());
      if (mode == CreateMode::kEphemeral && owner != 0 && owner == session_id()) return path;
      if (mode == CreateMode::kPersistent && owner == 0 && there->stat.version == 0 && same_data) return path;
    }
  }
  if (rc != ZOK) return from_zk(rc);
  created.resize(std::strlen(created.c_str()));
  return created;
}

Result<Node> ZooKeeperStore::get(const std::string& path, Watch watch) {
  return impl_->read(path, watch, impl_->deadline());
}

std::vector<Result<Node>> ZooKeeperStore::get_many(std::span<const std::string> paths) {
  // One deadline for the whole call: a ZooKeeper that stays away costs it
  // one connection timeout, not one per path.
  const auto until = impl_->deadline();
  if (on_completion_thread) {
    // From a watch or the session listener: one by one, synchronously (the
    // completion thread must deliver zoo_aget's answers).
    std::vector<Result<Node>> out;
    out.reserve(paths.size());
    for (const auto& path : paths) out.push_back(impl_->read(path, {}, until));
    return out;
  }
  // What one call may have outstanding: ZooKeeper's queue of requests
  // (globalOutstandingLimit, 1,000 by default) is shared by every client.
  constexpr size_t kMaxInFlight = 500;
  // Every request sent is answered: by the server, with a connection loss
  // when the connection drops, or when the handle closes. The bound only
  // keeps a caller from hanging on a client that broke that promise.
  const auto answers_due = until + std::chrono::milliseconds(impl_->session_timeout_ms);
  const auto current = impl_->session();
  zhandle_t* zh = current.h;
  auto batch = std::make_shared<ReadBatch>();
  batch->answers.resize(paths.size());
  batch->rcs.resize(paths.size(), ZOK);
  std::vector<size_t> todo(paths.size());
  std::iota(todo.begin(), todo.end(), size_t{0});
  // Rounds: every read of `todo` is sent, then the answers awaited; reads
  // the connection took are sent again in the next round once it is back.
  for (int round = 0; !todo.empty(); ++round) {
    if (const int ready = impl_->await_connected(current, until, round > 0); ready != ZOK) {
      std::lock_guard lock(batch->mu);
      for (size_t i : todo) batch->answers[i].emplace(from_zk(ready));
      break;
    }
    std::unique_lock lock(batch->mu);
    bool gave_up = false;
    for (size_t i : todo) {
      gave_up = !batch->cv.wait_until(lock, answers_due, [&] { return batch->in_flight < kMaxInFlight; });
      if (gave_up) break;
      batch->answers[i].reset();
      ++batch->in_flight;
      lock.unlock();
      auto* read = new PendingRead{batch, i};  // read_done deletes it
      const int rc = zoo_aget(zh, paths[i].c_str(), 0, &read_done, read);
      lock.lock();
      if (rc != ZOK) {  // not sent: no completion will come
        delete read;
        --batch->in_flight;
        batch->answers[i].emplace(from_zk(rc));
        batch->rcs[i] = rc;
      }
    }
    if (!gave_up) gave_up = !batch->cv.wait_until(lock, answers_due, [&] { return batch->in_flight == 0; });
    if (gave_up) break;
    std::vector<size_t> lost;
    for (size_t i : todo) {
      if (lost_with_connection(batch->rcs[i])) lost.push_back(i);
    }
    if (round == 0 && !lost.empty()) {
      log()->info("ZooKeeper reads: {} of {} lost with the connection; sending them again once it is back",
                  lost.size(), paths.size());
    }
    todo = std::move(lost);
  }
  std::lock_guard lock(batch->mu);
  std::vector<Result<Node>> out;
  out.reserve(paths.size());
  for (auto& answer : batch->answers) {
    out.push_back(answer ? std::move(*answer) : Result<Node>(CoordErrc::kConnectionLoss));
  }
  return out;
}

Result<Stat> ZooKeeperStore::set(const std::string& path, ByteView data, int32_t version) {
  const auto until = impl_->deadline();
  ::Stat stat{};
  const auto [rc, resent] = impl_->request("set", path, until, [&](zhandle_t* zh) {
    return zoo_set2(zh, path.c_str(), reinterpret_cast<const char*>(data.data()), static_cast<int>(data.size()),
                    version, &stat);
  });
  if (rc == ZBADVERSION && resent && version >= 0) {
    // The first try went through if the node holds this data at the version
    // after the expected one (Kafka's conditional updates check the same).
    auto now = impl_->read(path, {}, until);
    if (now && static_cast<int64_t>(now->stat.version) == static_cast<int64_t>(version) + 1 &&
        std::equal(now->data.begin(), now->data.end(), data.begin(), data.end())) {
      return now->stat;
    }
  }
  if (rc != ZOK) return from_zk(rc);
  return from_zk(stat);
}

Result<void> ZooKeeperStore::remove(const std::string& path, int32_t version) {
  const auto [rc, resent] = impl_->request("delete", path, impl_->deadline(),
                                           [&](zhandle_t* zh) { return zoo_delete(zh, path.c_str(), version); });
  // Sent again and gone: the first try took it (or another client did: it
  // is gone either way, which is what the caller asked for).
  if (rc == ZNONODE && resent) return {};
  if (rc != ZOK) return from_zk(rc);
  return {};
}

Result<std::optional<Stat>> ZooKeeperStore::exists(const std::string& path, Watch watch) {
  ::Stat stat{};
  const auto [rc, resent] = impl_->request("exists", path, impl_->deadline(), [&](zhandle_t* zh) {
    void* ctx = watch ? registry().add(watch) : nullptr;
    const int r = zoo_wexists(zh, path.c_str(), watch ? &node_watcher : nullptr, ctx, &stat);
    // On NoNode the watch waits for the node's creation.
    if (r != ZOK && r != ZNONODE && ctx) registry().drop(ctx);
    return r;
  });
  (void)resent;
  if (rc == ZNONODE) return std::optional<Stat>();
  if (rc != ZOK) return from_zk(rc);
  return std::optional<Stat>(from_zk(stat));
}

Result<std::vector<std::string>> ZooKeeperStore::children(const std::string& path, Watch watch) {
  String_vector names{};
  const auto [rc, resent] = impl_->request("children", path, impl_->deadline(), [&](zhandle_t* zh) {
    void* ctx = watch ? registry().add(watch) : nullptr;
    const int r = zoo_wget_children(zh, path.c_str(), watch ? &node_watcher : nullptr, ctx, &names);
    if (r != ZOK && ctx) registry().drop(ctx);
    return r;
  });
  (void)resent;
  if (rc != ZOK) return from_zk(rc);
  std::vector<std::string> out;
  for (int i = 0; i < names.count; ++i) out.emplace_back(names.data[i]);
  deallocate_String_vector(&names);
  std::sort(out.begin(), out.end());
  return out;
}

// A multi of checks and sets sent again that meets BadVersion went through
// the first time if every set's node holds its data at the version after
// the expected one and every check still holds: the controller's partition
// state writes (the /controller_epoch check and versioned sets, whose data
// names the controller epoch) are such multis. Their results then, or
// nothing when that is not so (or cannot be read).
std::optional<std::vector<OpResult>> ZooKeeperStore::multi_applied(std::span<const Op> ops,
                                                                   std::chrono::steady_clock::time_point until) {
  std::vector<OpResult> out(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    if (op.kind != Op::Kind::kCheck && op.kind != Op::Kind::kSetData) return std::nullopt;
    auto now = impl_->read(op.path, {}, until);
    if (!now) return std::nullopt;
    if (op.kind == Op::Kind::kCheck) {
      if (op.version >= 0 && now->stat.version != op.version) return std::nullopt;
    } else {
      if (op.version >= 0 && static_cast<int64_t>(now->stat.version) != static_cast<int64_t>(op.version) + 1) {
        return std::nullopt;
      }
      if (!std::equal(now->data.begin(), now->data.end(), op.data.begin(), op.data.end())) return std::nullopt;
      out[i].stat = now->stat;
    }
    out[i].path = op.path;
  }
  return out;
}

Result<std::vector<OpResult>> ZooKeeperStore::multi(std::span<const Op> ops) {
  if (!impl_->handle()) return CoordErrc::kSessionExpired;
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
                           static_cast<int>(op.data.size()), acl_for(impl_->security.set_acl, op.path),
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
  const auto [rc, resent] = impl_->request("multi", ops.front().path, impl_->deadline(), [&](zhandle_t* zh) {
    std::fill(results.begin(), results.end(), zoo_op_result_t{});
    return zoo_multi(zh, static_cast<int>(n), zops.data(), results.data());
  });
  if (rc != ZOK) {
    // The failing op carries the reason; the others say "rolled back".
    int failed = rc;
    for (const auto& r : results) {
      if (r.err != ZOK && r.err != ZRUNTIMEINCONSISTENCY) {
        failed = r.err;
        break;
      }
    }
    if (failed == ZBADVERSION && resent) {
      if (auto applied = multi_applied(ops, impl_->deadline())) return std::move(*applied);
    }
    return from_zk(failed);
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

Result<size_t> ZooKeeperStore::secure(const std::string& path, bool recursive) {
  const auto until = impl_->deadline();
  size_t changed = 0;
  ACL_vector acl{};
  ::Stat stat{};
  int rc = impl_->request("get ACL of", path, until,
                          [&](zhandle_t* zh) { return zoo_get_acl(zh, path.c_str(), &acl, &stat); }).rc;
  if (rc == ZNONODE) return changed;
  if (rc != ZOK) return from_zk(rc);
  const paths::ZkAclKind kind = paths::zk_acl_kind(path);
  const bool open = more_open_than(acl, kind);
  deallocate_ACL_vector(&acl);
  if (open) {
    // Unversioned: sent again, it sets the same ACL again.
    rc = impl_->request("set ACL of", path, until, [&](zhandle_t* zh) {
      return zoo_set_acl(zh, path.c_str(), -1, acl_for(true, path));
    }).rc;
    if (rc == ZNONODE) return changed;
    if (rc != ZOK) {
      log()->error("cannot set the ACL of ZooKeeper node {}: {}", path, zerror(rc));
      return from_zk(rc);
    }
    ++changed;
  }
  if (!recursive) return changed;
  String_vector names{};
  rc = impl_->request("children", path, until,
                      [&](zhandle_t* zh) { return zoo_get_children(zh, path.c_str(), 0, &names); }).rc;
  if (rc == ZNONODE) return changed;
  if (rc != ZOK) return from_zk(rc);
  std::vector<std::string> children;
  for (int i = 0; i < names.count; ++i) children.emplace_back(names.data[i]);
  deallocate_String_vector(&names);
  for (const auto& child : children) {
    auto n = secure(path == "/" ? "/" + child : path + "/" + child, true);
    if (!n) return n.error();
    changed += *n;
  }
  return changed;
}

Result<void> ZooKeeperStore::check_write_access(const std::string& path) {
  // No node has this version in practice; ZooKeeper checks the ACL before
  // the version, so the answer is NoAuth or BadVersion and nothing changes.
  constexpr int kImpossibleVersion = 0x7ffffff0;
  const int rc = impl_->request("write check of", path, impl_->deadline(), [&](zhandle_t* zh) {
    return zoo_set(zh, path.c_str(), nullptr, -1, kImpossibleVersion);
  }).rc;
  if (rc == ZBADVERSION || rc == ZNONODE || rc == ZOK) return {};
  return from_zk(rc);
}

}  // namespace keel::coord
