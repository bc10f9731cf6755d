#pragma once
// The transaction work's requests to other brokers, on the inter-broker
// listener (inter.broker.listener.name, with its TLS when it is an SSL
// listener: net's default client TLS, as the replica fetchers have it):
// WriteTxnMarkers from the coordinator to partition leaders, and
// AddPartitionsToTxn v4 (verify_only, KIP-890) from a partition leader to a
// coordinator. One net::Client per broker, kept and pointed at the broker's
// current endpoint from the metadata cache; a request to this broker itself
// goes through its own router in process, as the controller's do.
//
// Thread-safe. Answers run on the client runtime's thread, or for in-process
// requests on whichever thread the handler answered on.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "protocol/generated/api.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"

namespace keel::cluster {
class MetadataCache;
}
namespace keel::net {
class Client;
class ClientRuntime;
}  // namespace keel::net

namespace keel::server {

class TxnBrokerLink {
 public:
  // A request frame (header and body, no size prefix) to this broker's own
  // router; the answer is the response frame without its size prefix.
  using LocalRequests = std::function<void(Bytes frame, std::function<void(Result<Bytes>)> done)>;
  struct Options {
    int32_t broker_id = -1;
    std::string listener_name;     // inter.broker.listener.name
    int64_t request_timeout_ms = 30000;
    LocalRequests local;           // null: this broker is reached over TCP too
    std::string client_id = "txn";
  };

  TxnBrokerLink(net::ClientRuntime& runtime, const cluster::MetadataCache& metadata, Options options);
  ~TxnBrokerLink();  // close()
  TxnBrokerLink(const TxnBrokerLink&) = delete;
  TxnBrokerLink& operator=(const TxnBrokerLink&) = delete;

  // Sends `req` at `version` to broker `broker` and decodes its answer.
  // Errors: net::ClientErrc (kConnectFailed also when the broker has no
  // endpoint on the inter-broker listener in the metadata), or the decoding
  // error of a malformed answer. `done` runs exactly once.
  template <typename Response, typename Request>
  void request(int32_t broker, const Request& req, int16_t version, std::function<void(Result<Response>)> done) {
    auto encode = [req, version, this](int32_t correlation_id) {
      protocol::RequestHeader header;
      header.request_api_key = Request::kApiKey;
      header.request_api_version = version;
      header.correlation_id = correlation_id;
      header.client_id = options_.client_id;
      ByteWriter w;
      header.encode(w, protocol::request_header_version(Request::kApiKey, version));
      req.encode(w, version);
      return Bytes(w.buffer().begin(), w.buffer().end());
    };
    send_frame(broker, encode, [version, done = std::move(done)](Result<Bytes> frame) {
      if (!frame) return done(frame.error());
      ByteReader r{ByteView(*frame)};
      protocol::ResponseHeader rh;
      Response resp;
      if (auto res = rh.decode(r, protocol::response_header_version(Request::kApiKey, version)); !res) {
        return done(res.error());
      }
      if (auto res = resp.decode(r, version); !res) return done(res.error());
      done(std::move(resp));
    });
  }

  // Closes every connection (their requests fail with kClosed). Idempotent.
  void close();
  net::ClientRuntime& runtime() { return runtime_; }
  int32_t broker_id() const { return options_.broker_id; }

 private:
  void send_frame(int32_t broker, const std::function<Bytes(int32_t)>& encode,
                  std::function<void(Result<Bytes>)> done);

  struct Peer {
    std::unique_ptr<net::Client> client;
    std::string host;
    int32_t port = -1;
  };
  net::ClientRuntime& runtime_;
  const cluster::MetadataCache& metadata_;
  const Options options_;
  std::mutex mu_;
  std::map<int32_t, Peer> peers_;
  bool closed_ = false;
};

}  // namespace keel::server
