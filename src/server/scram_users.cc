// KIP-554: DescribeUserScramCredentials and AlterUserScramCredentials, with
// Kafka's checks and errors (ZkAdminManager), over the credentials in
// /config/users (server/scram_credentials.h).

#include <map>
#include <set>

#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/alter_user_scram_credentials_request.h"
#include "protocol/generated/alter_user_scram_credentials_response.h"
#include "protocol/generated/describe_user_scram_credentials_request.h"
#include "protocol/generated/describe_user_scram_credentials_response.h"
#include "server/authorization.h"
#include "server/handlers.h"
#include "server/sasl.h"
#include "server/scram_credentials.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;
using security::ScramMechanism;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

constexpr int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }

// The wire's ScramMechanism: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512 (0 UNKNOWN).
std::optional<ScramMechanism> wire_mechanism(int8_t m) {
  if (m == 1) return ScramMechanism::kSha256;
  if (m == 2) return ScramMechanism::kSha512;
  return std::nullopt;
}
int8_t wire_code(ScramMechanism m) { return m == ScramMechanism::kSha256 ? 1 : 2; }

ScramCredentialCache* credentials(RequestContext& ctx) {
  return ctx.services.sasl ? ctx.services.sasl->scram : nullptr;
}

}  // namespace

Result<void> handle_describe_user_scram_credentials(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::DescribeUserScramCredentialsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::DescribeUserScramCredentialsResponse resp;
  ScramCredentialCache* cache = credentials(ctx);
  auto fail_all = [&](const std::string& message) {
    resp.error_code = code(ErrorCode::kUnknownServerError);
    resp.error_message = message;
    resp.encode(out, ctx.api_version());
  };
  if (!cluster_allowed(ctx, security::AclOperation::kDescribe)) {
    resp.error_code = code(ErrorCode::kClusterAuthorizationFailed);
    resp.error_message = cluster_not_authorized(ctx, security::AclOperation::kDescribe);
    resp.encode(out, ctx.api_version());
    return {};
  }
  if (!cache) {
    fail_all("the credential store is not available");
    return {};
  }
  auto describe = [&](const std::string& user) -> Result<void> {
    protocol::DescribeUserScramCredentialsResponse::DescribeUserScramCredentialsResult r;
    r.user = user;
    r.error_message = std::nullopt;
    auto creds = cache->stored(user);
    if (!creds) return creds.error();
    for (auto m : {ScramMechanism::kSha256, ScramMechanism::kSha512}) {
      if (creds->of(m)) r.credential_infos.push_back({wire_code(m), creds->of(m)->iterations, {}});
    }
    if (r.credential_infos.empty()) {
      r.error_code = code(ErrorCode::kResourceNotFound);
      r.error_message = "Attempt to describe a user credential that does not exist: " + user;
    }
    resp.results.push_back(std::move(r));
    return {};
  };
  if (!req.users || req.users->empty()) {
    auto users = cache->stored_users();
    if (!users) {
      fail_all("cannot read /config/users: " + users.error().message());
      return {};
    }
    for (const auto& u : *users) {
      if (auto r = describe(u); !r) {
        fail_all("cannot read /config/users: " + r.error().message());
        return {};
      }
    }
  } else {
    std::map<std::string, int> seen;
    for (const auto& u : *req.users) ++seen[u.name];
    std::set<std::string> answered;
    for (const auto& u : *req.users) {
      if (!answered.insert(u.name).second) continue;
      if (seen[u.name] > 1) {
        protocol::DescribeUserScramCredentialsResponse::DescribeUserScramCredentialsResult r;
        r.user = u.name;
        r.error_code = code(ErrorCode::kDuplicateResource);
        r.error_message = "Cannot describe SCRAM credentials for the same user twice in a single request: " + u.name;
        resp.results.push_back(std::move(r));
        continue;
      }
      if (auto r = describe(u.name); !r) {
        fail_all("cannot read /config/users: " + r.error().message());
        return {};
      }
    }
  }
  resp.error_message = std::nullopt;
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_alter_user_scram_credentials(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::AlterUserScramCredentialsRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::AlterUserScramCredentialsResponse resp;
  ScramCredentialCache* cache = credentials(ctx);

  // Users in request order (deletions first, as Kafka lists them), the first
  // error found for each, and the (user, mechanism) pairs seen.
  std::vector<std::string> users;
  std::map<std::string, std::pair<ErrorCode, std::string>> errors;
  std::map<std::pair<std::string, int8_t>, int> pairs;
  auto note = [&](const std::string& user) {
    if (std::find(users.begin(), users.end(), user) == users.end()) users.push_back(user);
  };
  auto fail = [&](const std::string& user, ErrorCode e, std::string message) {
    errors.try_emplace(user, e, std::move(message));
  };
  for (const auto& d : req.deletions) {
    note(d.name);
    ++pairs[{d.name, d.mechanism}];
  }
  for (const auto& u : req.upsertions) {
    note(u.name);
    ++pairs[{u.name, u.mechanism}];
  }
  auto check_common = [&](const std::string& name, int8_t mechanism) {
    if (name.empty()) fail(name, ErrorCode::kUnacceptableCredential, "Username must not be empty");
    if (!wire_mechanism(mechanism)) fail(name, ErrorCode::kUnsupportedSaslMechanism, "Unknown SCRAM mechanism");
    if (pairs[{name, mechanism}] > 1)
      fail(name, ErrorCode::kDuplicateResource, "A user credential cannot be altered twice in the same request");
  };
  // Kafka: ALTER on the cluster, else every user is refused.
  if (!cluster_allowed(ctx, security::AclOperation::kAlter)) {
    for (const auto& user : users)
      fail(user, ErrorCode::kClusterAuthorizationFailed, cluster_not_authorized(ctx, security::AclOperation::kAlter));
  }
  for (const auto& d : req.deletions) check_common(d.name, d.mechanism);
  for (const auto& u : req.upsertions) {
    check_common(u.name, u.mechanism);
    if (u.iterations < security::kScramMinIterations)
      fail(u.name, ErrorCode::kUnacceptableCredential, "Too few iterations");
    if (u.iterations > security::kScramMaxIterations)
      fail(u.name, ErrorCode::kUnacceptableCredential, "Too many iterations");
  }

  for (const auto& user : users) {
    protocol::AlterUserScramCredentialsResponse::AlterUserScramCredentialsResult r;
    r.user = user;
    r.error_message = std::nullopt;
    auto apply = [&]() -> std::pair<ErrorCode, std::string> {
      if (auto it = errors.find(user); it != errors.end()) return it->second;
      if (!cache) return {ErrorCode::kUnknownServerError, "the credential store is not available"};
      auto creds = cache->stored(user);
      if (!creds) return {ErrorCode::kUnknownServerError, "cannot read the user: " + creds.error().message()};
      // All of one user's changes apply together or not at all.
      for (const auto& d : req.deletions) {
        if (d.name != user) continue;
        auto& slot = creds->of(*wire_mechanism(d.mechanism));
        if (!slot)
          return {ErrorCode::kResourceNotFound, "Attempt to delete a user credential that does not exist"};
        slot.reset();
      }
      for (const auto& u : req.upsertions) {
        if (u.name != user) continue;
        const ScramMechanism m = *wire_mechanism(u.mechanism);
        auto cred = security::derive_from_salted_password(m, u.salted_password, u.salt, u.iterations);
        if (!cred) return {ErrorCode::kUnacceptableCredential, cred.error().message()};
        creds->of(m) = std::move(*cred);
      }
      if (auto w = cache->store(user, *creds); !w)
        return {ErrorCode::kUnknownServerError, "cannot write the user: " + w.error().message()};
      return {ErrorCode::kNone, ""};
    };
    auto [error, message] = apply();
    r.error_code = code(error);
    if (error != ErrorCode::kNone) {
      r.error_message = message;
      log()->info("AlterUserScramCredentials from {} ({}): user '{}' refused: {}", ctx.connection.peer,
                  ctx.principal, printable(user), message);
    } else {
      log()->info("AlterUserScramCredentials from {} ({}): SCRAM credentials of user '{}' changed",
                  ctx.connection.peer, ctx.principal, printable(user));
    }
    resp.results.push_back(std::move(r));
  }
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
