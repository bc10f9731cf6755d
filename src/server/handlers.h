#pragma once
// Request handlers, one file per area. Each decodes its request from `body`
// at ctx.api_version() and writes its response body to `out`.

#include "common/bytes.h"
#include "common/result.h"
#include "common/errors.h"
#include "server/request_context.h"
#include "server/router.h"

namespace keel::server {

// Moves `body` to its end, logging at debug how many bytes a request of
// `api_key` v`version` carried after its last field.
void skip_trailing_bytes(ByteReader& body, int16_t api_key, int16_t version);

// Decodes a request body. A body too short for its version's fields is
// malformed; bytes after the last field are ignored, as Kafka ignores them
// (librdkafka 2.15 leaves a placeholder behind Metadata v9+'s topic array),
// with a debug line (skip_trailing_bytes).
template <typename Request>
Result<void> decode_request(Request& req, ByteReader& body, int16_t version) {
  if (auto res = req.decode(body, version); !res) return res;
  skip_trailing_bytes(body, Request::kApiKey, version);
  return {};
}

// Encodes a response for `version` and sends it (asynchronous handlers).
template <typename Response>
void send_encoded(Responder& responder, const Response& resp, int16_t version) {
  ByteWriter out;
  resp.encode(out, version);
  responder.send(out);
}

Result<void> handle_api_versions(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_metadata(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_produce(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_fetch(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_list_offsets(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_create_topics(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_delete_topics(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_create_partitions(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_delete_records(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_describe_cluster(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/controller_requests.cc: the controller's requests, fenced by broker
// and controller epoch.
Result<void> handle_leader_and_isr(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_stop_replica(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_update_metadata(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// A leader's ISR change, answered by the controller (NOT_CONTROLLER elsewhere).
Result<void> handle_alter_partition(RequestContext& ctx, ByteReader& body, Responder responder);
// server/leadership.cc: answered by the controller (NOT_CONTROLLER elsewhere).
Result<void> handle_elect_leaders(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_controlled_shutdown(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/reassignment.cc: KIP-455, answered by the controller (NOT_CONTROLLER elsewhere).
Result<void> handle_alter_partition_reassignments(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_list_partition_reassignments(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_describe_topic_partitions(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/sasl.cc: the SASL exchange on SASL listeners (server/sasl.h);
// ILLEGAL_SASL_STATE outside one.
Result<void> handle_sasl_handshake(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_sasl_authenticate(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/scram_users.cc: KIP-554 SCRAM user administration.
Result<void> handle_describe_user_scram_credentials(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_alter_user_scram_credentials(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/client_quota_requests.cc: KIP-546 client quota administration.
Result<void> handle_describe_client_quotas(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_alter_client_quotas(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_describe_log_dirs(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_offset_for_leader_epoch(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/init_producer_id.cc; with a transactional id, answered by the transaction coordinator.
Result<void> handle_init_producer_id(RequestContext& ctx, ByteReader& body, Responder responder);
// server/txn_requests.cc: the transaction coordinator's APIs.
Result<void> handle_add_partitions_to_txn(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_add_offsets_to_txn(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_end_txn(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_describe_transactions(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_list_transactions(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/write_txn_markers.cc: COMMIT/ABORT markers on the partitions led here
// (from the transaction coordinator or an admin client), answered once replicated.
Result<void> handle_write_txn_markers(RequestContext& ctx, ByteReader& body, Responder responder);
// server/describe_producers.cc: the producer state of the partitions led here (KIP-664).
Result<void> handle_describe_producers(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_describe_configs(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_alter_configs(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_incremental_alter_configs(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_find_coordinator(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_join_group(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_sync_group(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_heartbeat(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_leave_group(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_offset_commit(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_offset_fetch(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/txn_offset_commit.cc: a transaction's offset commit, answered once replicated.
Result<void> handle_txn_offset_commit(RequestContext& ctx, ByteReader& body, Responder responder);
Result<void> handle_describe_groups(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_list_groups(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_delete_groups(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_offset_delete(RequestContext& ctx, ByteReader& body, ByteWriter& out);
// server/acls.cc: Kafka's ACL administration, SECURITY_DISABLED without an authorizer.
Result<void> handle_describe_acls(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_create_acls(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_delete_acls(RequestContext& ctx, ByteReader& body, ByteWriter& out);

// The ApiVersions response body for an unsupported ApiVersions version (KIP-511):
// v0 format, UNSUPPORTED_VERSION, and the full table so the client can pick.
Bytes api_versions_fallback_body();

}  // namespace keel::server
