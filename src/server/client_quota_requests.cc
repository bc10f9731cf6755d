// KIP-546: DescribeClientQuotas (48) and AlterClientQuotas (49), with the
// checks, errors and filter rules of Kafka's ZooKeeper-mode broker
// (ZkAdminManager.describeClientQuotas / alterClientQuotas), over the
// entities in /config/users, /config/clients and /config/ips
// (server/client_quotas.h). CLUSTER DESCRIBE_CONFIGS and ALTER_CONFIGS, as
// in Kafka.

#include <arpa/inet.h>

#include <set>

#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/alter_client_quotas_request.h"
#include "protocol/generated/alter_client_quotas_response.h"
#include "protocol/generated/describe_client_quotas_request.h"
#include "protocol/generated/describe_client_quotas_response.h"
#include "server/authorization.h"
#include "server/client_quotas.h"
#include "server/handlers.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;
using Part = security::ClientQuotaEntity::Part;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

constexpr int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }
constexpr std::string_view kUser = "user";
constexpr std::string_view kClientId = "client-id";
constexpr std::string_view kIp = "ip";

// A request error with Kafka's code and message.
struct QuotaError {
  ErrorCode code = ErrorCode::kNone;
  std::string message;
  explicit operator bool() const { return code != ErrorCode::kNone; }
};

QuotaError invalid(std::string message) { return {ErrorCode::kInvalidRequest, std::move(message)}; }

// DescribeClientQuotas' filter component: EXACT (0) a name, DEFAULT (1) the
// default entity, SPECIFIED (2) any entity of that type.
struct FilterPart {
  bool present = false;
  int8_t match_type = 0;
  std::optional<std::string> match;
  // Kafka's `matches`: an entity part against this component.
  bool matches(const Part& p, bool strict) const {
    if (!present) return !p.present || !strict;
    if (!p.present) return false;
    if (match_type == 2) return true;
    if (match_type == 1) return !p.name.has_value();
    return p.name == match;
  }
};

QuotaError parse_filter(const protocol::DescribeClientQuotasRequest& req, FilterPart& user, FilterPart& client,
                        FilterPart& ip) {
  for (const auto& c : req.components) {
    FilterPart* slot = nullptr;
    if (c.entity_type == kUser) {
      slot = &user;
    } else if (c.entity_type == kClientId) {
      slot = &client;
    } else if (c.entity_type == kIp) {
      slot = &ip;
    } else if (c.entity_type.empty()) {
      return invalid("Unexpected empty filter component entity type");
    } else {
      return {ErrorCode::kUnsupportedVersion, "Custom entity type '" + c.entity_type + "' not supported"};
    }
    if (slot->present) {
      return invalid("Duplicate " + std::string(c.entity_type == kClientId ? "client" : c.entity_type) +
                     " filter component entity type");
    }
    if (c.match_type < 0 || c.match_type > 2) return invalid("Unexpected match type: " + std::to_string(c.match_type));
    if (c.match_type == 0 && !c.match) return invalid("An EXACT filter component needs a name to match");
    *slot = FilterPart{true, c.match_type, c.match_type == 0 ? c.match : std::nullopt};
  }
  if ((user.present || client.present) && ip.present) {
    return invalid("Invalid entity filter component combination, IP filter component should not be used with "
                   "user or clientId filter component.");
  }
  return {};
}

bool valid_ip(const std::string& ip) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, ip.c_str(), buf) == 1 || ::inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

// AlterClientQuotas' entity, with Kafka's checks (parseAndSanitizeQuotaEntity).
QuotaError parse_entity(const std::vector<protocol::AlterClientQuotasRequest::EntityData>& parts, QuotaEntity& out) {
  if (parts.empty()) return invalid("Invalid empty client quota entity");
  for (const auto& p : parts) {
    Part* slot = nullptr;
    if (p.entity_type == kUser) {
      slot = &out.user_client.user;
    } else if (p.entity_type == kClientId) {
      slot = &out.user_client.client_id;
    } else if (p.entity_type == kIp) {
      slot = &out.ip;
    } else {
      return invalid("Unhandled client quota entity type: " + p.entity_type);
    }
    if (p.entity_name && p.entity_name->empty()) return invalid("Empty " + p.entity_type + " not supported");
    if (slot->present) return invalid("Duplicate " + p.entity_type + " in the client quota entity");
    *slot = p.entity_name ? Part::named(*p.entity_name) : Part::default_entity();
  }
  if (out.is_ip()) {
    if (out.user_client.user.present || out.user_client.client_id.present) {
      return invalid("Invalid quota entity combination, IP entity should not be used with user/client ID entity.");
    }
    if (out.ip.name && !valid_ip(*out.ip.name)) return invalid(*out.ip.name + " is not a valid IP or resolvable host.");
  }
  return {};
}

