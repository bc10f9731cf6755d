#include "server/sasl.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/sasl_authenticate_request.h"
#include "protocol/generated/sasl_authenticate_response.h"
#include "protocol/generated/sasl_handshake_request.h"
#include "protocol/generated/sasl_handshake_response.h"
#include "server/handlers.h"
#include "server/scram_credentials.h"
#include "server/services.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;
using security::ScramMechanism;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

constexpr int16_t code(ErrorCode e) { return static_cast<int16_t>(e); }

constexpr std::string_view kPlain = "PLAIN";
constexpr std::string_view kGssapi = "GSSAPI";

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Where one connection's SASL exchange stands, beyond its AuthStage. Only
// the connection's requests touch it, one at a time.
struct SaslSession : net::ConnectionState::Extension {
  std::string mechanism;  // chosen by the last SaslHandshake
  std::unique_ptr<security::ScramServer> scram;
  std::string user;           // the authenticated user, once there is one
  std::string reauth_user;    // during a re-authentication: who must come back
  int64_t expires_at_ms = 0;  // KIP-368 session end (wall clock); 0 = never
};

SaslSession& session_of(const net::ConnectionInfo& conn) {
  auto* s = dynamic_cast<SaslSession*>(conn.state->extension.get());
  if (s) return *s;
  auto made = std::make_shared<SaslSession>();
  s = made.get();
  conn.state->extension = std::move(made);
  return *s;
}

void set_stage(const net::ConnectionInfo& conn, AuthStage stage) {
  conn.state->auth.store(static_cast<uint8_t>(stage), std::memory_order_relaxed);
}

// What a client token led to.
struct TokenOutcome {
  enum Kind { kContinue, kAuthenticated, kFailed } kind = kFailed;
  Bytes reply;
  std::string error;  // kFailed: the message for SaslAuthenticate
};

std::string invalid_credentials(std::string_view mechanism) {
  return "Authentication failed during authentication due to invalid credentials with SASL mechanism " +
         std::string(mechanism);
}

// PLAIN (RFC 4616) as Kafka's PlainSaslServer: exactly
// authzid NUL authcid NUL passwd, the authzid empty or the user.
TokenOutcome plain_token(const SaslCredentials* creds, ByteView token, std::string& user) {
  const std::string_view text(reinterpret_cast<const char*>(token.data()), token.size());
  std::vector<std::string_view> parts;
  size_t from = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\0') {
      parts.push_back(text.substr(from, i - from));
      from = i + 1;
    }
  }
  TokenOutcome out;
  if (parts.size() != 3) {
    out.error = "Authentication failed during authentication due to: Invalid SASL/PLAIN response: expected 3 "
                "tokens, got " + std::to_string(parts.size());
    return out;
  }
  if (parts[1].empty()) {
    out.error = "Authentication failed during authentication due to: Authentication failed: username not specified";
    return out;
  }
  if (parts[2].empty()) {
    out.error = "Authentication failed during authentication due to: Authentication failed: password not specified";
    return out;
  }
  user.assign(parts[1]);
  if (!parts[0].empty() && parts[0] != parts[1]) {
    out.error = "Authentication failed: Client requested an authorization id that is different from username";
    return out;
  }
  if (!creds || !creds->plain.verify(parts[1], parts[2])) {
    out.error = invalid_credentials(kPlain);
    return out;
  }
  out.kind = TokenOutcome::kAuthenticated;
  return out;
}

TokenOutcome scram_token(SaslSession& s, ByteView token, std::string& user) {
  TokenOutcome out;
  auto reply = s.scram->step(std::string_view(reinterpret_cast<const char*>(token.data()), token.size()));
  user = s.scram->username();
  if (!reply) {
    out.error = reply.error() == security::ScramErrc::kAuthenticationFailed
                    ? invalid_credentials(s.mechanism)
                    : "Authentication failed during authentication due to: " + reply.error().message();
    return out;
  }
  out.reply.assign(reply->begin(), reply->end());
  out.kind = s.scram->complete() ? TokenOutcome::kAuthenticated : TokenOutcome::kContinue;
  return out;
}

