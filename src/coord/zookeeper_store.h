#pragma once
// ZooKeeperStore: the CoordinationStore on a ZooKeeper ensemble through the
// ZooKeeper C client (zookeeper_mt), used when zookeeper.connect is set.
// Paths are Kafka's (see ../shared/kafka-protocol/ZOOKEEPER-LAYOUT.md); a
// chroot in the connect string ("h1:2181,h2:2181/kafka") is applied by the
// client library.
//
// Sessions: ephemeral nodes live as long as the session. When ZooKeeper
// expires the session, every call fails with kSessionExpired and the session
// listener hears about it; the owner then calls reconnect() (from its own
// thread, never from a watch or listener) and re-creates its ephemeral nodes
// — a broker re-registers and re-runs the controller election.
//
// Connection loss: a request that meets a lost connection (ZooKeeper
// restarting, a network blip) waits for the session to be connected again
// and is sent again, as Kafka's KafkaZkClient does; so does one made while
// the client is reconnecting. The wait of one call is bounded by
// zookeeper.connection.timeout.ms (the `connect_timeout` given to connect),
// after which the call fails with kConnectionLoss. An expired session, a
// closed store or stop_waiting() ends the wait at once. A request sent again
// may find what its first try did (see create() in the .cc for what is
// resolved and what is left to the caller).
//
// Threads: calls may come from any thread (the C client is thread-safe).
// Watches and the session listener run on the C client's completion thread;
// they must not block for long and must not call reconnect(). A call made
// there during a disconnection still waits for the connection (it polls the
// client's state: the session events it would otherwise wait for are
// delivered by that very thread), and everything else the thread delivers
// waits behind it; Keel's watches only signal their owners' threads.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "coord/coordination_store.h"

namespace keel::coord {

// Who a ZooKeeperStore is to ZooKeeper and what it does to the nodes it
// makes. Debian's C client has neither SASL nor TLS, so the identity is the
// digest scheme's: ZooKeeper names it digest:<user>:base64(sha1(user:password)).
struct ZooKeeperSecurity {
  std::string digest;    // "user:password" for zoo_add_auth("digest"); empty = anonymous
  bool set_acl = false;  // zookeeper.set.acl: create with Kafka's ACLs (paths::zk_acl_kind)
};

class ZooKeeperStore : public CoordinationStore {
 public:
  enum class SessionEvent { kConnected, kDisconnected, kExpired };
  using SessionListener = std::function<void(SessionEvent)>;

  using Security = ZooKeeperSecurity;

  // Connects and waits up to `connect_timeout` for a session (and, with a
  // digest, for ZooKeeper to take it). The session timeout is
  // zookeeper.session.timeout.ms.
  static Result<std::unique_ptr<ZooKeeperStore>> connect(const std::string& connect_string,
                                                         std::chrono::milliseconds session_timeout,
                                                         std::chrono::milliseconds connect_timeout,
                                                         Security security = {});
  ~ZooKeeperStore() override;

  Result<std::string> create(const std::string& path, ByteView data, CreateMode mode) override;
  Result<Node> get(const std::string& path, Watch watch = {}) override;
  // zoo_aget for every path (at most 500 outstanding), then the answers;
  // the reads the connection took are sent again once it is back. From a
  // watch or the session listener (the completion thread, which must
  // deliver those answers) it reads one path after another instead. One
  // connection timeout bounds the waits of the whole call.
  std::vector<Result<Node>> get_many(std::span<const std::string> paths) override;
  Result<Stat> set(const std::string& path, ByteView data, int32_t version = -1) override;
  Result<void> remove(const std::string& path, int32_t version = -1) override;
  Result<std::optional<Stat>> exists(const std::string& path, Watch watch = {}) override;
  Result<std::vector<std::string>> children(const std::string& path, Watch watch = {}) override;
  Result<std::vector<OpResult>> multi(std::span<const Op> ops) override;
  int64_t session_id() const override;
  uint64_t disconnections() const override;

  void set_session_listener(SessionListener listener);
  // Closes the current session (its ephemeral nodes go) and opens a new one.
  Result<void> reconnect();
  // From now on requests no longer wait for a lost connection to come back
  // and are not sent again (those waiting stop waiting and fail with
  // kConnectionLoss): the owner is shutting down.
  void stop_waiting();

  // Gives `path` (and, when `recursive`, every node below it) the ACL
  // zookeeper.set.acl would have created it with, where its current ACL is
  // more open than that: write rights for world, or read rights for world on
  // a sensitive node. Nodes already as strict, or stricter, are left alone.
  // Returns how many nodes changed; kNoAuth when ZooKeeper refuses (the node
  // belongs to another identity). Needs set_acl.
  Result<size_t> secure(const std::string& path, bool recursive);
  // Whether this client may write `path`, without changing it (a set with a
  // version that cannot match: ZooKeeper checks the ACL first). Ok when it
  // may or the node is absent; kNoAuth when its ACL refuses this identity.
  Result<void> check_write_access(const std::string& path);

  struct Impl;

 private:
  explicit ZooKeeperStore(std::unique_ptr<Impl> impl);
  std::optional<std::vector<OpResult>> multi_applied(std::span<const Op> ops,
                                                     std::chrono::steady_clock::time_point until);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::coord
