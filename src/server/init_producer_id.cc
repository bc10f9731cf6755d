// InitProducerId. Without a transactional id (an idempotent producer): a
// fresh producer id at epoch 0 from the store-backed ProducerIdManager. With
// one: the transaction coordinator's answer (txn/coordinator.h: epochs,
// fencing, KIP-360's epoch bumps), given once the id's state is replicated
// in __transaction_state, with Kafka's error codes for the request version.
// Authorization as Kafka 3.x: a transactional id needs WRITE on it; an
// idempotent producer IDEMPOTENT_WRITE on the cluster or WRITE on some topic.

#include "cluster/producer_id_manager.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/init_producer_id_request.h"
#include "protocol/generated/init_producer_id_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "txn/coordinator.h"

namespace keel::server {

Result<void> handle_init_producer_id(RequestContext& ctx, ByteReader& body, Responder responder) {
  protocol::InitProducerIdRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const int16_t version = ctx.api_version();
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
    if (!ctx.services.txns) {
      resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kCoordinatorNotAvailable);
    } else {
      txn::InitProducerIdRequest tr;
      tr.transactional_id = req.transactional_id;
      tr.transaction_timeout_ms = req.transaction_timeout_ms;
      tr.producer_id = req.producer_id;
      tr.producer_epoch = req.producer_epoch;
      tr.api_version = version;
      ctx.services.txns->init_producer_id(tr, [responder, version](txn::InitProducerIdResult r) mutable {
        protocol::InitProducerIdResponse out;
        out.error_code = static_cast<int16_t>(r.error);
        out.producer_id = r.producer_id;
        out.producer_epoch = r.producer_epoch;
        send_encoded(responder, out, version);
      });
      return {};
    }
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
  send_encoded(responder, resp, version);
  return {};
}

}  // namespace keel::server
