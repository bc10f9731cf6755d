#pragma once
// Sends one request through a Router as a client would (header and body at
// `version`) and decodes the answer, checking that it is one frame, that the
// connection stays open and that the body decodes whole.

#include <gtest/gtest.h>

#include "cluster/metadata_cache.h"
#include "protocol/generated/all.h"
#include "server/router.h"

namespace keel::server {

// A one-broker cluster as the controller would have published it: broker 1
// on PLAINTEXT broker1.example:9092, its own controller; `conn` a PLAINTEXT
// client at 127.0.0.1:5000.
inline void single_broker_cluster(BrokerIdentity& identity, cluster::MetadataCache& metadata, Services& services,
                                  net::ConnectionInfo& conn) {
  identity.broker_id = 1;
  identity.cluster_id = "AAAAAAAAAAAAAAAAAAAAAA";
  cluster::BrokerInfo self;
  self.id = 1;
  self.endpoints = {{"PLAINTEXT", "broker1.example", 9092, "PLAINTEXT"}};
  metadata.set_brokers({{1, self}}, 1);
  services.metadata = &metadata;
  conn.peer = "127.0.0.1:5000";
  conn.listener_name = "PLAINTEXT";
}

template <typename Resp, typename Req>
Resp call_router(Router& router, const net::ConnectionInfo& conn, int16_t api_key, int16_t version,
                 const Req& request, const char* client_id = "test") {
  protocol::RequestHeader header;
  header.request_api_key = api_key;
  header.request_api_version = version;
  header.correlation_id = 5;
  header.client_id = client_id;
  ByteWriter w;
  header.encode(w, protocol::request_header_version(api_key, version));
  request.encode(w, version);
  auto out = router.handle_frame(conn, ByteView(w.buffer()));
  Resp resp;
  EXPECT_FALSE(out.close_after);
  if (out.close_after || out.chunks.size() != 1) return resp;
  ByteReader r{ByteView(out.chunks[0])};
  r.read_i32();
  protocol::ResponseHeader rh;
  EXPECT_TRUE(rh.decode(r, protocol::response_header_version(api_key, version)).ok());
  EXPECT_TRUE(resp.decode(r, version).ok());
  EXPECT_TRUE(r.at_end());
  return resp;
}

}  // namespace keel::server
