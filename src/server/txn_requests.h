#pragma once
// What other handler files need from the transaction requests
// (server/txn_requests.cc): FindCoordinator's answer for key type 1.

#include <cstdint>
#include <string>

#include "protocol/error_code.h"
#include "server/request_context.h"

namespace keel::server {

struct CoordinatorLocation {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  int32_t node_id = -1;
  std::string host;
  int32_t port = -1;
};

// The transaction coordinator of `transactional_id`: the leader of its
// __transaction_state partition, on the request's listener. Creates the
// topic on first use, as Kafka does (transaction.state.log.* settings; not
// while fewer brokers are alive than its replication factor), answering
// COORDINATOR_NOT_AVAILABLE until the partition has a leader that has
// loaded it. The caller checks DESCRIBE on the transactional id.
CoordinatorLocation find_transaction_coordinator(RequestContext& ctx, const std::string& transactional_id);

}  // namespace keel::server