// One client token: the mechanism's step, and on its outcome the connection's
// new stage, with the log lines an operator needs.
TokenOutcome process_token(const config::BrokerConfig& config, Services& services, const net::ConnectionInfo& conn,
                           ByteView token) {
  SaslSession& s = session_of(conn);
  std::string user;
  TokenOutcome out = s.mechanism == kPlain ? plain_token(services.sasl, token, user) : scram_token(s, token, user);
  if (out.kind == TokenOutcome::kAuthenticated && !s.reauth_user.empty() && user != s.reauth_user) {
    out.kind = TokenOutcome::kFailed;
    out.error = "Cannot change principals during re-authentication from User:" + s.reauth_user + ": User:" + user;
  }
  switch (out.kind) {
    case TokenOutcome::kContinue:
      break;
    case TokenOutcome::kFailed:
      log()->warn("connection {} from {} on listener {}: failed {}authentication with {} (user '{}'): {}", conn.id,
                  conn.peer, conn.listener_name, s.reauth_user.empty() ? "" : "re-", s.mechanism, printable(user),
                  out.error);
      s.scram.reset();
      set_stage(conn, AuthStage::kFailed);
      break;
    case TokenOutcome::kAuthenticated:
      log()->info("connection {} from {} on listener {}: {}authenticated as User:{} with {}", conn.id, conn.peer,
                  conn.listener_name, s.reauth_user.empty() ? "" : "re-", printable(user), s.mechanism);
      s.user = user;
      s.reauth_user.clear();
      s.scram.reset();
      s.expires_at_ms = config.connections_max_reauth_ms > 0 ? wall_ms() + config.connections_max_reauth_ms : 0;
      conn.state->max_frame_bytes.store(0, std::memory_order_relaxed);  // sasl.server.max.receive.size no more
      set_stage(conn, AuthStage::kAuthenticated);
      break;
  }
  return out;
}

bool is_enabled(const config::BrokerConfig& config, std::string_view mechanism) {
  return std::find(config.sasl_enabled_mechanisms.begin(), config.sasl_enabled_mechanisms.end(), mechanism) !=
         config.sasl_enabled_mechanisms.end();
}

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
  if (conn.state) set_stage(conn, stage);
  return stage;
}

std::vector<std::string> served_sasl_mechanisms(const config::BrokerConfig& config) {
  return config.sasl_enabled_mechanisms;
}

void check_sasl_config(const config::BrokerConfig& config) {
  for (const auto& ep : config.listeners) {
    if (!requires_sasl(ep.security_protocol)) continue;
    if (is_enabled(config, kGssapi))
      throw std::runtime_error("listener " + ep.to_string() + " is " + ep.security_protocol +
                               " and sasl.enabled.mechanisms includes GSSAPI (Kafka's default), which this build "
                               "of keel does not serve yet; set sasl.enabled.mechanisms to PLAIN, SCRAM-SHA-256 "
                               "and/or SCRAM-SHA-512");
    if (config.sasl_enabled_mechanisms.empty())
      throw std::runtime_error("listener " + ep.to_string() + " is " + ep.security_protocol +
                               " but sasl.enabled.mechanisms is empty: no client could authenticate");
  }
}

std::string connection_principal(const net::ConnectionInfo& conn) {
  if (conn.state && static_cast<AuthStage>(conn.state->auth.load(std::memory_order_relaxed)) ==
                        AuthStage::kAuthenticated) {
    if (auto* s = dynamic_cast<SaslSession*>(conn.state->extension.get())) return "User:" + s->user;
  }
  return "User:ANONYMOUS";
}

int64_t failed_authentication_delay_ms(const config::BrokerConfig& config) {
  return config.connection_failed_authentication_delay_ms;
}

