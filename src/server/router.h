#pragma once
// The request router: the one table of the APIs Keel serves (key, version
// range, handler). ApiVersions answers are built from that table, so Keel
// never advertises what it does not serve.
//
// A request whose API key is not in the table, or whose version is outside
// the range served, closes the connection with a log line — what a Kafka
// broker does when it cannot parse a request — except ApiVersions, which
// answers UNSUPPORTED_VERSION in the v0 format so the client can retry with a
// version both sides know (KIP-511).

#include <cstdint>
#include <span>

#include "common/bytes.h"
#include "common/result.h"
#include "net/server.h"
#include "server/request_context.h"

namespace keel::server {

// Decodes the request body (the reader is positioned after the header),
// handles it, and writes the response body for the same version.
using ApiHandler = Result<void> (*)(RequestContext& ctx, ByteReader& body, ByteWriter& out);

// Sends the answer to one request, now or later, from any thread, once.
// Copyable handle; the first call wins (later calls are ignored).
class Responder {
 public:
  Responder(int16_t api_key, int16_t api_version, int32_t correlation_id,
            std::function<void(net::Response)> done);
  // The response body. External records in it (protocol::Records::external)
  // name a splice id: files[id] are the file ranges sent there with sendfile.
  void send(const ByteWriter& body, const std::vector<std::vector<net::FileChunk>>& files = {});
  // No response at all (Produce with acks=0).
  void send_nothing();
  // Closes the connection (a request Kafka would not answer).
  void close();
  int16_t api_version() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// A handler that may answer later (Produce waiting for acks, Fetch long
// polling) or not at all. Returning an error means the body was malformed:
// the router closes the connection, and the handler must not have used the
// responder.
using AsyncApiHandler = Result<void> (*)(RequestContext& ctx, ByteReader& body, Responder responder);

struct ApiEntry {
  int16_t key;
  int16_t min_version;
  int16_t max_version;
  ApiHandler handler;              // one of the two is set
  AsyncApiHandler async_handler = nullptr;
  // Never waits (no store or ZooKeeper round trip, no other broker): may run
  // on the network thread (net::RequestHandler::runs_on_network_thread).
  bool on_network_thread = false;
};

// A request this large goes to the handler threads even when its API may run
// on the network thread: handling it (CRC, record walk, the copy into the page
// cache) takes long enough that the network thread is better off receiving the
// connection's next request meanwhile (docs/load.md, "Large produce requests on
// the handler threads").
inline constexpr size_t kNetworkThreadMaxFrameBytes = 256 << 10;

// The APIs Keel serves today, ordered by key.
std::span<const ApiEntry> served_apis();
const ApiEntry* find_served_api(int16_t key);

class Router : public net::RequestHandler {
 public:
  Router(const BrokerIdentity& broker, const config::BrokerConfig& config, Services& services)
      : broker_(broker), config_(config), services_(services) {}

  void handle(const net::ConnectionInfo& conn, net::Frame frame,
              std::function<void(net::Response)> done) override;
  bool runs_on_network_thread(const net::Frame& frame) const override;

  // The same, for tests: waits for the answer (at most 10 s) and returns it
  // — the response frame (size prefix included), an empty response for none,
  // or close_after set and no bytes when the connection must close.
  net::Response handle_frame(const net::ConnectionInfo& conn, ByteView frame);

 private:
  const BrokerIdentity& broker_;
  const config::BrokerConfig& config_;
  Services& services_;
};

}  // namespace keel::server
