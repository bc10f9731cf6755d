// ACLs: search (DescribeAcls), create one or a batch (CreateAcls), delete by
// filter (DeleteAcls). Enum values are written as Confluent does: the Java
// enum names (TOPIC, DESCRIBE_CONFIGS, ALLOW, PREFIXED).
#include <cctype>

#include <boost/json.hpp>

#include "protocol/generated/create_acls_request.h"
#include "protocol/generated/create_acls_response.h"
#include "protocol/generated/delete_acls_request.h"
#include "protocol/generated/delete_acls_response.h"
#include "protocol/generated/describe_acls_request.h"
#include "protocol/generated/describe_acls_response.h"
#include "security/acl.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;

// "DescribeConfigs" -> "DESCRIBE_CONFIGS".
std::string upper_snake(std::string_view pascal) {
  std::string out;
  for (size_t i = 0; i < pascal.size(); ++i) {
    const auto c = static_cast<unsigned char>(pascal[i]);
    if (i > 0 && std::isupper(c) && !std::isupper(static_cast<unsigned char>(pascal[i - 1]))) out.push_back('_');
    out.push_back(static_cast<char>(std::toupper(c)));
  }
  return out;
}

boost::json::value acl_json(const std::string& cluster_url, const std::string& cluster_id, int8_t type,
                     const std::string& name, int8_t pattern, const std::string& principal, const std::string& host,
                     int8_t operation, int8_t permission) {
  const std::string rt = upper_snake(security::to_string(security::resource_type_from_code(type)));
  const std::string pt = std::string(security::to_string(security::pattern_type_from_code(pattern)));
  const std::string op = upper_snake(security::to_string(security::operation_from_code(operation)));
  const std::string pm = upper_snake(security::to_string(security::permission_type_from_code(permission)));
  const std::string self = cluster_url + "/acls?resource_type=" + rt + "&resource_name=" + name +
                           "&pattern_type=" + pt + "&principal=" + principal + "&host=" + host +
                           "&operation=" + op + "&permission=" + pm;
  boost::json::object v;
  v["kind"] = "KafkaAcl";
  boost::json::object meta;
  meta["self"] = self;
  v["metadata"] = std::move(meta);
  v["cluster_id"] = cluster_id;
  v["resource_type"] = rt;
  v["resource_name"] = name;
  v["pattern_type"] = pt;
  v["principal"] = principal;
  v["host"] = host;
  v["operation"] = op;
  v["permission"] = pm;
  return v;
}

// The ACL filter of a search or delete from the query string; false and
// *refusal when a value is unknown. `required` names what delete needs.
struct Filter {
  int8_t resource_type = static_cast<int8_t>(security::ResourceType::kAny);
  std::optional<std::string> resource_name;
  int8_t pattern_type = static_cast<int8_t>(security::PatternType::kAny);
  std::optional<std::string> principal;
  std::optional<std::string> host;
  int8_t operation = static_cast<int8_t>(security::AclOperation::kAny);
  int8_t permission = static_cast<int8_t>(security::AclPermissionType::kAny);
};

bool parse_filter(const http::Request& req, bool for_delete, Filter* f, http::Response* refusal) {
  bool type = false, pattern = false, op = false, perm = false;
  for (const auto& [k, v] : req.query_params()) {
    bool ok = true;
    if (k == "resource_type") {
      const auto t = security::parse_resource_type(v);
      ok = t != security::ResourceType::kUnknown;
      f->resource_type = static_cast<int8_t>(t);
      type = true;
    } else if (k == "resource_name") {
      f->resource_name = v;
    } else if (k == "pattern_type") {
      const auto t = security::parse_pattern_type(v);
      ok = t != security::PatternType::kUnknown;
      f->pattern_type = static_cast<int8_t>(t);
      pattern = true;
    } else if (k == "principal") {
      f->principal = v;
    } else if (k == "host") {
      f->host = v;
    } else if (k == "operation") {
      const auto t = security::parse_operation(v);
      ok = t != security::AclOperation::kUnknown;
      f->operation = static_cast<int8_t>(t);
      op = true;
    } else if (k == "permission") {
      const auto t = security::parse_permission_type(v);
      ok = t != security::AclPermissionType::kUnknown;
      f->permission = static_cast<int8_t>(t);
      perm = true;
    } else {
      *refusal = error(400, "unknown query parameter '" + k + "'");
      return false;
    }
    if (!ok) {
      *refusal = error(400, "'" + v + "' is not a valid " + k);
      return false;
    }
  }
  if (for_delete && !(type && pattern && op && perm)) {
    *refusal = error(400, "resource_type, pattern_type, operation and permission are required to delete ACLs");
    return false;
  }
  return true;
}

