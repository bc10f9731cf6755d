// The ACL administration APIs — CreateAcls, DescribeAcls, DeleteAcls (v0-3) —
// as Kafka's AclApis and AclAuthorizer answer them (docs/security.md §1.3):
// - no authorizer configured: SECURITY_DISABLED for each creation / filter /
//   the describe;
// - the caller needs ALTER (create, delete) or DESCRIBE (describe) on the
//   cluster, else CLUSTER_AUTHORIZATION_FAILED;
// - a binding or filter that cannot be stored or matched (UNKNOWN or filter-only
//   values, a cluster not named kafka-cluster, an empty name, ...) is refused
//   INVALID_REQUEST with the reason, on its own: the others go ahead;
// - writes go to the store with compare-and-set (coord::AclStore) and
//   notify every broker; this broker's authorizer is updated at once.
// v0 carries no pattern type: its creations and filters are LITERAL (the
// schema default), so v0 sees and touches literal ACLs only, as in Kafka.

#include <algorithm>
#include <map>
#include <set>

#include "common/log.h"
#include "coord/acl_store.h"
#include "protocol/error_code.h"
#include "protocol/generated/create_acls_request.h"
#include "protocol/generated/create_acls_response.h"
#include "protocol/generated/delete_acls_request.h"
#include "protocol/generated/delete_acls_response.h"
#include "protocol/generated/describe_acls_request.h"
#include "protocol/generated/describe_acls_response.h"
#include "security/acl.h"
#include "server/authorization.h"
#include "server/handlers.h"

namespace keel::server {

using protocol::ErrorCode;
namespace sec = security;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("acl");
  return l;
}

constexpr int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }
constexpr int8_t wire(auto e) { return static_cast<int8_t>(e); }

constexpr std::string_view kSecurityDisabled = "No Authorizer is configured on the broker";


// A store failure as the client sees it: UNKNOWN_SERVER_ERROR, with what went
// wrong (Kafka answers its ZooKeeper exceptions the same way).
std::string store_failure(const std::error_code& ec, const std::string& detail) {
  return detail.empty() ? "cannot update the ACLs in the coordination store: " + ec.message() : detail;
}

// The whole request refused: every creation's or filter's result says why.
template <typename Results>
void fail_each(Results& results, ErrorCode error, const std::string& message) {
  for (auto& r : results) {
    r.error_code = code(error);
    r.error_message = message;
  }
}

// DescribeAcls and DeleteAcls filters have the same fields.
template <typename Filter>
sec::AclBindingFilter filter_of(const Filter& f) {
  sec::AclBindingFilter out;
  out.pattern.type = sec::resource_type_from_code(f.resource_type_filter);
  out.pattern.name = f.resource_name_filter;
  out.pattern.pattern_type = sec::pattern_type_from_code(f.pattern_type_filter);
  out.entry.principal = f.principal_filter;
  out.entry.host = f.host_filter;
  out.entry.operation = sec::operation_from_code(f.operation);
  out.entry.permission = sec::permission_type_from_code(f.permission_type);
  return out;
}

// The one pattern a filter names, when it names exactly one (Kafka's
// matchesAtMostOne): its node is read even if this broker's cache has not
// heard of it yet.
std::optional<sec::ResourcePattern> single_pattern(const sec::AclBindingFilter& f) {
  const auto pt = f.pattern.pattern_type;
  if (f.pattern.type == sec::ResourceType::kAny || !f.pattern.name ||
      (pt != sec::PatternType::kLiteral && pt != sec::PatternType::kPrefixed))
    return std::nullopt;
  return sec::ResourcePattern{f.pattern.type, *f.pattern.name, pt};
}

}  // namespace

