// ElectLeaders and ControlledShutdown: requests only the controller answers
// (NOT_CONTROLLER elsewhere; clients and brokers look it up in Metadata).
// ElectLeaders needs ALTER on the cluster (Kafka's KafkaApis; its docs table
// says ClusterAction, the code Alter), ControlledShutdown CLUSTER_ACTION.

#include "controller/controller.h"
#include "protocol/generated/controlled_shutdown_request.h"
#include "protocol/generated/controlled_shutdown_response.h"
#include "protocol/generated/elect_leaders_request.h"
#include "protocol/generated/elect_leaders_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "server/request_context.h"

namespace keel::server {

using protocol::ErrorCode;

Result<void> handle_elect_leaders(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::ElectLeadersRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::ElectLeadersResponse resp;
  const bool allowed = cluster_allowed(ctx, security::AclOperation::kAlter);
  if (!allowed) {
    resp.error_code = static_cast<int16_t>(ErrorCode::kClusterAuthorizationFailed);
  } else if (ctx.services.controller) {
    resp = ctx.services.controller->elect_leaders(req, ctx.api_version());
  } else {
    resp.error_code = static_cast<int16_t>(ErrorCode::kNotController);
  }
  // v0 has no top-level error code: a broker that is not the controller
  // answers it for every partition asked about; a refusal is answered there
  // in every version, as Kafka does.
  if ((ctx.api_version() == 0 || !allowed) && resp.error_code != 0 && resp.replica_election_results.empty() && req.topic_partitions) {
    for (const auto& tp : *req.topic_partitions) {
      auto& r = resp.replica_election_results.emplace_back();
      r.topic = tp.topic;
      for (int32_t p : tp.partitions) {
        auto& pr = r.partition_result.emplace_back();
        pr.partition_id = p;
        pr.error_code = resp.error_code;
      }
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_controlled_shutdown(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::ControlledShutdownRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::ControlledShutdownResponse resp;
  if (!cluster_allowed(ctx, security::AclOperation::kClusterAction)) {
    resp.error_code = static_cast<int16_t>(ErrorCode::kClusterAuthorizationFailed);
  } else if (ctx.services.controller) {
    resp = ctx.services.controller->controlled_shutdown(req, ctx.api_version());
  } else {
    resp.error_code = static_cast<int16_t>(ErrorCode::kNotController);
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
