#pragma once
// Request handlers, one file per area. Each decodes its request from `body`
// at ctx.api_version() and writes its response body to `out`.

#include "common/bytes.h"
#include "common/result.h"
#include "server/request_context.h"

namespace keel::server {

Result<void> handle_api_versions(RequestContext& ctx, ByteReader& body, ByteWriter& out);
Result<void> handle_metadata(RequestContext& ctx, ByteReader& body, ByteWriter& out);

// The ApiVersions response body for an unsupported ApiVersions version (KIP-511):
// v0 format, UNSUPPORTED_VERSION, and the full table so the client can pick.
Bytes api_versions_fallback_body();

}  // namespace keel::server