// One ACL to create from a JSON object; false and *refusal when invalid.
bool parse_creation(const boost::json::value& v, std::string_view where, protocol::CreateAclsRequest::AclCreation* out,
                    http::Response* refusal) {
  if (!check_object(v,
                    {{"resource_type", Kind::string, true},
                     {"resource_name", Kind::string, true},
                     {"pattern_type", Kind::string, true},
                     {"principal", Kind::string, true},
                     {"host", Kind::string, true},
                     {"operation", Kind::string, true},
                     {"permission", Kind::string, true}},
                    where, refusal))
    return false;
  const auto rt = security::parse_resource_type(json::string_member(v, "resource_type"));
  const auto pt = security::parse_pattern_type(json::string_member(v, "pattern_type"));
  const auto op = security::parse_operation(json::string_member(v, "operation"));
  const auto pm = security::parse_permission_type(json::string_member(v, "permission"));
  if (rt == security::ResourceType::kUnknown || pt == security::PatternType::kUnknown ||
      op == security::AclOperation::kUnknown || pm == security::AclPermissionType::kUnknown) {
    *refusal = error(400, "unknown resource_type, pattern_type, operation or permission in " + std::string(where));
    return false;
  }
  out->resource_type = static_cast<int8_t>(rt);
  out->resource_name = json::string_member(v, "resource_name");
  out->resource_pattern_type = static_cast<int8_t>(pt);
  out->principal = json::string_member(v, "principal");
  out->host = json::string_member(v, "host");
  out->operation = static_cast<int8_t>(op);
  out->permission_type = static_cast<int8_t>(pm);
  return true;
}

// CreateAcls v3; 201 once every ACL is stored, else the first refusal.
void create_acls(KafkaBridge& bridge, const Caller& who, const protocol::CreateAclsRequest& c, http::Reply reply) {
  bridge.call<protocol::CreateAclsResponse>(who, c, 3, [reply](Result<protocol::CreateAclsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    for (const auto& res : r->results) {
      if (res.error_code != 0) return reply(kafka_error(res.error_code, res.error_message.value_or("")));
    }
    http::Response created = no_content();
    created.status = 201;
    reply(std::move(created));
  });
}

}  // namespace

void RestApi::search_acls(const http::Request& req, const Caller& who, http::Reply reply) {
  Filter f;
  http::Response refusal;
  if (!parse_filter(req, false, &f, &refusal)) return reply(std::move(refusal));
  protocol::DescribeAclsRequest d;
  d.resource_type_filter = f.resource_type;
  d.resource_name_filter = f.resource_name;
  d.pattern_type_filter = f.pattern_type;
  d.principal_filter = f.principal;
  d.host_filter = f.host;
  d.operation = f.operation;
  d.permission_type = f.permission;
  bridge_.call<protocol::DescribeAclsResponse>(who, d, 3, [this, &req, reply](Result<protocol::DescribeAclsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    if (r->error_code != 0) return reply(kafka_error(r->error_code, r->error_message.value_or("")));
    boost::json::array data;
    for (const auto& res : r->resources) {
      for (const auto& a : res.acls) {
        data.push_back(acl_json(cluster_url(req), cluster_id(), res.resource_type, res.resource_name,
                                res.pattern_type, a.principal, a.host, a.operation, a.permission_type));
      }
    }
    boost::json::object out = list("KafkaAclList", base_url(req) + req.target, std::move(data));
    reply(json_response(200, out));
  });
}

void RestApi::create_acl(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  protocol::CreateAclsRequest c;
  protocol::CreateAclsRequest::AclCreation creation;
  std::string why;
  auto parsed = json::parse(req.body, &why);
  if (!parsed) return reply(error(400, "malformed JSON: " + why));
  if (!parse_creation(*parsed, "the request body", &creation, &refusal)) return reply(std::move(refusal));
  c.creations.push_back(std::move(creation));
  create_acls(bridge_, who, c, std::move(reply));
}

void RestApi::batch_create_acls(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body, {{"data", Kind::array, true}}, &refusal);
  if (!body) return reply(std::move(refusal));
  protocol::CreateAclsRequest c;
  for (const auto& entry : json::find(*body, "data")->as_array()) {
    protocol::CreateAclsRequest::AclCreation creation;
    if (!parse_creation(entry, "an element of data", &creation, &refusal)) return reply(std::move(refusal));
    c.creations.push_back(std::move(creation));
  }
  create_acls(bridge_, who, c, std::move(reply));
}

void RestApi::delete_acls(const http::Request& req, const Caller& who, http::Reply reply) {
  Filter f;
  http::Response refusal;
  if (!parse_filter(req, true, &f, &refusal)) return reply(std::move(refusal));
  protocol::DeleteAclsRequest d;
  protocol::DeleteAclsRequest::DeleteAclsFilter filter;
  filter.resource_type_filter = f.resource_type;
  filter.resource_name_filter = f.resource_name;
  filter.pattern_type_filter = f.pattern_type;
  filter.principal_filter = f.principal;
  filter.host_filter = f.host;
  filter.operation = f.operation;
  filter.permission_type = f.permission;
  d.filters.push_back(std::move(filter));
  bridge_.call<protocol::DeleteAclsResponse>(who, d, 3, [this, &req, reply](Result<protocol::DeleteAclsResponse> r) {
    if (!r) return reply(bridge_error(r.error()));
    boost::json::array data;
    for (const auto& fr : r->filter_results) {
      if (fr.error_code != 0) return reply(kafka_error(fr.error_code, fr.error_message.value_or("")));
      for (const auto& m : fr.matching_acls) {
        data.push_back(acl_json(cluster_url(req), cluster_id(), m.resource_type, m.resource_name,
                                m.pattern_type, m.principal, m.host, m.operation, m.permission_type));
      }
    }
    boost::json::object out;
    out["data"] = std::move(data);
    reply(json_response(200, out));
  });
}

}  // namespace keel::server::rest