template <typename EntityData>
std::vector<EntityData> wire_entity(const QuotaEntity& e) {
  std::vector<EntityData> out;
  auto add = [&](std::string_view type, const Part& p) {
    if (!p.present) return;
    EntityData d;
    d.entity_type = std::string(type);
    d.entity_name = p.name;
    out.push_back(std::move(d));
  };
  add(kUser, e.user_client.user);
  add(kClientId, e.user_client.client_id);
  add(kIp, e.ip);
  return out;
}

}  // namespace

Result<void> handle_describe_client_quotas(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DescribeClientQuotasRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::DescribeClientQuotasResponse resp;
  auto fail = [&](ErrorCode e, std::string message) {
    resp.error_code = code(e);
    resp.error_message = std::move(message);
    resp.entries = std::nullopt;
    resp.encode(out, ctx.api_version());
    return Result<void>{};
  };
  if (!cluster_allowed(ctx, security::AclOperation::kDescribeConfigs))
    return fail(ErrorCode::kClusterAuthorizationFailed,
                cluster_not_authorized(ctx, security::AclOperation::kDescribeConfigs));
  FilterPart user, client, ip;
  if (auto e = parse_filter(req, user, client, ip)) return fail(e.code, e.message);
  ClientQuotaManager* quotas = ctx.services.quotas;
  if (!quotas) return fail(ErrorCode::kUnknownServerError, "client quotas are not available");
  auto all = quotas->stored();
  if (!all) return fail(ErrorCode::kUnknownServerError, "cannot read the client quotas: " + all.error().message());

  const bool strict = req.strict;
  std::vector<protocol::DescribeClientQuotasResponse::EntryData> entries;
  for (const auto& [entity, values] : *all) {
    bool wanted;
    if (entity.is_ip()) {
      // IP entities only when the filter names no user or client id: a
      // named IP (or the default), any IP, or everything when not strict.
      wanted = !user.present && !client.present && (ip.present ? ip.matches(entity.ip, strict) : !strict);
    } else {
      wanted = !ip.present && user.matches(entity.user_client.user, strict) &&
               client.matches(entity.user_client.client_id, strict);
    }
    if (!wanted) continue;
    protocol::DescribeClientQuotasResponse::EntryData entry;
    entry.entity = wire_entity<protocol::DescribeClientQuotasResponse::EntityData>(entity);
    for (const auto& [k, v] : values) entry.values.push_back({k, v, {}});
    entries.push_back(std::move(entry));
  }
  resp.error_message = std::nullopt;
  resp.entries = std::move(entries);
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_alter_client_quotas(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::AlterClientQuotasRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::AlterClientQuotasResponse resp;
  const bool allowed = cluster_allowed(ctx, security::AclOperation::kAlterConfigs);
  ClientQuotaManager* quotas = ctx.services.quotas;
  for (const auto& entry : req.entries) {
    protocol::AlterClientQuotasResponse::EntryData r;
    QuotaEntity entity;
    auto alter = [&]() -> QuotaError {
      if (!allowed) {
        return {ErrorCode::kClusterAuthorizationFailed,
                cluster_not_authorized(ctx, security::AclOperation::kAlterConfigs)};
      }
      if (auto e = parse_entity(entry.entity, entity)) return e;
      if (!quotas) return {ErrorCode::kUnknownServerError, "client quotas are not available"};
      auto config = quotas->stored_config(entity);
      if (!config) return {ErrorCode::kUnknownServerError, "cannot read the entity: " + config.error().message()};
      for (const auto& op : entry.ops) {
        if (op.remove) {
          config->erase(op.key);
          continue;
        }
        if (auto problem = security::check_quota_value(op.key, op.value, entity.is_ip()); !problem.empty())
          return invalid(problem);
        (*config)[op.key] = format_quota_value(op.value);
      }
      if (req.validate_only) return {};
      if (auto w = quotas->store(entity, *config); !w)
        return {ErrorCode::kUnknownServerError, "cannot write the entity: " + w.error().message()};
      auto [type, name] = quota_entity_node(entity);
      log()->info("AlterClientQuotas from {} ({}): quotas of {}/{} changed", ctx.connection.peer, ctx.principal, type,
                  printable(name));
      return {};
    };
    const QuotaError e = alter();
    r.error_code = code(e.code);
    r.error_message = e ? std::optional<std::string>(e.message) : std::nullopt;
    if (e) {
      log()->info("AlterClientQuotas from {} ({}): entry refused: {}", ctx.connection.peer, ctx.principal,
                  printable(e.message));
    }
    // The entity as the client sent it, so it can pair answers with entries.
    for (const auto& p : entry.entity) r.entity.push_back({p.entity_type, p.entity_name, {}});
    resp.entries.push_back(std::move(r));
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
