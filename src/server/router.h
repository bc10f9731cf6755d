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

struct ApiEntry {
  int16_t key;
  int16_t min_version;
  int16_t max_version;
  ApiHandler handler;
};

// The APIs Keel serves today, ordered by key.
std::span<const ApiEntry> served_apis();
const ApiEntry* find_served_api(int16_t key);

class Router : public net::RequestHandler {
 public:
  Router(const BrokerIdentity& broker, const config::BrokerConfig& config)
      : broker_(broker), config_(config) {}

  void handle(const net::ConnectionInfo& conn, Bytes frame,
              std::function<void(net::Response)> done) override;

  // The same, synchronously: the response frame (size prefix included), or a
  // response with close_after set and no bytes when the connection must close.
  net::Response handle_frame(const net::ConnectionInfo& conn, ByteView frame);

 private:
  const BrokerIdentity& broker_;
  const config::BrokerConfig& config_;
};

}  // namespace keel::server
