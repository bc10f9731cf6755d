// InitProducerId for idempotent producers: a fresh producer id (epoch 0)
// from the store-backed ProducerIdManager. Transactional ids need the
// transaction coordinator (a later issue): refused with a log line.
// Authorization as Kafka 3.x: a transactional id needs WRITE on it; an
// idempotent producer IDEMPOTENT_WRITE on the cluster or WRITE on some topic.

#include "cluster/producer_id_manager.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/init_producer_id_request.h"
#include "protocol/generated/init_producer_id_response.h"
#include "server/authorization.h"
#include "server/handlers.h"

namespace keel::server {

Result<void> handle_init_producer_id(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::InitProducerIdRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  protocol::InitProducerIdResponse resp;
  RequestAuthorization auth(ctx);
  if (req.transactional_id &&
      !auth.allows(security::AclOperation::kWrite, security::ResourceType::kTransactionalId, *req.transactional_id)) {
    resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kTransactionalIdAuthorizationFailed);
  } else if (!req.transactional_id &&
             !auth.allows_quietly(security::AclOperation::kIdempotentWrite, security::ResourceType::kCluster,
                                  security::kClusterResourceName) &&
             !auth.allows_some(security::AclOperation::kWrite, security::ResourceType::kTopic)) {
    resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kClusterAuthorizationFailed);
  } else if (req.transactional_id) {
    keel::logger("server")->info("InitProducerId for transactional id '{}' from {} refused: transactions are not "
                                 "supported yet",
                                 *req.transactional_id, ctx.connection.peer);
    resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kTransactionalIdAuthorizationFailed);
  } else if (!ctx.services.producer_ids) {
    resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kCoordinatorNotAvailable);
  } else {
    auto id = ctx.services.producer_ids->next_id();
    if (!id) {
      keel::logger("server")->error("cannot allocate a producer id: {}", id.error().message());
      resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kCoordinatorNotAvailable);
    } else {
      resp.producer_id = *id;
      resp.producer_epoch = 0;
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
