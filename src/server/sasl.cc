#include "server/sasl.h"

#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/sasl_authenticate_request.h"
#include "protocol/generated/sasl_authenticate_response.h"
#include "protocol/generated/sasl_handshake_request.h"
#include "protocol/generated/sasl_handshake_response.h"
#include "server/handlers.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

constexpr int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }

}  // namespace

bool requires_sasl(const std::string& security_protocol) {
  return security_protocol == "SASL_PLAINTEXT" || security_protocol == "SASL_SSL";
}

AuthStage auth_stage(const config::BrokerConfig& config, const net::ConnectionInfo& conn) {
  if (conn.state) {
    if (auto known = static_cast<AuthStage>(conn.state->auth.load(std::memory_order_relaxed));
        known != AuthStage::kUnresolved)
      return known;
  }
  AuthStage stage = AuthStage::kNotRequired;
  for (const auto& ep : config.listeners) {
    if (ep.listener_name == conn.listener_name && requires_sasl(ep.security_protocol)) {
      stage = AuthStage::kSaslHandshake;
    }
  }
  if (conn.state) conn.state->auth.store(static_cast<uint8_t>(stage), std::memory_order_relaxed);
  return stage;
}

std::vector<std::string> served_sasl_mechanisms() { return {}; }

Result<void> handle_sasl_handshake(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::SaslHandshakeRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::SaslHandshakeResponse resp;
  resp.mechanisms = served_sasl_mechanisms();
  if (auth_stage(ctx.config, ctx.connection) == AuthStage::kSaslHandshake) {
    // The router closes the connection once this is sent (Kafka does the same
    // after an unsupported mechanism).
    log()->warn("connection {} from {} on listener {}: SASL mechanism '{}' is not served (no mechanism is "
                "yet): closing",
                ctx.connection.id, ctx.connection.peer, ctx.connection.listener_name, printable(req.mechanism));
    resp.error_code = code(ErrorCode::kUnsupportedSaslMechanism);
  } else {
    resp.error_code = code(ErrorCode::kIllegalSaslState);
  }
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_sasl_authenticate(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  // Reached only where no authentication is under way: a SASL listener's
  // connection that has not shaken hands is closed by the router instead.
  protocol::SaslAuthenticateRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::SaslAuthenticateResponse resp;
  resp.error_code = code(ErrorCode::kIllegalSaslState);
  resp.error_message = "SaslAuthenticate on listener " + ctx.connection.listener_name +
                       ", which does not authenticate with SASL";
  resp.encode(out, ctx.api_version());
  return {};
}

}  // namespace keel::server
