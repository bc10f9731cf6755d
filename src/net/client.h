#pragma once
// The client side of the Kafka wire, for broker-to-broker traffic (the
// controller's requests, replica fetches, AlterPartition, ControlledShutdown):
// one TCP connection to one broker, requests pipelined and answered in order.
//
// net knows frames, not messages: a caller hands over a request frame (header
// and body, without the size prefix) with its correlation id, and gets back
// the response frame (correlation id first, without the size prefix).
// cluster/ builds the headers and decodes the bodies (protocol/).
//
// Connections are made lazily on the first request and again after a failure,
// with exponential backoff (reconnect.backoff.ms doubling up to
// reconnect.backoff.max.ms, with ±20% jitter, as Kafka's NetworkClient does).
// When a connection fails, every request sent on it or waiting for it fails
// with an error; nothing is resent by this layer (the caller decides: the
// controller's queue resends, a fetcher fetches again). Which error: the
// oldest request in flight gets kTimedOut when its request_timeout_ms ran out,
// kBadResponse when the response frame was bad; every other request gets
// kDisconnected, or kConnectFailed when the connection never came up. A send
// made during the backoff waits for it to pass, then connects.
//
// Threads: a ClientRuntime owns one io_context thread on which all its
// clients' I/O runs. Callbacks run on that thread and must not block; they may
// call send() again; no lock of this layer is held while they run. send(),
// set_address() and close() are thread-safe. Boost.Asio stays in the .cc file.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/result.h"

namespace keel::security {
class SaslClientMechanism;
}

namespace keel::net {

class TlsContext;

// SASL on the broker's own connections (inter-broker SASL): after connect
// (and TLS) each connection runs SaslHandshake v1 + SaslAuthenticate v1
// (net/sasl_client.h) before any request, and again (KIP-368) before the
// session lifetime the other broker answered runs out: at a random point
// between 85% and 95% of it, as Kafka's clients do. A re-authentication
// stops sending new requests, waits for those in flight, authenticates, and
// resumes; nothing is lost. A refusal fails the connection (its requests get
// kAuthenticationFailed) and is logged with the mechanism and the broker's
// words, never the password; the next attempt waits for the backoff.
struct ClientSasl {
  std::string mechanism;  // "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512": for log lines
  std::string client_id;  // the client id of the SASL requests, e.g. "broker-1"
  // A fresh mechanism (with the credentials) for each exchange; thread-safe.
  std::function<std::unique_ptr<security::SaslClientMechanism>()> make_mechanism;
};

// The SASL of this process's broker-to-broker connections (set by the broker
// when its inter-broker listener is SASL_PLAINTEXT or SASL_SSL): a client made
// without ClientOptions::sasl uses it. nullptr: no SASL. Thread-safe; clients
// made before the call keep what they had.
void set_default_client_sasl(std::shared_ptr<const ClientSasl> sasl);
std::shared_ptr<const ClientSasl> default_client_sasl();

// The TLS context of this process's broker-to-broker connections (set by the
// broker when inter.broker.listener.name is an SSL or SASL_SSL listener): a
// client made without ClientOptions::tls uses it. nullptr: plaintext.
// Thread-safe; clients made before the call keep what they had.
void set_default_client_tls(std::shared_ptr<TlsContext> tls);
std::shared_ptr<TlsContext> default_client_tls();

class ClientRuntime {
 public:
  // `name` names the thread (for top/gdb), at most 15 characters.
  explicit ClientRuntime(std::string name);
  // Closes every client first (their pending requests fail with kClosed,
  // callbacks run), runs what was already posted, then joins the thread;
  // scheduled functions not yet due are dropped. Must not run on the
  // runtime's own thread. A Client may outlive its runtime (it is closed
  // then): its later sends fail with kClosed at once, on the calling thread.
  ~ClientRuntime();
  ClientRuntime(const ClientRuntime&) = delete;
  ClientRuntime& operator=(const ClientRuntime&) = delete;

