#pragma once
// The network side of the broker: listeners, N reactor threads (one
// io_context each), and connections that frame requests, hand them to a
// RequestHandler and send the responses back in request order.
//
// Boost.Asio stays inside net/*.cc: this header shows none of it, so the rest
// of the broker compiles without Asio's templates.

#include <atomic>
#include <cstdint>
#include <climits>
#include <functional>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "net/response_queue.h"

namespace keel::net {

class TlsContext;

// One request frame as read from the socket (size prefix stripped). Its
// buffer is not zero-filled before the read fills it.
using Frame = UninitBytes;

// What the request handler settles about a connection as its requests come
// (where SASL authentication stands: server/sasl.h). net creates it with the
// connection and only carries it. One request of a connection is handled at a
// time, but not always on the same thread, hence the atomic.
struct ConnectionState {
  std::atomic<uint8_t> auth{0};
  // Largest frame read on this connection while non-zero, below
  // max_request_bytes (sasl.server.max.receive.size before authentication);
  // starts at the listener's ListenerSpec::unauthenticated_max_frame_bytes,
  // and the handler lifts it (sets 0) once the client has authenticated.
  std::atomic<int32_t> max_frame_bytes{0};
  // Set by the handler while the client's frames are bare SASL tokens (after
  // SaslHandshake v0): those may be shorter than a request header, even empty.
  std::atomic<bool> bare_sasl_tokens{false};
  // Client quotas (KIP-219, server/quota_throttle.h): until this
  // steady_clock time in milliseconds the connection hands no further request
  // to the handler (the reader holds the one it has read), as Kafka mutes a
  // throttled channel. The handler only ever moves it later.
  std::atomic<int64_t> mute_until_ms{0};
  // What the handler keeps per connection beyond `auth` (a SASL exchange
  // under way, the authenticated principal). Touched only by the handler,
  // which sees a connection's requests one at a time.
  struct Extension {
    virtual ~Extension() = default;
  };
  std::shared_ptr<Extension> extension;
};

struct ConnectionInfo {
  uint64_t id = 0;
  std::string peer;           // "ip:port" of the client
  std::string listener_name;  // e.g. "PLAINTEXT"
  // A request the broker makes to itself without a socket (the controller's
  // to its own broker): it is the broker, so no ACL applies to it.
  bool in_process = false;
  uint16_t local_port = 0;
  // A TLS connection (SSL, SASL_SSL listeners): the handshake is done before
  // the first request is read.
  bool tls = false;
  // The name its client certificate's subject maps to through the listener's
  // ssl.principal.mapping.rules ("CN=client-1,O=Example" by DEFAULT); empty
  // without TLS or when the client sent no certificate. The principal is
  // then User:<it> unless SASL authenticates someone else.
  std::string tls_principal;
  std::shared_ptr<ConnectionState> state = std::make_shared<ConnectionState>();
};

// Receives every request frame (size prefix stripped). `done` may be called
// from any thread, exactly once; the connection sends the response in request
// order. Calls come from the connection's reactor thread, or with handler
// threads (ServerOptions::handler_threads) from one of those (the reactor
// thread still for requests runs_on_network_thread accepts): either way one at
// a time per connection, in the order its requests arrived.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void handle(const ConnectionInfo& conn, Frame frame,
                      std::function<void(Response)> done) = 0;
  // Whether this request may be handled on the reactor thread that read it,
  // skipping the hand-off to a handler thread (and back): for requests that
  // never wait. It is, only when the connection has nothing queued or running
  // on the handler threads, so the arrival order holds either way.
  virtual bool runs_on_network_thread(const Frame& /*frame*/) const { return false; }
};

struct ListenerSpec {
  std::string name;  // listener name, e.g. "PLAINTEXT"
  std::string host;  // "" = all interfaces
  uint16_t port = 0; // 0 = any free port
  // Non-zero: frames larger than this are refused until the handler lifts the
  // limit for the connection (ConnectionState::max_frame_bytes).
  int32_t unauthenticated_max_frame_bytes = 0;
  // Set: every connection starts with a TLS handshake (server role), made
  // with the context's newest certificate (TlsContext::reload()).
  std::shared_ptr<TlsContext> tls = nullptr;
};

// Connections of one listener as they come and go (Kafka's
// socket-server-metrics connection-count, -creation-total, -close-total).
struct ListenerCounters {
  std::atomic<int64_t> open{0};
  std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> closed{0};
  void opened() {
    created.fetch_add(1, std::memory_order_relaxed);
    open.fetch_add(1, std::memory_order_relaxed);
  }
  void gone() {
    closed.fetch_add(1, std::memory_order_relaxed);
    open.fetch_sub(1, std::memory_order_relaxed);
  }
};

