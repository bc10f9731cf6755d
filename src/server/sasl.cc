#include "server/sasl.h"

#include <algorithm>
#include <cctype>
#include <charconv>
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
#include "security/jaas.h"
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
  std::unique_ptr<GssapiExchange> gssapi;
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
  // Bare tokens may be shorter than a request header (kafka-python sends an empty one).
  conn.state->bare_sasl_tokens.store(stage == AuthStage::kSaslRawToken, std::memory_order_relaxed);
}

// What a client token led to.
struct TokenOutcome {
  enum Kind { kContinue, kAuthenticated, kFailed } kind = kFailed;
  Bytes reply;
  // After SaslHandshake v0, whether `reply` goes out as a bare token even when
  // empty: Kafka sends what its SaslServer returns, and Java's GSSAPI server
  // returns nothing (null) once it is complete, where PLAIN returns an empty token.
  bool send_bare_reply = true;
  std::string error;       // kFailed: the message for SaslAuthenticate
  std::string log_detail;  // kFailed: what the log says beyond `error` (never sent)
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

// GSSAPI through Cyrus (server/sasl_gssapi.h). Kerberos' reason for a refusal
// goes to the log only; the client gets Kafka's generic words, as Kafka sends.
// Once Kerberos is satisfied, the name must map through the listener's
// auth_to_local rules (DEFAULT refuses other realms), else the client fails too.
TokenOutcome gssapi_token(const SaslCredentials* creds, const net::ConnectionInfo& conn, SaslSession& s,
                          ByteView token, std::string& user) {
  TokenOutcome out;
  if (!s.gssapi) {
    out.error = invalid_credentials(kGssapi);
    out.log_detail = "no GSSAPI exchange could be started (see the error above)";
    return out;
  }
  GssapiExchange::Step step = s.gssapi->step(token);
  switch (step.kind) {
    case GssapiExchange::Step::Kind::kContinue:
      out.kind = TokenOutcome::kContinue;
      out.reply = std::move(step.reply);
      return out;
    case GssapiExchange::Step::Kind::kFailed:
      out.error = invalid_credentials(kGssapi);
      out.log_detail = "Kerberos (acceptor " + s.gssapi->acceptor() + "): " + step.detail;
      return out;
    case GssapiExchange::Step::Kind::kComplete:
      break;
  }
  const std::string& name = s.gssapi->authenticated_name();
  user = name;
  std::string why;
  auto short_name = creds->gssapi->short_name(conn.listener_name, name, &why);
  if (!short_name) {
    out.error = "Failed to set name for '" + name + "' based on Kerberos authentication rules.";
    out.log_detail = "sasl.kerberos.principal.to.local.rules: " + (why.empty() ? short_name.error().message() : why);
    return out;
  }
  user = *short_name;
  out.kind = TokenOutcome::kAuthenticated;
  out.reply = std::move(step.reply);
  out.send_bare_reply = !out.reply.empty();
  return out;
}

// One client token: the mechanism's step, and on its outcome the connection's
// new stage, with the log lines an operator needs.
TokenOutcome process_token(const config::BrokerConfig& config, Services& services, const net::ConnectionInfo& conn,
                           ByteView token) {
  SaslSession& s = session_of(conn);
  std::string user;
  TokenOutcome out = s.mechanism == kPlain    ? plain_token(services.sasl, token, user)
                     : s.mechanism == kGssapi ? gssapi_token(services.sasl, conn, s, token, user)
                                              : scram_token(s, token, user);
  if (out.kind == TokenOutcome::kAuthenticated && !s.reauth_user.empty() && user != s.reauth_user) {
    out.kind = TokenOutcome::kFailed;
    out.error = "Cannot change principals during re-authentication from User:" + s.reauth_user + ": User:" + user;
  }
  switch (out.kind) {
    case TokenOutcome::kContinue:
      break;
    case TokenOutcome::kFailed:
      log()->warn("connection {} from {} on listener {}: failed {}authentication with {} (user '{}'): {}{}{}",
                  conn.id, conn.peer, conn.listener_name, s.reauth_user.empty() ? "" : "re-", s.mechanism,
                  printable(user), out.error, out.log_detail.empty() ? "" : "; ", printable(out.log_detail));
      s.scram.reset();
      s.gssapi.reset();
      set_stage(conn, AuthStage::kFailed);
      break;
    case TokenOutcome::kAuthenticated:
      log()->info("connection {} from {} on listener {}: {}authenticated as User:{} with {}", conn.id, conn.peer,
                  conn.listener_name, s.reauth_user.empty() ? "" : "re-", printable(user), s.mechanism);
      s.user = user;
      s.reauth_user.clear();
      s.scram.reset();
      s.gssapi.reset();
      if (const int64_t lifetime = connections_max_reauth_ms(config, conn.listener_name, s.mechanism); lifetime > 0) {
        s.expires_at_ms = wall_ms() + lifetime;
      } else {
        s.expires_at_ms = 0;
      }
      conn.state->max_frame_bytes.store(0, std::memory_order_relaxed);  // sasl.server.max.receive.size no more
      set_stage(conn, AuthStage::kAuthenticated);
      break;
  }
  return out;
}

bool is_enabled(const config::BrokerConfig& config, std::string_view listener, std::string_view mechanism) {
  const auto enabled = enabled_mechanisms(config, listener);
  return std::find(enabled.begin(), enabled.end(), mechanism) != enabled.end();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The line of `key` in the file: explicit_keys holds it as written, and a
// listener's name may be written in any case.
int line_of(const config::BrokerConfig& config, std::string_view key) {
  for (const auto& [k, line] : config.explicit_keys)
    if (lower(k) == lower(key)) return line;
  return 0;
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
  // The controller's requests to its own broker (in_process) pass no socket:
  // the broker is itself, nothing to authenticate on a SASL inter-broker listener.
  for (const auto& ep : config.listeners) {
    if (!conn.in_process && ep.listener_name == conn.listener_name && requires_sasl(ep.security_protocol)) {
      stage = AuthStage::kSaslHandshake;
    }
  }
  if (conn.state) set_stage(conn, stage);
  return stage;
}

std::string listener_key(std::string_view listener, std::string_view key) {
  return "listener.name." + lower(listener) + "." + std::string(key);
}

std::optional<ListenerSetting> sasl_listener_setting(const config::BrokerConfig& config, std::string_view listener,
                                                     std::string_view mechanism, std::string_view key) {
  std::vector<std::string> overrides;
  if (!mechanism.empty()) overrides.push_back(lower(mechanism) + "." + std::string(key));
  overrides.emplace_back(key);
  for (const auto& k : overrides) {
    if (auto v = config.listener_override(listener, k)) {
      const std::string full = listener_key(listener, k);
      return ListenerSetting{*v, full, line_of(config, full)};
    }
  }
  if (!config.is_explicit(key)) return std::nullopt;
  for (auto& [name, value] : config.effective())
    if (name == key) return ListenerSetting{std::move(value), std::string(key), line_of(config, key)};
  return std::nullopt;
}

std::vector<std::string> split_config_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

std::vector<std::string> enabled_mechanisms(const config::BrokerConfig& config, std::string_view listener) {
  if (auto v = config.listener_override(listener, "sasl.enabled.mechanisms")) return split_config_list(*v);
  return config.sasl_enabled_mechanisms;
}

namespace {

constexpr std::string_view kReauthKey = "connections.max.reauth.ms";

std::optional<int64_t> parse_reauth_ms(std::string_view text) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

int64_t connections_max_reauth_ms(const config::BrokerConfig& config, std::string_view listener,
                                  std::string_view mechanism) {
  if (!config.listener_overrides.empty()) {
    for (const std::string key : {lower(mechanism) + "." + std::string(kReauthKey), std::string(kReauthKey)}) {
      if (auto v = config.listener_override(listener, key)) {
        if (auto ms = parse_reauth_ms(*v)) return *ms;  // the configuration loader checked it is a number
      }
    }
  }
  return config.connections_max_reauth_ms;
}

void check_sasl_config(const config::BrokerConfig& config) {
  for (const auto& ep : config.listeners) {
    if (!requires_sasl(ep.security_protocol)) continue;
    if (enabled_mechanisms(config, ep.listener_name).empty())
      throw std::runtime_error("listener " + ep.to_string() + " is " + ep.security_protocol +
                               " but sasl.enabled.mechanisms is empty: no client could authenticate");
  }
  // Every JAAS line written is read now, used or not, so a typo never waits
  // for the day a listener or a mechanism starts using it.
  std::vector<ListenerSetting> lines;
  if (config.is_explicit("sasl.jaas.config"))
    lines.push_back({config.sasl_jaas_config, "sasl.jaas.config", line_of(config, "sasl.jaas.config")});
  for (const auto& [listener, keys] : config.listener_overrides) {
    for (const auto& [key, value] : keys) {
      if (key != "sasl.jaas.config" && !key.ends_with(".sasl.jaas.config")) continue;
      const std::string full = listener_key(listener, key);
      lines.push_back({value, full, line_of(config, full)});
    }
  }
  for (const auto& l : lines) {
    std::string why;
    if (auto r = security::parse_jaas_config(l.value, &why); !r)
      throw std::runtime_error(config.source_name + ":" + std::to_string(l.line) + ": " + l.key + ": " + why);
  }
}

std::string connection_principal(const net::ConnectionInfo& conn) {
  if (conn.state && static_cast<AuthStage>(conn.state->auth.load(std::memory_order_relaxed)) ==
                        AuthStage::kAuthenticated) {
    if (auto* s = dynamic_cast<SaslSession*>(conn.state->extension.get())) return "User:" + s->user;
  }
  // SSL: the client certificate's subject as ssl.principal.mapping.rules map it (net/tls.h).
  if (!conn.tls_principal.empty()) return "User:" + conn.tls_principal;
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
  const bool reauth = stage == AuthStage::kAuthenticated &&
                      connections_max_reauth_ms(ctx.config, conn.listener_name, session_of(conn).mechanism) > 0 &&
                      ctx.api_version() >= 1;
  if (stage != AuthStage::kSaslHandshake && !reauth) {
    // A PLAINTEXT listener, or an authenticated connection that may not
    // re-authenticate: Kafka's request handler answers so and carries on.
    resp.error_code = code(ErrorCode::kIllegalSaslState);
    resp.encode(out, ctx.api_version());
    return {};
  }
  resp.mechanisms = enabled_mechanisms(ctx.config, conn.listener_name);
  SaslSession& s = session_of(conn);
  const auto scram = security::parse_mechanism(req.mechanism);
  const SaslCredentials* creds = ctx.services.sasl;
  const bool gssapi = req.mechanism == kGssapi && creds && creds->gssapi;
  const bool served =
      is_enabled(ctx.config, conn.listener_name, req.mechanism) && (req.mechanism == kPlain || scram || gssapi);
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
  s.gssapi.reset();
  if (gssapi) s.gssapi = creds->gssapi->begin(conn.listener_name);  // null: the first token fails, logged
  if (scram) {
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
    if (outcome.kind == TokenOutcome::kAuthenticated) {
      resp.session_lifetime_ms =
          connections_max_reauth_ms(ctx.config, ctx.connection.listener_name, session_of(ctx.connection).mechanism);
    }
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
  if (!outcome.send_bare_reply) return r;
  Bytes framed(4 + outcome.reply.size());
  store_be<int32_t>(framed.data(), static_cast<int32_t>(outcome.reply.size()));
  std::copy(outcome.reply.begin(), outcome.reply.end(), framed.begin() + 4);
  r.chunks.push_back(std::move(framed));
  return r;
}

}  // namespace keel::server
