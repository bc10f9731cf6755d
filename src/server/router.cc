#include "server/router.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "common/errors.h"
#include "common/log.h"
#include "protocol/generated/api.h"
#include "protocol/generated/response_header.h"
#include "server/broker_metrics.h"
#include "server/handlers.h"
#include "server/quota_throttle.h"
#include "server/request_log.h"
#include "server/sasl.h"

namespace keel::server {
namespace {

using protocol::ApiKey;

constexpr int16_t key(ApiKey k) { return static_cast<int16_t>(k); }

// What Keel serves. Adding an API here is what makes ApiVersions advertise it.
// Ordered by key. The last field marks the data path's requests that never
// wait on the store or another broker, handled on the network thread when
// their connection has nothing queued for the handler threads.
constexpr ApiEntry kApis[] = {
    {key(ApiKey::kProduce), 0, 11, nullptr, &handle_produce, true},
    {key(ApiKey::kFetch), 0, 17, nullptr, &handle_fetch, true},
    {key(ApiKey::kListOffsets), 0, 9, &handle_list_offsets, nullptr, true},
    {key(ApiKey::kMetadata), 0, 12, &handle_metadata},
    {key(ApiKey::kLeaderAndIsr), 0, 7, &handle_leader_and_isr},
    {key(ApiKey::kStopReplica), 0, 4, &handle_stop_replica},
    {key(ApiKey::kUpdateMetadata), 0, 8, &handle_update_metadata},
    {key(ApiKey::kOffsetCommit), 0, 9, nullptr, &handle_offset_commit},
    {key(ApiKey::kOffsetFetch), 0, 9, &handle_offset_fetch},
    {key(ApiKey::kFindCoordinator), 0, 6, &handle_find_coordinator},
    {key(ApiKey::kJoinGroup), 0, 9, nullptr, &handle_join_group},
    {key(ApiKey::kHeartbeat), 0, 4, &handle_heartbeat, nullptr, true},
    {key(ApiKey::kLeaveGroup), 0, 5, &handle_leave_group},
    {key(ApiKey::kSyncGroup), 0, 5, nullptr, &handle_sync_group},
    {key(ApiKey::kDescribeGroups), 0, 5, &handle_describe_groups},
    {key(ApiKey::kListGroups), 0, 5, &handle_list_groups},
    {key(ApiKey::kSaslHandshake), 0, 1, &handle_sasl_handshake},
    {key(ApiKey::kApiVersions), 0, 3, &handle_api_versions, nullptr, true},
    {key(ApiKey::kCreateTopics), 0, 7, nullptr, &handle_create_topics},
    {key(ApiKey::kDeleteTopics), 0, 6, nullptr, &handle_delete_topics},
    {key(ApiKey::kDeleteRecords), 0, 2, &handle_delete_records},
    {key(ApiKey::kInitProducerId), 0, 5, nullptr, &handle_init_producer_id},
    // Transactions V1 only: AddPartitionsToTxn v4 is the brokers' KIP-890
    // verification; EndTxn v4+ / the transaction.version feature are not served.
    // AddPartitionsToTxn and EndTxn only touch the coordinator's memory and
    // append to local logs (markers of partitions led here included); what
    // waits, waits in a callback: on the network thread, as Produce, they
    // save two thread hand-offs per transaction. InitProducerId may ask the
    // store for a producer id block: not there.
    {key(ApiKey::kAddPartitionsToTxn), 0, 4, nullptr, &handle_add_partitions_to_txn, true},
    {key(ApiKey::kAddOffsetsToTxn), 0, 3, nullptr, &handle_add_offsets_to_txn},
    {key(ApiKey::kEndTxn), 0, 3, nullptr, &handle_end_txn, true},
    // v4 is Transactions V2's (KIP-890 part 2): not served.
    {key(ApiKey::kTxnOffsetCommit), 0, 3, nullptr, &handle_txn_offset_commit},
    {key(ApiKey::kOffsetForLeaderEpoch), 0, 4, &handle_offset_for_leader_epoch},
    {key(ApiKey::kWriteTxnMarkers), 0, 1, nullptr, &handle_write_txn_markers},
    {key(ApiKey::kDescribeAcls), 0, 3, &handle_describe_acls},
    {key(ApiKey::kCreateAcls), 0, 3, &handle_create_acls},
    {key(ApiKey::kDeleteAcls), 0, 3, &handle_delete_acls},
    {key(ApiKey::kDescribeConfigs), 0, 4, &handle_describe_configs},
    {key(ApiKey::kAlterConfigs), 0, 2, &handle_alter_configs},
    {key(ApiKey::kDescribeLogDirs), 0, 4, &handle_describe_log_dirs},
    {key(ApiKey::kSaslAuthenticate), 0, 2, &handle_sasl_authenticate},
    {key(ApiKey::kCreatePartitions), 0, 3, nullptr, &handle_create_partitions},
    {key(ApiKey::kDeleteGroups), 0, 2, &handle_delete_groups},
    {key(ApiKey::kIncrementalAlterConfigs), 0, 1, &handle_incremental_alter_configs},
    {key(ApiKey::kOffsetDelete), 0, 0, &handle_offset_delete},
    {key(ApiKey::kAlterPartitionReassignments), 0, 0, &handle_alter_partition_reassignments},
    {key(ApiKey::kListPartitionReassignments), 0, 0, &handle_list_partition_reassignments},
    {key(ApiKey::kDescribeClientQuotas), 0, 1, &handle_describe_client_quotas},
    {key(ApiKey::kAlterClientQuotas), 0, 1, &handle_alter_client_quotas},
    {key(ApiKey::kDescribeUserScramCredentials), 0, 0, &handle_describe_user_scram_credentials},
    {key(ApiKey::kAlterUserScramCredentials), 0, 0, &handle_alter_user_scram_credentials},
    {key(ApiKey::kDescribeCluster), 0, 1, &handle_describe_cluster},
    {key(ApiKey::kDescribeTransactions), 0, 0, &handle_describe_transactions},
    {key(ApiKey::kListTransactions), 0, 1, &handle_list_transactions},
    {key(ApiKey::kDescribeProducers), 0, 0, &handle_describe_producers},
    {key(ApiKey::kAlterPartition), 0, 3, nullptr, &handle_alter_partition},
    {key(ApiKey::kElectLeaders), 0, 2, &handle_elect_leaders},
    {key(ApiKey::kControlledShutdown), 0, 3, &handle_controlled_shutdown},
    {key(ApiKey::kDescribeTopicPartitions), 0, 0, &handle_describe_topic_partitions},
};

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

std::string_view api_name(int16_t api_key) {
  const auto* api = protocol::find_api(api_key);
  return api ? api->name : std::string_view("unknown");
}

// [size][response header][body], with the body's splices filled by file
// ranges; the size is patched in at the end.
net::Response frame_response(int16_t api_key, int16_t version, int32_t correlation_id, const ByteWriter& body,
                             const std::vector<std::vector<net::FileChunk>>& files = {}) {
  const Bytes& buf = body.buffer();
  ByteWriter w(4 + 8 + buf.size());
  w.reserve_bytes(4);
  protocol::ResponseHeader header;
  header.correlation_id = correlation_id;
  header.encode(w, protocol::response_header_version(api_key, version));
  const size_t header_size = w.size();
  net::Response response;
  size_t from = 0;
  int64_t total = static_cast<int64_t>(header_size + buf.size());
  bool first = true;
  for (const auto& splice : body.splices()) {
    Bytes chunk;
    if (first) {
      w.write_bytes(ByteView(buf.data(), splice.position));
      chunk = w.take();
      first = false;
    } else {
      chunk.assign(buf.begin() + static_cast<ptrdiff_t>(from), buf.begin() + static_cast<ptrdiff_t>(splice.position));
    }
    from = splice.position;
    const std::vector<net::FileChunk> none;
    const auto& ranges = splice.id < files.size() ? files[splice.id] : none;
    if (ranges.empty()) {
      response.chunks.push_back(std::move(chunk));
      response.files.push_back({});
      continue;
    }
    for (size_t i = 0; i < ranges.size(); ++i) {
      response.chunks.push_back(i == 0 ? std::move(chunk) : Bytes{});
      response.files.push_back(ranges[i]);
      total += ranges[i].length;
    }
  }
  if (first) {
    w.write_bytes(ByteView(buf));
    response.chunks.push_back(w.take());
  } else {
    response.chunks.emplace_back(buf.begin() + static_cast<ptrdiff_t>(from), buf.end());
  }
  store_be<int32_t>(response.chunks.front().data(), static_cast<int32_t>(total - 4));
  return response;
}

net::Response close_connection() {
  net::Response r;
  r.close_after = true;
  return r;
}

}  // namespace

void skip_trailing_bytes(ByteReader& body, int16_t api_key, int16_t version) {
  if (body.at_end()) return;
  log()->debug("ignoring {} bytes after the fields of a {} v{} request", body.remaining(), api_name(api_key),
               version);
  body.skip(body.remaining());
}

std::span<const ApiEntry> served_apis() { return kApis; }

const ApiEntry* find_served_api(int16_t api_key) {
  for (const auto& e : kApis) {
    if (e.key == api_key) return &e;
  }
  return nullptr;
}

struct Responder::State {
  int16_t api_key;
  int16_t api_version;
  int32_t correlation_id;
  std::function<void(net::Response)> done;
  std::atomic<bool> used{false};
};

Responder::Responder(int16_t api_key, int16_t api_version, int32_t correlation_id,
                     std::function<void(net::Response)> done)
    : state_(std::make_shared<State>()) {
  state_->api_key = api_key;
  state_->api_version = api_version;
  state_->correlation_id = correlation_id;
  state_->done = std::move(done);
}

void Responder::send(const ByteWriter& body, const std::vector<std::vector<net::FileChunk>>& files) {
  if (state_->used.exchange(true)) return;
  if (!body.ok()) {
    log()->error("{} v{} response could not be encoded: {}", api_name(state_->api_key), state_->api_version,
                 body.error().message());
    state_->done(close_connection());
    return;
  }
  state_->done(frame_response(state_->api_key, state_->api_version, state_->correlation_id, body, files));
}

int16_t Responder::api_version() const { return state_->api_version; }

void Responder::send_nothing() {
  if (state_->used.exchange(true)) return;
  state_->done(net::Response{});
}

void Responder::close() {
  if (state_->used.exchange(true)) return;
  state_->done(close_connection());
}

int64_t RequestContext::now_ms() const {
  if (services.now_ms) return services.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Router::runs_on_network_thread(const net::Frame& frame) const {
  if (frame.size() < 2 || frame.size() >= kNetworkThreadMaxFrameBytes) return false;
  const ApiEntry* api = find_served_api(load_be<int16_t>(frame.data()));
  return api && api->on_network_thread;
}

net::Response Router::handle_frame(const net::ConnectionInfo& conn, ByteView frame) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<net::Response> out;
  handle(conn, net::Frame(frame.begin(), frame.end()), [&](net::Response r) {
    std::lock_guard lock(mu);
    out = std::move(r);
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return out.has_value(); })) {
    log()->error("handle_frame: no answer within 10 s");
    return close_connection();
  }
  return std::move(*out);
}