  // Runs `fn` on the runtime's thread (after what is already queued). An
  // exception from `fn` is logged and dropped.
  void post(std::function<void()> fn);
  // Runs `fn` on the runtime's thread after `delay`; the returned function
  // cancels it if it has not run yet (cancelling after it ran does nothing);
  // it may be called from any thread, also after the runtime is gone.
  std::function<void()> schedule(std::chrono::milliseconds delay, std::function<void()> fn);
  bool on_runtime_thread() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct ClientOptions {
  std::string host;
  uint16_t port = 0;
  int64_t connect_timeout_ms = 10'000;         // socket.connection.setup.timeout.ms
  int64_t request_timeout_ms = 30'000;         // a request unanswered this long fails the connection
  int64_t reconnect_backoff_ms = 50;           // reconnect.backoff.ms
  int64_t reconnect_backoff_max_ms = 1'000;    // reconnect.backoff.max.ms
  int32_t max_response_bytes = 104857600 * 2;  // a larger (or negative) size prefix fails the connection
  size_t max_in_flight = 5;                    // requests on the wire at once; more wait in order
  int32_t send_buffer_bytes = -1;              // -1: the OS default
  int32_t receive_buffer_bytes = -1;
  // Set (or a default_client_tls()): each connection shakes hands with TLS
  // (client role) before its first request, checking the broker's
  // certificate (and its host name, with ssl.endpoint.identification.algorithm
  // https); a failed handshake fails the connection like a failed connect.
  std::shared_ptr<TlsContext> tls;
  // Set (or a default_client_sasl()): each connection authenticates first.
  std::shared_ptr<const ClientSasl> sasl;
};

// Why a request got no response.
enum class ClientErrc {
  kDisconnected = 1,   // the connection failed or closed before the response came
  kConnectFailed,      // could not connect (refused, unreachable, connect timeout)
  kTimedOut,           // no response within request_timeout_ms
  kClosed,             // the client was closed
  kBadResponse,        // the response frame's size or correlation id was wrong
  kAuthenticationFailed,  // the broker refused the SASL authentication (ClientSasl)
};
const std::error_category& client_category();
std::error_code make_error_code(ClientErrc e);

class Client {
 public:
  // `on_response` gets the whole response frame (correlation id first).
  using Callback = std::function<void(Result<Bytes>)>;

  Client(ClientRuntime& runtime, ClientOptions options);
  ~Client();  // close()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Queues a request: `frame` is the request header and body (no size prefix),
  // whose correlation id is `correlation_id` (the response must carry it).
  // `expect_response` false for acks=0-style requests: the callback runs once
  // the frame is written, with an empty Bytes. The callback runs exactly once,
  // on the runtime's thread, never inside send() itself; an exception from it
  // is logged and dropped.
  void send(Bytes frame, int32_t correlation_id, Callback on_response, bool expect_response = true);

  // A fresh correlation id for this client (thread-safe).
  int32_t next_correlation_id();

  // Points the client at a new address (a broker re-registered with another
  // endpoint): the current connection is closed and every pending request
  // fails with kDisconnected (also those waiting for a connect or a backoff);
  // the next request connects there at once (the backoff starts over).
  // Asynchronous: takes effect on the runtime thread, before sends made after
  // this call.
  void set_address(std::string host, uint16_t port);

  // Fails every pending request with kClosed and closes the connection; later
  // sends fail at once. Idempotent; may be called from any thread, and
  // returns once the connection is closed and the callbacks of the requests
  // it failed have run. From the runtime thread (a callback) it does all that
  // in place; from another thread it waits for the runtime thread, so that
  // thread must not be waiting for the caller.
  void close();

  // Whether a connection is established now (for metrics and tests).
  bool connected() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace keel::net

namespace std {
template <>
struct is_error_code_enum<keel::net::ClientErrc> : true_type {};
}  // namespace std
