// Metadata: the brokers of the cluster (today: this one) and the topics asked
// for. Topics arrive with the storage and single-broker issues; until then
// every named topic is UNKNOWN_TOPIC_OR_PARTITION (or UNKNOWN_TOPIC_ID when
// asked for by id), and "all topics" is an empty list.

#include "protocol/error_code.h"
#include "protocol/generated/metadata_request.h"
#include "protocol/generated/metadata_response.h"
#include "server/handlers.h"

namespace keel::server {

using protocol::ErrorCode;
using protocol::MetadataRequest;
using protocol::MetadataResponse;

Result<void> handle_metadata(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  MetadataRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;

  MetadataResponse resp;
  // Advertise the endpoint of the listener the client connected on, as Kafka
  // does, so a client on an internal listener is not sent to an external one.
  for (const auto& ep : ctx.broker.advertised_listeners) {
    if (ep.listener_name != ctx.connection.listener_name) continue;
    auto& b = resp.brokers.emplace_back();
    b.node_id = ctx.broker.broker_id;
    b.host = ep.host;
    b.port = ep.port;
    break;
  }
  resp.cluster_id = ctx.broker.cluster_id;
  resp.controller_id = ctx.broker.broker_id;

  if (req.topics) {
    for (const auto& t : *req.topics) {
      auto& rt = resp.topics.emplace_back();
      rt.name = t.name;
      // Response names are nullable only from v12.
      if (!rt.name && ctx.api_version() < 12) rt.name = "";
      rt.topic_id = t.topic_id;
      if (!t.name && !t.topic_id.is_zero()) {
        rt.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicId);
      } else {
        rt.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition);
      }
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