bool sasl_session_expired(const net::ConnectionInfo& conn) {
  if (!conn.state) return false;
  auto* s = dynamic_cast<SaslSession*>(conn.state->extension.get());
  return s && s->expires_at_ms > 0 && wall_ms() >= s->expires_at_ms;
}

// --- PLAIN credentials file ---------------------------------------------------------------------

PlainCredentials PlainCredentials::load(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path);
  if (!in) throw std::runtime_error("sasl.plain.credentials.file: cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

PlainCredentials PlainCredentials::parse(std::string_view text, const std::string& source) {
  PlainCredentials out;
  std::vector<std::string> errors;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = source + ":" + std::to_string(line_no);
    const size_t colon = line.find(':');
    const size_t colon2 = colon == std::string_view::npos ? colon : line.find(':', colon + 1);
    if (colon == 0) {
      errors.push_back(where + ": the user name is empty");
      continue;
    }
    std::optional<ScramMechanism> mech;
    if (colon2 != std::string_view::npos) mech = security::parse_mechanism(line.substr(colon + 1, colon2 - colon - 1));
    if (!mech) {
      // Never echo the rest of the line: it may well be a password.
      errors.push_back(where + ": expected 'user:SCRAM-SHA-256:<hash>' or 'user:SCRAM-SHA-512:<hash>' (as "
                               "keel --hash-password prints); plaintext passwords are refused");
      continue;
    }
    const std::string user(line.substr(0, colon));
    auto cred = security::parse_credential(*mech, line.substr(colon2 + 1));
    if (!cred) {
      errors.push_back(where + ": the hash of user '" + printable(user) + "' is not a " +
                       std::string(security::mechanism_name(*mech)) + " credential (" + cred.error().message() + ")");
      continue;
    }
    if (!out.users_.emplace(user, Entry{*mech, std::move(*cred)}).second)
      errors.push_back(where + ": user '" + printable(user) + "' is listed twice");
  }
  if (!errors.empty()) {
    std::string msg = "sasl.plain.credentials.file:";
    for (const auto& e : errors) msg += "\n  " + e;
    throw std::runtime_error(msg);
  }
  return out;
}

bool PlainCredentials::verify(std::string_view user, std::string_view password) const {
  // An unknown user is checked against a made-up credential of the same
  // cost, and fails.
  static const Entry kNobody = [] {
    Entry e{ScramMechanism::kSha256, {}};
    e.credential = *security::derive(ScramMechanism::kSha256, "", security::random_salt(), security::kScramMinIterations);
    return e;
  }();
  auto it = users_.find(user);
  const Entry& entry = it == users_.end() ? kNobody : it->second;
  const bool match = security::password_matches(entry.mechanism, entry.credential, password);
  return match && it != users_.end();
}

Result<std::string> plain_credentials_line(std::string_view user, std::string_view password,
                                           ScramMechanism mechanism, int32_t iterations) {
  auto cred = security::derive(mechanism, password, security::random_salt(), iterations);
  if (!cred) return cred.error();
  return std::string(user) + ":" + std::string(security::mechanism_name(mechanism)) + ":" +
         security::encode_credential(*cred);
}

// --- the requests -----------------------------------------------------------------------------

