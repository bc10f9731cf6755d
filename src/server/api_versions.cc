// ApiVersions: which APIs and versions this broker serves — exactly the
// router's table.

#include <algorithm>
#include <regex>

#include "protocol/error_code.h"
#include "protocol/generated/api_versions_request.h"
#include "protocol/generated/api_versions_response.h"
#include "server/handlers.h"
#include "server/router.h"

namespace keel::server {
namespace {

using protocol::ApiVersionsRequest;
using protocol::ApiVersionsResponse;
using protocol::ErrorCode;

ApiVersionsResponse table_response(ErrorCode error) {
  ApiVersionsResponse resp;
  resp.error_code = static_cast<int16_t>(error);
  for (const auto& api : served_apis()) {
    auto& entry = resp.api_keys.emplace_back();
    entry.api_key = api.key;
    entry.min_version = api.min_version;
    entry.max_version = api.max_version;
  }
  std::sort(resp.api_keys.begin(), resp.api_keys.end(),
            [](const auto& a, const auto& b) { return a.api_key < b.api_key; });
  return resp;
}

// KIP-511: the client software name and version must look like
// "apache-kafka-java" / "3.9.0": alphanumerics, '-' and '.', starting and
// ending with an alphanumeric.
bool valid_software_field(const std::string& s) {
  static const std::regex kPattern("[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?");
  return std::regex_match(s, kPattern);
}

}  // namespace

Result<void> handle_api_versions(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  ApiVersionsRequest req;
  if (auto res = req.decode(body, ctx.api_version()); !res) return res;
  ErrorCode error = ErrorCode::kNone;
  if (ctx.api_version() >= 3 && (!valid_software_field(req.client_software_name) ||
                                 !valid_software_field(req.client_software_version))) {
    error = ErrorCode::kInvalidRequest;
  }
  ApiVersionsResponse resp = table_response(error);
  if (error != ErrorCode::kNone) resp.api_keys.clear();
  resp.encode(out, ctx.api_version());
  return {};
}

Bytes api_versions_fallback_body() {
  ByteWriter w;
  table_response(ErrorCode::kUnsupportedVersion).encode(w, 0);
  return w.take();
}

}  // namespace keel::server
