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

namespace {

std::string describe_resource(security::AclOperation op, security::ResourceType type, std::string_view name) {
  if (type == security::ResourceType::kCluster) return std::string(to_string(op)) + " the cluster";
  return std::string(to_string(op)) + " " + std::string(to_string(type)) + " '" + std::string(name) + "'";
}

}  // namespace

RequestAuthorization::RequestAuthorization(const RequestContext& ctx)
    : ctx_(ctx), authorizer_(ctx.connection.in_process ? nullptr : ctx.services.authorizer) {
  if (authorizer_) host_ = client_address(ctx.connection);
}

RequestAuthorization::~RequestAuthorization() {
  if (first_denial_.empty()) return;
  const auto* api = protocol::find_api(ctx_.header.request_api_key);
  const std::string more = more_denials_ ? " (and " + std::to_string(more_denials_) + " more)" : "";
  log()->info("{} from {} may not {}{}: {} refused", ctx_.principal, ctx_.connection.peer, first_denial_, more,
              api ? api->name : std::string_view("request"));
}

bool RequestAuthorization::allows_quietly(security::AclOperation op, security::ResourceType type,
                                          std::string_view name) const {
  return !authorizer_ || authorizer_->authorize(ctx_.principal, host_, op, type, name);
}

bool RequestAuthorization::allows(security::AclOperation op, security::ResourceType type, std::string_view name) {
  if (allows_quietly(op, type, name)) return true;
  record_denial(describe_resource(op, type, name));
  return false;
}

bool RequestAuthorization::allows_some(security::AclOperation op, security::ResourceType type) {
  if (!authorizer_ || authorizer_->authorize_by_resource_type(ctx_.principal, host_, op, type)) return true;
  record_denial(std::string(to_string(op)) + " any " + std::string(to_string(type)));
  return false;
}

int32_t RequestAuthorization::operations(security::ResourceType type, std::string_view name) const {
  int32_t bits = 0;
  for (security::AclOperation op : security::supported_operations(type)) {
    if (allows_quietly(op, type, name)) bits |= int32_t{1} << static_cast<int>(op);
  }
  return bits;
}

int32_t RequestAuthorization::cluster_operations() const {
  if (!allows_quietly(security::AclOperation::kDescribe, security::ResourceType::kCluster,
                      security::kClusterResourceName))
    return 0;
  return operations(security::ResourceType::kCluster, security::kClusterResourceName);
}

std::string RequestAuthorization::denied_message(security::AclOperation op, security::ResourceType type,
                                                 std::string_view name) const {
  return ctx_.principal + " is not allowed to " + describe_resource(op, type, name);
}

void RequestAuthorization::record_denial(std::string what) {
  if (first_denial_.empty()) {
    first_denial_ = std::move(what);
  } else {
    ++more_denials_;
  }
}

bool cluster_allowed(const RequestContext& ctx, security::AclOperation op) {
  return RequestAuthorization(ctx).allows_cluster(op);
}

std::string cluster_not_authorized(const RequestContext& ctx, security::AclOperation op) {
  return "Cluster authorization failed: " + ctx.principal + " is not allowed " + std::string(to_string(op)) +
         " on the cluster";
}

}  // namespace keel::server