Result<void> handle_sasl_handshake(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::SaslHandshakeRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  const auto& conn = ctx.connection;
  protocol::SaslHandshakeResponse resp;
  const AuthStage stage = auth_stage(ctx.config, conn);
  const bool reauth = stage == AuthStage::kAuthenticated && ctx.config.connections_max_reauth_ms > 0 &&
                      ctx.api_version() >= 1;
  if (stage != AuthStage::kSaslHandshake && !reauth) {
    // A PLAINTEXT listener, or an authenticated connection that may not
    // re-authenticate: Kafka's request handler answers so and carries on.
    resp.error_code = code(ErrorCode::kIllegalSaslState);
    resp.encode(out, ctx.api_version());
    return {};
  }
  resp.mechanisms = served_sasl_mechanisms(ctx.config);
  SaslSession& s = session_of(conn);
  const auto scram = security::parse_mechanism(req.mechanism);
  const bool served = is_enabled(ctx.config, req.mechanism) && (req.mechanism == kPlain || scram);
  if (!served || (reauth && req.mechanism != s.mechanism)) {
    // The router closes the connection once this is sent, as Kafka does.
    log()->warn("connection {} from {} on listener {}: SASL mechanism '{}' is not {}: closing", conn.id, conn.peer,
                conn.listener_name, printable(req.mechanism),
                served ? "the one the session authenticated with (re-authentication)" : "enabled");
    resp.error_code = code(ErrorCode::kUnsupportedSaslMechanism);
    set_stage(conn, AuthStage::kFailed);
    resp.encode(out, ctx.api_version());
    return {};
  }
  if (reauth) s.reauth_user = s.user;
  s.mechanism = req.mechanism;
  s.scram.reset();
  if (scram) {
    const SaslCredentials* creds = ctx.services.sasl;
    const ScramMechanism m = *scram;
    s.scram = std::make_unique<security::ScramServer>(
        m, [creds, m](std::string_view user) -> std::optional<security::ScramCredential> {
          if (!creds || !creds->scram) return std::nullopt;
          return creds->scram->lookup(m, user);
        });
  }
  set_stage(conn, ctx.api_version() == 0 ? AuthStage::kSaslRawToken : AuthStage::kSaslAuthenticate);
  resp.encode(out, ctx.api_version());
  return {};
}

Result<void> handle_sasl_authenticate(RequestContext& ctx, ByteReader& body, ByteWriter& out) {
  protocol::SaslAuthenticateRequest req;
  if (auto res = decode_request(req, body, ctx.api_version()); !res) return res;
  protocol::SaslAuthenticateResponse resp;
  const AuthStage stage = auth_stage(ctx.config, ctx.connection);
  if (stage != AuthStage::kSaslAuthenticate) {
    // The router lets it through only outside an exchange: a PLAINTEXT
    // listener or an authenticated connection. Kafka answers both so.
    resp.error_code = code(ErrorCode::kIllegalSaslState);
    resp.error_message = stage == AuthStage::kAuthenticated
                             ? "SaslAuthenticate request received after successful authentication"
                             : "SaslAuthenticate on listener " + ctx.connection.listener_name +
                                   ", which does not authenticate with SASL";
    resp.encode(out, ctx.api_version());
    return {};
  }
  TokenOutcome outcome = process_token(ctx.config, ctx.services, ctx.connection, req.auth_bytes);
  if (outcome.kind == TokenOutcome::kFailed) {
    resp.error_code = code(ErrorCode::kSaslAuthenticationFailed);
    resp.error_message = outcome.error;
  } else {
    resp.error_message = std::nullopt;
    resp.auth_bytes = std::move(outcome.reply);
    if (outcome.kind == TokenOutcome::kAuthenticated) resp.session_lifetime_ms = ctx.config.connections_max_reauth_ms;
  }
  resp.encode(out, ctx.api_version());
  return {};
}

net::Response handle_raw_sasl_token(const config::BrokerConfig& config, Services& services,
                                    const net::ConnectionInfo& conn, ByteView token) {
  TokenOutcome outcome = process_token(config, services, conn, token);
  net::Response r;
  if (outcome.kind == TokenOutcome::kFailed) {
    // A v0 client has no way to read an error: the connection just closes.
    r.close_after = true;
    r.delay_ms = failed_authentication_delay_ms(config);
    return r;
  }
  // Even an empty reply (PLAIN's) is sent, as a zero size: the client waits for it.
  Bytes framed(4 + outcome.reply.size());
  store_be<int32_t>(framed.data(), static_cast<int32_t>(outcome.reply.size()));
  std::copy(outcome.reply.begin(), outcome.reply.end(), framed.begin() + 4);
  r.chunks.push_back(std::move(framed));
  return r;
}

}  // namespace keel::server
