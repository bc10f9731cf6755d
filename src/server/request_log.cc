#include "server/request_log.h"

#include "common/log.h"
#include "protocol/generated/api.h"
#include "server/broker_metrics.h"

namespace keel::server {
namespace {

using protocol::ApiKey;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("request");
  return l;
}

// The Fetch request's max_wait_ms: after replica_id before v15 (KIP-903
// moved the replica id to a tagged header field), first from v15. 0 when the
// body is too short: the handler refuses it anyway.
int64_t fetch_max_wait_ms(ByteView body, int16_t version) {
  ByteReader r(body);
  if (version < 15) r.read_i32();
  const int32_t wait = r.read_i32();
  return r.ok() && wait > 0 ? wait : 0;
}

size_t response_bytes(const net::Response& r) {
  size_t n = 0;
  for (const auto& c : r.chunks) n += c.size();
  for (const auto& f : r.files) n += static_cast<size_t>(f.length);
  return n;
}

}  // namespace

std::function<void(net::Response)> InFlightRequest::track(std::shared_ptr<InFlightRequest> self,
                                                          const config::BrokerConfig& config, BrokerMetrics* metrics,
                                                          const net::ConnectionInfo& conn,
                                                          const protocol::RequestHeader& header, size_t header_bytes,
                                                          std::function<void(net::Response)> done) {
  const int16_t api_key = header.request_api_key;
  const int16_t version = header.request_api_version;
  const ByteView body = ByteView(self->frame_).subspan(header_bytes);
  const bool fetch = api_key == static_cast<int16_t>(ApiKey::kFetch);
  const bool every = log()->should_log(spdlog::level::debug);
  const bool waits_for_group =
      api_key == static_cast<int16_t>(ApiKey::kJoinGroup) || api_key == static_cast<int16_t>(ApiKey::kSyncGroup);
  const bool slow_check =
      config.logging_request_slow_ms >= 0 && !waits_for_group && log()->should_log(spdlog::level::warn);
  if (!metrics && !every && !slow_check) return done;

  InFlightRequest& r = *self;
  r.done_ = std::move(done);
  r.metrics_ = metrics;
  r.api_key_ = api_key;
  r.version_ = version;
  r.correlation_id_ = header.correlation_id;
  r.header_bytes_ = header_bytes;
  r.every_ = every;
  // A follower's Fetch names its replica id first (before v15; later
  // versions carry it in a tagged field, and Keel's own followers use v12).
  r.follower_ = fetch && version < 15 && body.size() >= 4 && load_be<int32_t>(body.data()) >= 0;
  if (slow_check) {
    r.slow_ms_ = config.logging_request_slow_ms + (fetch ? fetch_max_wait_ms(body, version) : 0);
  }
  if (every || slow_check) {
    r.connection_ = conn.id;
    r.peer_ = conn.peer;
    r.listener_ = conn.listener_name;
  }
  r.start_ = std::chrono::steady_clock::now();
  InFlightRequest* raw = self.get();
  r.self_ = std::move(self);
  return [raw](net::Response response) { raw->finish(std::move(response)); };
}

void InFlightRequest::finish(net::Response r) {
  const auto keep = std::move(self_);  // this lives until the end of the call
  const auto took = std::chrono::steady_clock::now() - start_;
  if (metrics_) {
    metrics_->request_done(api_key_, version_, follower_,
                           std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    metrics_->response_errors(api_key_, version_, follower_, r);
  }
  if (every_ || slow_ms_ >= 0) {
    const double ms = std::chrono::duration<double, std::milli>(took).count();
    const bool slow = slow_ms_ >= 0 && ms > static_cast<double>(slow_ms_);
    if (slow || every_) write_log_line(ms, slow, r);
  }
  auto done = std::move(done_);
  done(std::move(r));
}

void InFlightRequest::write_log_line(double ms, bool slow, const net::Response& r) const {
  // The client id is read back from the frame, only now that it is needed.
  protocol::RequestHeader header;
  ByteReader hr{ByteView(frame_)};
  std::string client_id;
  if (header.decode(hr, protocol::request_header_version(api_key_, version_))) {
    client_id = printable(header.client_id.value_or(""));
  }
  const auto* api = protocol::find_api(api_key_);
  log()->log(slow ? spdlog::level::warn : spdlog::level::debug,
             "{}{} v{} correlation {} from client '{}' connection {} ({}, listener {}): {:.1f} ms, "
             "{} bytes in, {} bytes out{}",
             slow ? "slow request: " : "", api ? api->name : "unknown", version_, correlation_id_, client_id,
             connection_, peer_, listener_, ms, frame_.size() - header_bytes_, response_bytes(r),
             r.close_after ? ", connection closed" : "");
}

}  // namespace keel::server