void Router::handle(const net::ConnectionInfo& conn, net::Frame frame_bytes,
                    std::function<void(net::Response)> done) {
  // One allocation for the frame and its completion (server/request_log.h).
  auto in_flight = std::make_shared<InFlightRequest>(std::move(frame_bytes));
  std::shared_ptr<net::Frame> frame_ptr(in_flight, &in_flight->frame());
  ByteView frame(*frame_ptr);
  // After SaslHandshake v0 the client's frames are bare SASL tokens, with no
  // Kafka header (server/sasl.h).
  const AuthStage stage = auth_stage(config_, conn);
  if (stage == AuthStage::kSaslRawToken) return done(handle_raw_sasl_token(config_, services_, conn, frame));
  if (stage == AuthStage::kFailed) return done(close_connection());
  ByteReader r(frame);
  // The first 8 bytes are the same in every header version.
  const int16_t api_key = r.read_i16();
  const int16_t api_version = r.read_i16();
  const int32_t correlation_id = r.read_i32();
  if (!r.ok()) {
    log()->warn("closing connection {} from {}: request shorter than a header", conn.id, conn.peer);
    return done(close_connection());
  }

  const ApiEntry* api = find_served_api(api_key);
  if (api_key == key(ApiKey::kApiVersions) && api &&
      (api_version > api->max_version || api_version < 0)) {
    // KIP-511: answer in v0 so any client can read it, whatever it sent.
    log()->debug("connection {} from {}: ApiVersions v{} unsupported, answering v0 with the table",
                 conn.id, conn.peer, api_version);
    ByteWriter body;
    body.write_bytes(ByteView(api_versions_fallback_body()));
    return done(frame_response(api_key, 0, correlation_id, body));
  }
  // A SASL listener's connection before authentication: ApiVersions and
  // SaslHandshake only, then SaslAuthenticate only, as Kafka (server/sasl.h).
  const bool before_sasl = stage == AuthStage::kSaslHandshake;
  if ((before_sasl && api_key != key(ApiKey::kApiVersions) && api_key != key(ApiKey::kSaslHandshake)) ||
      (stage == AuthStage::kSaslAuthenticate && api_key != key(ApiKey::kSaslAuthenticate))) {
    log()->warn("closing connection {} from {} on listener {}: {} (key {}) before SASL authentication", conn.id,
                conn.peer, conn.listener_name, api_name(api_key), api_key);
    return done(close_connection());
  }
  // KIP-368: past its session lifetime a connection may only re-authenticate.
  if (stage == AuthStage::kAuthenticated && api_key != key(ApiKey::kSaslHandshake) &&
      sasl_session_expired(conn)) {
    log()->info("closing connection {} from {} on listener {}: its SASL session expired "
                "(connections.max.reauth.ms {}) and {} is not a re-authentication",
                conn.id, conn.peer, conn.listener_name, config_.connections_max_reauth_ms, api_name(api_key));
    return done(close_connection());
  }
  if (!api || api_version < api->min_version || api_version > api->max_version) {
    log()->warn("closing connection {} from {}: {} (key {}) v{} is not served", conn.id, conn.peer,
                api_name(api_key), api_key, api_version);
    return done(close_connection());
  }

  ByteReader hr(frame);
  protocol::RequestHeader header;
  if (auto res = header.decode(hr, protocol::request_header_version(api_key, api_version)); !res) {
    log()->warn("closing connection {} from {}: malformed {} v{} request header: {}", conn.id,
                conn.peer, api_name(api_key), api_version, res.error().message());
    return done(close_connection());
  }

  done = InFlightRequest::track(std::move(in_flight), config_, services_.metrics, conn, header, hr.position(),
                                std::move(done));
  RequestContext ctx{broker_, config_, conn, header, services_, frame_ptr};
  ctx.principal = connection_principal(conn);
  ctx.quota = begin_request_quota(services_.throttler, conn, ctx.principal, header.client_id.value_or(""), api_key,
                                  api_version, static_cast<int64_t>(frame.size()) + 4, done);
  ByteWriter body;
  Result<void> res;
  if (api->async_handler) {
    res = api->async_handler(ctx, hr, Responder(api_key, api_version, correlation_id, done));
  } else {
    res = api->handler(ctx, hr, body);
    if (res.ok()) skip_trailing_bytes(hr, api_key, api_version);
  }
  end_request_quota(services_.throttler, ctx.quota.get(), api_key);
  if (!res.ok()) {
    // Kafka closes the connection when a request body cannot be parsed.
    log()->warn("closing connection {} from {} (client id '{}'): malformed {} v{} request: {}",
                conn.id, conn.peer, printable(header.client_id.value_or("")), api_name(api_key), api_version,
                res.error().message());
    return done(close_connection());
  }
  if (api->async_handler) return;  // the responder answers
  if (!body.ok()) {
    log()->error("{} v{} response for {} could not be encoded: {}", api_name(api_key), api_version,
                 conn.peer, body.error().message());
    return done(close_connection());
  }
  net::Response response = frame_response(api_key, api_version, correlation_id, body);
  // A refused mechanism or failed authentication: the answer goes after
  // Kafka's delay, and the connection closes behind it.
  if (auth_stage(config_, conn) == AuthStage::kFailed) {
    response.close_after = true;
    response.delay_ms = failed_authentication_delay_ms(config_);
  }
  done(std::move(response));
}

}  // namespace keel::server