// How busy the server is, for the metrics (Kafka's RequestChannel queue
// sizes and the network and handler idle ratios). The caller owns it and it
// outlives the server; the server only adds to it.
struct LoadCounters {
  std::atomic<int64_t> request_queue{0};     // requests waiting for a handler thread
  std::atomic<int64_t> response_queue{0};    // responses made, not yet taken by their connection
  std::atomic<uint64_t> handler_busy_ns{0};  // time handler threads spent running requests
  std::mutex mu;
  std::vector<clockid_t> reactor_clocks;  // CPU-time clocks of the reactor threads (under mu)
};

// Connection creation rates, decided at accept (Kafka's ConnectionQuotas,
// KIP-612; server/connection_quotas.h). Called from the accept loops, and
// ip_throttle_ended from a reactor thread.
class ConnectionAdmission {
 public:
  virtual ~ConnectionAdmission() = default;
  // A connection was just accepted on `listener`: records it against the
  // listener's and the broker's max.connection.creation.rate and returns how
  // long the acceptor waits before taking it in (and before accepting the
  // next); 0: at once.
  virtual int64_t accept_delay_ms(const std::string& listener) = 0;
  // 0: `ip` is within its connection_creation_rate. Otherwise the connection
  // is not taken in (and not counted): it is closed after the returned time.
  virtual int64_t ip_throttle_ms(const std::string& listener, const std::string& ip) = 0;
  // A connection ip_throttle_ms() refused is being closed now, `throttle_ms`
  // after it was accepted (called from a reactor thread, just before the
  // close the client sees).
  virtual void ip_throttle_ended(const std::string& listener, int64_t throttle_ms) = 0;
};

struct ServerOptions {
  int threads = 3;                        // num.network.threads
  int handler_threads = 0;                // num.io.threads; 0: handlers run on the reactor thread
  int32_t max_request_bytes = 104857600;  // socket.request.max.bytes
  size_t max_in_flight = 100;             // per connection, before reading pauses
  int32_t send_buffer_bytes = -1;         // -1 = OS default
  int32_t receive_buffer_bytes = -1;
  int64_t idle_timeout_ms = 600000;       // connections.max.idle.ms
  int32_t max_connections = INT32_MAX;    // max.connections, over all listeners: at it, accepting waits
  int32_t max_connections_per_ip = INT32_MAX;  // max.connections.per.ip: past it, refused at accept
  // max.connections.per.ip.overrides: other limits by client address (as
  // asio::ip::address::to_string() writes it).
  std::map<std::string, int32_t> max_connections_per_ip_overrides;
  // listener.name.<l>.max.connections, by listener name: at it, accepting
  // on that listener waits (the others go on).
  std::map<std::string, int32_t> listener_max_connections;
  // Exempt from max.connections (its connections still count towards it):
  // the inter-broker listener when there are others, as in Kafka.
  std::string protected_listener;
  // Optional (metrics): the counters of a listener, by name, asked once per
  // listener when accepting starts; the caller owns them and they outlive
  // the server.
  std::function<struct ListenerCounters*(const std::string& listener_name)> listener_counters;
  LoadCounters* load = nullptr;  // optional (metrics)
  // Optional: connection creation rates; the caller owns it and it outlives
  // the server.
  ConnectionAdmission* admission = nullptr;
};

// Bytes sent by all servers of this process, by the way they left: a gather
// write(2) of buffers, or sendfile(2) from a file. Lets tests and metrics show
// that record data takes the zero-copy path. On TLS connections (plaintext
// bytes, before encryption): buffers through SSL_write, file bytes by kernel
// TLS (SSL_sendfile: no copy into user space) or by the fallback, read +
// SSL_write, when the kernel cannot take the keys.
struct IoCounters {
  uint64_t written_bytes = 0;
  uint64_t sendfile_bytes = 0;
  uint64_t sendfile_calls = 0;
  uint64_t tls_written_bytes = 0;
  uint64_t tls_sendfile_bytes = 0;
  uint64_t tls_sendfile_calls = 0;
  uint64_t tls_copy_bytes = 0;
};
IoCounters io_counters();

class Server {
 public:
  Server(ServerOptions options, RequestHandler& handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on every listener; throws std::system_error naming the
  // address when one cannot be bound. Returns the bound ports, in order.
  std::vector<uint16_t> listen(const std::vector<ListenerSpec>& listeners);
  // Starts the reactor threads and begins accepting.
  void start();
  // Stops accepting; with drain_ms > 0, lets each connection answer the
  // requests it has read (reading no more) for up to drain_ms; then closes
  // every connection and joins the threads. Idempotent.
  void stop(int64_t drain_ms = 0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::net
