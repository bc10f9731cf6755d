#include "server/router.h"

#include <algorithm>

#include "common/errors.h"
#include "common/log.h"
#include "protocol/generated/api.h"
#include "protocol/generated/response_header.h"
#include "server/handlers.h"

namespace keel::server {
namespace {

using protocol::ApiKey;

constexpr int16_t key(ApiKey k) { return static_cast<int16_t>(k); }

// What Keel serves. Adding an API here is what makes ApiVersions advertise it.
constexpr ApiEntry kApis[] = {
    {key(ApiKey::kMetadata), 0, 12, &handle_metadata},
    {key(ApiKey::kApiVersions), 0, 3, &handle_api_versions},
};

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

std::string_view api_name(int16_t api_key) {
  const auto* api = protocol::find_api(api_key);
  return api ? api->name : std::string_view("unknown");
}

// [size][response header][body]; the size is patched in at the end.
net::Response frame_response(int16_t api_key, int16_t version, int32_t correlation_id,
                             ByteView body) {
  ByteWriter w(4 + 8 + body.size());
  w.reserve_bytes(4);
  protocol::ResponseHeader header;
  header.correlation_id = correlation_id;
  header.encode(w, protocol::response_header_version(api_key, version));
  w.write_bytes(body);
  Bytes frame = w.take();
  store_be<int32_t>(frame.data(), static_cast<int32_t>(frame.size() - 4));
  net::Response response;
  response.chunks.push_back(std::move(frame));
  return response;
}

net::Response close_connection() {
  net::Response r;
  r.close_after = true;
  return r;
}

}  // namespace

std::span<const ApiEntry> served_apis() { return kApis; }

const ApiEntry* find_served_api(int16_t api_key) {
  for (const auto& e : kApis) {
    if (e.key == api_key) return &e;
  }
  return nullptr;
}

void Router::handle(const net::ConnectionInfo& conn, Bytes frame,
                    std::function<void(net::Response)> done) {
  done(handle_frame(conn, ByteView(frame)));
}

net::Response Router::handle_frame(const net::ConnectionInfo& conn, ByteView frame) {
  ByteReader r(frame);
  // The first 8 bytes are the same in every header version.
  const int16_t api_key = r.read_i16();
  const int16_t api_version = r.read_i16();
  const int32_t correlation_id = r.read_i32();
  if (!r.ok()) {
    log()->warn("closing connection {} from {}: request shorter than a header", conn.id, conn.peer);
    return close_connection();
  }

  const ApiEntry* api = find_served_api(api_key);
  if (api_key == key(ApiKey::kApiVersions) && api &&
      (api_version > api->max_version || api_version < 0)) {
    // KIP-511: answer in v0 so any client can read it, whatever it sent.
    log()->debug("connection {} from {}: ApiVersions v{} unsupported, answering v0 with the table",
                 conn.id, conn.peer, api_version);
    Bytes body = api_versions_fallback_body();
    return frame_response(api_key, 0, correlation_id, ByteView(body));
  }
  if (!api || api_version < api->min_version || api_version > api->max_version) {
    log()->warn("closing connection {} from {}: {} (key {}) v{} is not served", conn.id, conn.peer,
                api_name(api_key), api_key, api_version);
    return close_connection();
  }

  ByteReader hr(frame);
  protocol::RequestHeader header;
  if (auto res = header.decode(hr, protocol::request_header_version(api_key, api_version)); !res) {
    log()->warn("closing connection {} from {}: malformed {} v{} request header: {}", conn.id,
                conn.peer, api_name(api_key), api_version, res.error().message());
    return close_connection();
  }

  RequestContext ctx{broker_, config_, conn, header};
  ByteWriter body;
  auto res = api->handler(ctx, hr, body);
  if (res.ok() && !hr.at_end()) res = WireErrc::kTrailingBytes;
  if (!res.ok()) {
    // Kafka closes the connection when a request body cannot be parsed.
    log()->warn("closing connection {} from {} (client id '{}'): malformed {} v{} request: {}",
                conn.id, conn.peer, header.client_id.value_or(""), api_name(api_key), api_version,
                res.error().message());
    return close_connection();
  }
  if (!body.ok()) {
    log()->error("{} v{} response for {} could not be encoded: {}", api_name(api_key), api_version,
                 conn.peer, body.error().message());
    return close_connection();
  }
  return frame_response(api_key, api_version, correlation_id, ByteView(body.buffer()));
}

}  // namespace keel::server
