#pragma once
// SASL on the listeners whose security protocol asks for it (SASL_PLAINTEXT,
// SASL_SSL), as Kafka's SaslServerAuthenticator does it:
// - before authentication only ApiVersions and SaslHandshake are answered;
//   any other request closes the connection unanswered;
// - SaslHandshake names one of the listener's sasl.enabled.mechanisms
//   (GSSAPI, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), else
//   UNSUPPORTED_SASL_MECHANISM with the enabled list, then the connection closes;
// - after SaslHandshake v1 the tokens come in SaslAuthenticate requests
//   (v0-v2); after v0 they come as bare size-prefixed frames with no Kafka
//   header, and are answered the same way (Router::handle sends them here);
// - a failed authentication is answered SASL_AUTHENTICATION_FAILED (v1
//   handshake; a v0 client just sees the connection close) after
//   connection.failed.authentication.delay.ms, then the connection closes;
// - once authenticated, the principal is User:<name> (RequestContext::principal):
//   the user name for PLAIN and SCRAM, the Kerberos name shortened by
//   sasl.kerberos.principal.to.local.rules for GSSAPI;
// - with connections.max.reauth.ms (KIP-368) the session lifetime is sent in
//   SaslAuthenticate v1+, a new SaslHandshake + SaslAuthenticate on the open
//   connection re-authenticates (same mechanism and principal, else it
//   fails), and a connection whose session has expired is closed at its next
//   other request.
// On other listeners, SaslHandshake and SaslAuthenticate are answered
// ILLEGAL_SASL_STATE, as Kafka answers them there. None of this depends on
// whether TLS runs underneath.
//
// Credentials: PLAIN users come from sasl.plain.credentials.file (salted
// hashes, never passwords); SCRAM users from the store's /config/users
// (server/scram_credentials.h); Kerberos through Cyrus SASL with the keytab
// of the listener's JAAS line (server/sasl_gssapi.h).
//
// Settings a listener may override (listener.name.<l>.<key>, and for SASL
// keys listener.name.<l>.<mechanism>.<key>) are read with
// sasl_listener_setting().

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "config/config.h"
#include "net/server.h"
#include "security/scram.h"
#include "server/sasl_gssapi.h"

namespace keel::server {

class ScramCredentialCache;
struct Services;

enum class AuthStage : uint8_t {
  kUnresolved = 0,    // the connection's first request has not come yet
  kNotRequired,       // PLAINTEXT and SSL (the principal: ANONYMOUS or the certificate's)
  kSaslHandshake,     // a SASL listener: ApiVersions and SaslHandshake only
  kSaslAuthenticate,  // after SaslHandshake v1: SaslAuthenticate only
  kSaslRawToken,      // after SaslHandshake v0: bare size-prefixed tokens
  kAuthenticated,     // every request, as the session's principal
  kFailed,            // refused: the connection closes, nothing more is read
};

// Where the connection stands; resolved from its listener's security protocol
// on its first request and kept in conn.state.
AuthStage auth_stage(const config::BrokerConfig& config, const net::ConnectionInfo& conn);

// Whether a listener of this security protocol requires SASL.
bool requires_sasl(const std::string& security_protocol);

// A setting as one listener sees it, looked up as Kafka does:
// listener.name.<l>.<mechanism>.<key> (mechanism in lower case, when one is
// given), then listener.name.<l>.<key>, then the broker-wide <key>; nullopt
// when none of them is written in the file (the caller takes the default).
struct ListenerSetting {
  std::string value;
  std::string key;  // as written, for messages
  int line = 0;     // its line in the configuration file
};
std::optional<ListenerSetting> sasl_listener_setting(const config::BrokerConfig& config, std::string_view listener,
                                                     std::string_view mechanism, std::string_view key);

// "listener.name.<listener in lower case>.<key>": how the file spells an override.
std::string listener_key(std::string_view listener, std::string_view key);

// A list value as the configuration writes it ("a, b,c"), as items.
std::vector<std::string> split_config_list(std::string_view text);

// The mechanisms a SASL listener offers, in order: its
// listener.name.<l>.sasl.enabled.mechanisms, else sasl.enabled.mechanisms.
std::vector<std::string> enabled_mechanisms(const config::BrokerConfig& config, std::string_view listener);

// connections.max.reauth.ms (KIP-368) as one listener and mechanism see it:
// listener.name.<l>.<mechanism>.connections.max.reauth.ms, then
// listener.name.<l>.connections.max.reauth.ms, then the broker-wide key (0:
// sessions do not expire).
int64_t connections_max_reauth_ms(const config::BrokerConfig& config, std::string_view listener,
                                  std::string_view mechanism);

// Start-up checks for SASL listeners; throws std::runtime_error saying what to
// change: no mechanism enabled, a JAAS line (sasl.jaas.config, any
// listener.name.<l>.[<mechanism>.]sasl.jaas.config) Keel cannot read, with
// its file and line. GSSAPI's own checks are GssapiAuthenticator::create's.
void check_sasl_config(const config::BrokerConfig& config);

// The PLAIN users of sasl.plain.credentials.file: "user:SCRAM-SHA-256:<Kafka's
// SCRAM credential text>" (or SCRAM-SHA-512) per line, '#' comments and blank
// lines ignored. A user name holds no ':'. Anything else — a plaintext
// password above all — is refused with the file and line.
class PlainCredentials {
 public:
  // Empty path: no PLAIN users. Throws std::runtime_error on any bad line.
  static PlainCredentials load(const std::string& path);
  // Parses the file's text; `source` names it in errors.
  static PlainCredentials parse(std::string_view text, const std::string& source);

  // Whether `password` is the user's. An unknown user costs the same PBKDF2
  // work as a known one, so timing does not tell them apart.
  bool verify(std::string_view user, std::string_view password) const;
  size_t size() const { return users_.size(); }

 private:
  struct Entry {
    security::ScramMechanism mechanism;
    security::ScramCredential credential;
  };
  std::map<std::string, Entry, std::less<>> users_;
};

// One line of the PLAIN credentials file for `user` (what keel --hash-password
// prints): a fresh salt, PBKDF2 with `iterations`. Fails as security::derive.
Result<std::string> plain_credentials_line(std::string_view user, std::string_view password,
                                           security::ScramMechanism mechanism, int32_t iterations);

// What the SASL handlers need from the broker: the PLAIN users, the SCRAM
// credential cache and the Kerberos acceptor. Owned by the Broker.
struct SaslCredentials {
  PlainCredentials plain;
  ScramCredentialCache* scram = nullptr;  // null until the store is open (and in tests)
  std::unique_ptr<GssapiAuthenticator> gssapi;  // null: no listener enables GSSAPI
};

// "User:ANONYMOUS" until the connection has authenticated, then "User:<name>".
std::string connection_principal(const net::ConnectionInfo& conn);

// A bare SASL token on a connection that shook hands with SaslHandshake v0:
// the answer (a bare size-prefixed token), or a close (after the failure
// delay) when authentication fails.
net::Response handle_raw_sasl_token(const config::BrokerConfig& config, Services& services,
                                    const net::ConnectionInfo& conn, ByteView token);

// The failure delay to put on the answer of a request that ended the
// connection's authentication (AuthStage::kFailed), in ms.
int64_t failed_authentication_delay_ms(const config::BrokerConfig& config);

// KIP-368: whether the authenticated session of this connection has expired
// (connections.max.reauth.ms), so that any request but a SaslHandshake closes it.
bool sasl_session_expired(const net::ConnectionInfo& conn);

}  // namespace keel::server