Result<void> handle_create_acls(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::CreateAclsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::CreateAclsResponse resp;
  resp.results.resize(req.creations.size());
  if (!cluster_allowed(ctx, sec::AclOperation::kAlter)) {
    fail_each(resp.results, ErrorCode::kClusterAuthorizationFailed, cluster_not_authorized(ctx, sec::AclOperation::kAlter));
  } else if (!ctx.services.authorizer || !ctx.services.acl_store) {
    fail_each(resp.results, ErrorCode::kSecurityDisabled, std::string(kSecurityDisabled));
  } else {
    // Valid creations grouped by pattern, so each node is written once.
    std::map<sec::ResourcePattern, std::vector<size_t>> by_pattern;
    std::vector<sec::AclBinding> bindings(req.creations.size());
    for (size_t i = 0; i < req.creations.size(); ++i) {
      const auto& c = req.creations[i];
      bindings[i] = {{sec::resource_type_from_code(c.resource_type), c.resource_name,
                      sec::pattern_type_from_code(c.resource_pattern_type)},
                     {c.principal, c.host, sec::operation_from_code(c.operation),
                      sec::permission_type_from_code(c.permission_type)}};
      if (auto why = sec::validate_for_create(bindings[i])) {
        resp.results[i].error_code = code(ErrorCode::kInvalidRequest);
        resp.results[i].error_message = *why;
        continue;
      }
      by_pattern[bindings[i].pattern].push_back(i);
    }
    for (const auto& [pattern, indexes] : by_pattern) {
      std::string detail;
      auto stored = ctx.services.acl_store->update_resource_acls(
          pattern,
          [&](const std::vector<sec::AccessControlEntry>& current) {
            auto next = current;
            for (size_t i : indexes) next.push_back(bindings[i].entry);
            return next;
          },
          nullptr, &detail);
      if (!stored) {
        log()->error("CreateAcls for {} '{}': {}", to_string(pattern.type), pattern.name,
                     store_failure(stored.error(), detail));
        for (size_t i : indexes) {
          resp.results[i].error_code = code(ErrorCode::kUnknownServerError);
          resp.results[i].error_message = store_failure(stored.error(), detail);
        }
        continue;
      }
      ctx.services.authorizer->set_acls(pattern, *stored);
      for (size_t i : indexes) {
        log()->info("{} created ACL: {} {} {} from {} on {} {} '{}'", ctx.principal, bindings[i].entry.principal,
                    to_string(bindings[i].entry.permission), to_string(bindings[i].entry.operation),
                    bindings[i].entry.host, to_string(pattern.pattern_type), to_string(pattern.type), pattern.name);
      }
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_describe_acls(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DescribeAclsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::DescribeAclsResponse resp;
  const sec::AclBindingFilter filter = filter_of(req);
  if (!cluster_allowed(ctx, sec::AclOperation::kDescribe)) {
    resp.error_code = code(ErrorCode::kClusterAuthorizationFailed);
    resp.error_message = cluster_not_authorized(ctx, sec::AclOperation::kDescribe);
  } else if (!ctx.services.authorizer) {
    resp.error_code = code(ErrorCode::kSecurityDisabled);
    resp.error_message = std::string(kSecurityDisabled);
  } else if (auto why = sec::validate_filter(filter)) {
    resp.error_code = code(ErrorCode::kInvalidRequest);
    resp.error_message = *why;
  } else {
    // acls() returns the bindings grouped by pattern: one resource each.
    for (const auto& b : ctx.services.authorizer->acls(filter)) {
      if (resp.resources.empty() || resp.resources.back().resource_type != wire(b.pattern.type) ||
          resp.resources.back().resource_name != b.pattern.name ||
          resp.resources.back().pattern_type != wire(b.pattern.pattern_type)) {
        auto& r = resp.resources.emplace_back();
        r.resource_type = wire(b.pattern.type);
        r.resource_name = b.pattern.name;
        r.pattern_type = wire(b.pattern.pattern_type);
      }
      auto& a = resp.resources.back().acls.emplace_back();
      a.principal = b.entry.principal;
      a.host = b.entry.host;
      a.operation = wire(b.entry.operation);
      a.permission_type = wire(b.entry.permission);
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_delete_acls(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DeleteAclsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::DeleteAclsResponse resp;
  resp.filter_results.resize(req.filters.size());
  if (!cluster_allowed(ctx, sec::AclOperation::kAlter)) {
    fail_each(resp.filter_results, ErrorCode::kClusterAuthorizationFailed,
              cluster_not_authorized(ctx, sec::AclOperation::kAlter));
    resp.encode(out, ctx.api_version());
    return {};
  }
  if (!ctx.services.authorizer || !ctx.services.acl_store) {
    fail_each(resp.filter_results, ErrorCode::kSecurityDisabled, std::string(kSecurityDisabled));
    resp.encode(out, ctx.api_version());
    return {};
  }
  auto& authorizer = *ctx.services.authorizer;
  // The filters that can be applied, by index; the others are answered
  // INVALID_REQUEST alone.
  std::vector<std::pair<size_t, sec::AclBindingFilter>> filters;
  for (size_t i = 0; i < req.filters.size(); ++i) {
    sec::AclBindingFilter f = filter_of(req.filters[i]);
    if (auto why = sec::validate_filter(f)) {
      resp.filter_results[i].error_code = code(ErrorCode::kInvalidRequest);
      resp.filter_results[i].error_message = *why;
      continue;
    }
    filters.emplace_back(i, std::move(f));
  }
  // Every pattern some filter may match: the known ones, and the one a
  // precise filter names (another broker may have just created it).
  std::set<sec::ResourcePattern> patterns;
  for (const auto& b : authorizer.acls(sec::AclBindingFilter{})) patterns.insert(b.pattern);
  for (const auto& [i, f] : filters) {
    if (auto p = single_pattern(f)) patterns.insert(*p);
  }
  // Each deleted binding is reported under the first filter that matched
  // it, as Kafka's AclAuthorizer.deleteAcls does.
  std::map<size_t, std::vector<std::pair<sec::AclBinding, std::optional<std::string>>>> deleted;
  for (const auto& pattern : patterns) {
    std::vector<const std::pair<size_t, sec::AclBindingFilter>*> matching;
    for (const auto& f : filters) {
      if (f.second.pattern.matches(pattern)) matching.push_back(&f);
    }
    if (matching.empty()) continue;
    // Rebuilt on every attempt of the compare-and-set loop: the last one's is
    // what was removed.
    std::vector<std::pair<size_t, sec::AclBinding>> removed;
    std::string detail;
    auto stored = ctx.services.acl_store->update_resource_acls(
        pattern,
        [&](const std::vector<sec::AccessControlEntry>& current) {
          removed.clear();
          std::vector<sec::AccessControlEntry> kept;
          for (const auto& entry : current) {
            const auto first = std::find_if(matching.begin(), matching.end(),
                                             [&](const auto* f) { return f->second.entry.matches(entry); });
            if (first == matching.end()) {
              kept.push_back(entry);
            } else {
              removed.emplace_back((*first)->first, sec::AclBinding{pattern, entry});
            }
          }
          return kept;
        },
        nullptr, &detail);
    std::optional<std::string> failure;
    if (!stored) {
      failure = store_failure(stored.error(), detail);
      log()->error("DeleteAcls for {} '{}': {}", to_string(pattern.type), pattern.name, *failure);
    } else {
      authorizer.set_acls(pattern, *stored);
    }
    for (auto& [index, binding] : removed) {
      if (!failure) {
        log()->info("{} deleted ACL: {} {} {} from {} on {} {} '{}'", ctx.principal, binding.entry.principal,
                    to_string(binding.entry.permission), to_string(binding.entry.operation), binding.entry.host,
                    to_string(pattern.pattern_type), to_string(pattern.type), pattern.name);
      }
      deleted[index].emplace_back(std::move(binding), failure);
    }
  }
  for (auto& [index, list] : deleted) {
    std::sort(list.begin(), list.end());
    for (const auto& [binding, failure] : list) {
      auto& m = resp.filter_results[index].matching_acls.emplace_back();
      if (failure) {
        m.error_code = code(ErrorCode::kUnknownServerError);
        m.error_message = *failure;
      }
      m.resource_type = wire(binding.pattern.type);
      m.resource_name = binding.pattern.name;
      m.pattern_type = wire(binding.pattern.pattern_type);
      m.principal = binding.entry.principal;
      m.host = binding.entry.host;
      m.operation = wire(binding.entry.operation);
      m.permission_type = wire(binding.entry.permission);
    }
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
