#pragma once
// The REST API's way into the broker: a REST call becomes the Kafka request
// an admin client would send (a generated request struct, encoded with a
// request header), handed to the broker's Router as if it came on a
// connection of the HTTP listener, under the HTTP caller's principal. So a
// REST call runs the same handler and the same ACL checks as the Kafka admin
// request, and refuses what it refuses. The answer is decoded back into the
// generated response struct. The "connection" is named after a Kafka listener
// (the broker's first), so Metadata advertises the endpoints a Kafka client
// would bootstrap from; its SASL stage is set to not-required, since the
// HTTP side has authenticated the caller.
//
// Threads: calls run on the bridge's own workers (never on the HTTP threads:
// a handler may wait on the store), at most `queue_limit` waiting; beyond it
// the call fails at once with kBusy (the REST side answers 503).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "net/server.h"
#include "protocol/generated/api.h"
#include "protocol/generated/response_header.h"

namespace keel::server::rest {

// Who makes a REST call, as the Router sees a connection.
struct Caller {
  std::string principal = "User:ANONYMOUS";  // "User:<name>"
  std::string peer;                           // "ip:port"
};

enum class BridgeErrc {
  kBusy = 1,        // too many calls waiting
  kUnavailable,     // the broker is not serving (starting, stopping)
  kClosed,          // the Router closed the "connection": it could not parse the request
  kBadResponse,     // the answer could not be decoded
};
const std::error_category& bridge_category();
inline std::error_code make_error_code(BridgeErrc e) { return {static_cast<int>(e), bridge_category()}; }

class KafkaBridge {
 public:
  // Sends one request frame (size prefix stripped) to the Router on behalf of
  // `conn`; `done` gets the response (size prefix included), from any thread.
  // Returns false when the broker is not serving (no call is made).
  using Dispatch = std::function<bool(const net::ConnectionInfo& conn, Bytes frame,
                                      std::function<void(net::Response)> done)>;

  KafkaBridge(std::string listener_name, Dispatch dispatch, int threads = 2, size_t queue_limit = 256);
  ~KafkaBridge();
  KafkaBridge(const KafkaBridge&) = delete;
  KafkaBridge& operator=(const KafkaBridge&) = delete;

  // Runs `work` on a worker; false when the queue is full (work not run).
  bool post(std::function<void()> work);
  // Stops taking calls and joins the workers; later posts are refused.
  void stop();

  // One Kafka request, `version` of Req, as `who`. `done` runs once, on a
  // worker or on the thread the handler answered from.
  template <class Resp, class Req>
  void call(const Caller& who, const Req& req, int16_t version, std::function<void(Result<Resp>)> done) {
    call_raw(who, Req::kApiKey, version, encode_request(req, version),
             [version, done = std::move(done)](Result<Bytes> body) {
               if (!body) return done(body.error());
               ByteReader r{ByteView(*body)};
               Resp resp;
               if (!resp.decode(r, version)) return done(make_error_code(BridgeErrc::kBadResponse));
               done(std::move(resp));
             });
  }

 private:
  template <class Req>
  static Bytes encode_request(const Req& req, int16_t version) {
    ByteWriter w;
    req.encode(w, version);
    return w.take();
  }
  // Adds the request header, dispatches, strips the response header.
  void call_raw(const Caller& who, int16_t api_key, int16_t version, Bytes body,
                std::function<void(Result<Bytes>)> done);

  const std::string listener_name_;
  Dispatch dispatch_;
  const size_t queue_limit_;
  // Shared with the workers: the last reference to the bridge may be dropped
  // by a worker itself (a late answer), which then outlives the bridge.
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> work;
    bool stopping = false;
  };
  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  std::mutex workers_mu_;
  std::vector<std::thread> workers_;
  std::atomic<int32_t> next_correlation_id_{1};
  std::atomic<uint64_t> next_connection_id_{1};
};

}  // namespace keel::server::rest

namespace std {
template <>
struct is_error_code_enum<keel::server::rest::BridgeErrc> : true_type {};
}  // namespace std
