#pragma once
// What a request handler sees: the broker's identity and config, the
// connection it came on, and the parsed request header.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "config/config.h"
#include "net/server.h"
#include "protocol/generated/request_header.h"
#include "server/services.h"

namespace keel::server {

struct RequestQuota;

// Facts about this broker that do not change while it runs.
struct BrokerIdentity {
  int32_t broker_id = 0;
  std::string cluster_id;
  std::vector<config::Endpoint> advertised_listeners;
};

struct RequestContext {
  const BrokerIdentity& broker;
  const config::BrokerConfig& config;
  const net::ConnectionInfo& connection;
  const protocol::RequestHeader& header;
  Services& services;
  // The request frame; decoded requests borrow from it (records, strings), so
  // a handler that answers later keeps this pointer alive meanwhile.
  std::shared_ptr<net::Frame> frame;
  // Who sent the request, as Kafka names principals: "User:ANONYMOUS" on a
  // PLAINTEXT listener, "User:<name>" after SASL (server/sasl.h). The router
  // fills it from the connection.
  std::string principal = "User:ANONYMOUS";
  // This request's part in client quotas (server/quota_throttle.h): null for
  // the broker's own requests and when nothing is throttled.
  std::shared_ptr<RequestQuota> quota;
  int16_t api_version() const { return header.request_api_version; }
  int64_t now_ms() const;
};

}  // namespace keel::server
