#include "server/authorization.h"

#include <arpa/inet.h>

#include <cstdio>

#include "common/log.h"
#include "protocol/generated/api.h"

namespace keel::server {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("authorizer");
  return l;
}

}  // namespace

std::string client_address(const net::ConnectionInfo& conn) {
  std::string host = conn.peer;
  if (auto colon = host.rfind(':'); colon != std::string::npos) host.resize(colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  in6_addr v6{};
  if (host.find(':') == std::string::npos || ::inet_pton(AF_INET6, host.c_str(), &v6) != 1) return host;
  std::string out;
  for (int group = 0; group < 8; ++group) {
    char buf[8];
    const unsigned value = (unsigned{v6.s6_addr[2 * group]} << 8) | v6.s6_addr[2 * group + 1];
    std::snprintf(buf, sizeof buf, "%x", value);
    out += (group ? ":" : "") + std::string(buf);
  }
  return out;
}

bool cluster_allowed(const RequestContext& ctx, security::AclOperation op) {
  if (!ctx.services.authorizer) return true;
  if (ctx.services.authorizer->authorize(ctx.principal, client_address(ctx.connection), op,
                                         security::ResourceType::kCluster, security::kClusterResourceName))
    return true;
  const auto* api = protocol::find_api(ctx.header.request_api_key);
  log()->info("{} from {} may not {} the cluster: {} refused", ctx.principal, ctx.connection.peer, to_string(op),
              api ? api->name : std::string_view("request"));
  return false;
}

std::string cluster_not_authorized(const RequestContext& ctx, security::AclOperation op) {
  return "Cluster authorization failed: " + ctx.principal + " is not allowed " + std::string(to_string(op)) +
         " on the cluster";
}

}  // namespace keel::server
