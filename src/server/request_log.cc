#include "server/request_log.h"

#include <chrono>
#include <string>

#include "common/log.h"
#include "protocol/generated/api.h"

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

std::function<void(net::Response)> with_request_log(const config::BrokerConfig& config,
                                                    const net::ConnectionInfo& conn,
                                                    const protocol::RequestHeader& header, ByteView body,
                                                    std::function<void(net::Response)> done) {
  const int16_t api_key = header.request_api_key;
  const bool every = log()->should_log(spdlog::level::debug);
  const bool waits_for_group =
      api_key == static_cast<int16_t>(ApiKey::kJoinGroup) || api_key == static_cast<int16_t>(ApiKey::kSyncGroup);
  int64_t slow_ms = config.logging_request_slow_ms;
  const bool slow_check = slow_ms >= 0 && !waits_for_group && log()->should_log(spdlog::level::warn);
  if (!every && !slow_check) return done;
  if (api_key == static_cast<int16_t>(ApiKey::kFetch)) slow_ms += fetch_max_wait_ms(body, header.request_api_version);

  struct Request {
    int16_t api_key;
    int16_t version;
    int32_t correlation_id;
    std::string client_id;
    uint64_t connection;
    std::string peer;
    std::string listener;
    size_t request_bytes;
    std::chrono::steady_clock::time_point start;
  };
  Request req{api_key,
              header.request_api_version,
              header.correlation_id,
              printable(header.client_id.value_or("")),
              conn.id,
              conn.peer,
              conn.listener_name,
              body.size(),
              std::chrono::steady_clock::now()};
  return [req = std::move(req), every, slow_check, slow_ms, done = std::move(done)](net::Response r) mutable {
    const auto took = std::chrono::steady_clock::now() - req.start;
    const double ms = std::chrono::duration<double, std::milli>(took).count();
    const bool slow = slow_check && ms > static_cast<double>(slow_ms);
    if (slow || every) {
      const auto* api = protocol::find_api(req.api_key);
      log()->log(slow ? spdlog::level::warn : spdlog::level::debug,
                 "{}{} v{} correlation {} from client '{}' connection {} ({}, listener {}): {:.1f} ms, "
                 "{} bytes in, {} bytes out{}",
                 slow ? "slow request: " : "", api ? api->name : "unknown", req.version, req.correlation_id,
                 req.client_id, req.connection, req.peer, req.listener, ms, req.request_bytes, response_bytes(r),
                 r.close_after ? ", connection closed" : "");
    }
    done(std::move(r));
  };
}

}  // namespace keel::server
