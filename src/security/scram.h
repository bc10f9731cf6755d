#pragma once
// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them:
// the four messages, the broker's side of the exchange, a client for
// inter-broker SASL and tests, and credentials in the text form Kafka keeps in
// ZooKeeper under /config/users/<user>.
//
// Kafka's rules kept here (docs/security.md, [K ScramSaslServer]):
// - no channel binding: a gs2 header other than "n,," or "n,a=<authzid>," is
//   refused, and client-final's c= must echo the header byte for byte;
// - an authzid, if sent, must equal the username;
// - iterations 4096..16384; stored credentials below 4096 are refused;
// - the `tokenauth=true` extension asks for delegation-token authentication.
//   Keel has no delegation tokens, so such a client fails exactly like an
//   unknown user — the answer Kafka gives for a token it does not know.
//
// Interop (security-testbed.md §4): librdkafka before 2.6.1 sends client-final
// r=<client nonce><whole server nonce>, i.e. the client nonce twice. The server
// accepts that as well as the RFC's r=<whole server nonce>, and always builds
// AuthMessage from the bytes it received, which is what such a client signed.
//
// Nothing here is thread-safe; one ScramServer or ScramClient per connection.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "security/errors.h"

namespace keel::security {

enum class ScramMechanism { kSha256, kSha512 };

// Kafka refuses credentials below the minimum and AlterUserScramCredentials
// refuses anything outside [min, max].
inline constexpr int32_t kScramMinIterations = 4096;
inline constexpr int32_t kScramMaxIterations = 16384;

// "SCRAM-SHA-256" / "SCRAM-SHA-512": the SASL mechanism name and the key in
// the /config/users/<user> JSON.
std::string_view mechanism_name(ScramMechanism m);
std::optional<ScramMechanism> parse_mechanism(std::string_view name);
// Bytes of the hash: 32 or 64. StoredKey, ServerKey and proofs are this long.
size_t digest_size(ScramMechanism m);

struct ScramCredential {
  Bytes salt;
  Bytes stored_key;  // H(HMAC(SaltedPassword, "Client Key"))
  Bytes server_key;  // HMAC(SaltedPassword, "Server Key")
  int32_t iterations = kScramMinIterations;

  bool operator==(const ScramCredential&) const = default;
};

// PBKDF2 with the mechanism's HMAC; what a client computes from its password.
Bytes salted_password(ScramMechanism m, std::string_view password, ByteView salt, int32_t iterations);

// The credential a broker keeps, from the password (bootstrap, tests) or from
// the SaltedPassword AlterUserScramCredentials carries (no password on the
// wire). Both refuse iterations outside [4096, 16384] as Kafka does.
Result<ScramCredential> derive(ScramMechanism m, std::string_view password, ByteView salt,
                               int32_t iterations);
Result<ScramCredential> derive_from_salted_password(ScramMechanism m, ByteView salted_password,
                                                    ByteView salt, int32_t iterations);
// Does `password` give `credential` (same salt and iterations)? The stored
// keys are compared in constant time; used where a password arrives in
// clear (SASL/PLAIN checked against a hashed credentials file).
bool password_matches(ScramMechanism m, const ScramCredential& credential, std::string_view password);

// A fresh salt shaped like Kafka's (ScramFormatter: random 130 bits printed in
// base 36, used as the salt's bytes), so Keel's credentials look like Kafka's.
Bytes random_salt();

// Kafka's text form, the value under "SCRAM-SHA-256" / "SCRAM-SHA-512" in
// /config/users/<user>:
//   salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>
// Parsing is strict: exactly these four keys (any order, none twice),
// standard padded base64, key lengths of the mechanism, iterations a plain
// decimal >= 4096. Errors are kBadCredential or kIterationsOutOfRange.
std::string encode_credential(const ScramCredential& c);
Result<ScramCredential> parse_credential(ScramMechanism m, std::string_view text);

// Standard base64 with padding (RFC 4648 §4), as SCRAM and Kafka's stored
// form use. Decoding refuses anything but the canonical encoding.
std::string base64_encode(ByteView bytes);
std::optional<Bytes> base64_decode(std::string_view text);

// --- Messages -------------------------------------------------------------
// Parsers take a message as received and never read past it; they return
// kMalformedMessage (or a more specific code) for anything outside the
// grammar. Writers take already-valid fields: usernames are escaped by the
// writer, nonces must be printable ASCII without ','.

// Extensions after the nonce (`,tokenauth=true`): key and value as sent.
using ScramExtensions = std::vector<std::pair<std::string, std::string>>;

struct ScramClientFirst {
  std::string gs2_header;  // "n,," or "n,a=<saslname>,", as received
  std::string authzid;     // unescaped; empty when absent
  std::string username;    // unescaped
  std::string nonce;
  ScramExtensions extensions;
  std::string bare;  // client-first-message-bare as received: part of AuthMessage

  bool token_auth() const;  // extension tokenauth=true (case-insensitive value, as Kafka)
};
Result<ScramClientFirst> parse_client_first(std::string_view message);
std::string write_client_first(std::string_view username, std::string_view nonce,
                               std::string_view authzid = {}, const ScramExtensions& extensions = {});

struct ScramServerFirst {
  std::string nonce;  // client nonce + server nonce
  Bytes salt;
  int32_t iterations = 0;
};
// Iterations are checked for syntax and > 0 here; the minimum is the client's
// business (ScramClient refuses < 4096).
Result<ScramServerFirst> parse_server_first(std::string_view message);
std::string write_server_first(const ScramServerFirst& m);

struct ScramClientFinal {
  Bytes channel_binding;  // decoded c=: the gs2 header for Kafka's clients
  std::string nonce;
  Bytes proof;
  std::string without_proof;  // client-final-message-without-proof as received
};
Result<ScramClientFinal> parse_client_final(std::string_view message);
std::string write_client_final(ByteView channel_binding, std::string_view nonce, ByteView proof);

struct ScramServerFinal {
  std::optional<Bytes> signature;  // v=
  std::string error;               // e=, when signature is absent
};
Result<ScramServerFinal> parse_server_final(std::string_view message);
std::string write_server_final(ByteView signature);
std::string write_server_final_error(std::string_view error);

// SASL name escaping: ',' <-> "=2C", '=' <-> "=3D".
std::string escape_saslname(std::string_view name);
std::optional<std::string> unescape_saslname(std::string_view saslname);

// Produces a nonce: printable ASCII without ','. Tests inject fixed ones.
using ScramNonceSource = std::function<std::string()>;
// 24 characters of base64 from 18 random bytes.
std::string random_nonce();

// --- Server ---------------------------------------------------------------

// Credentials of one user for the server's mechanism, or nullopt if the user
// has none. Called once per exchange, from step().
using ScramCredentialLookup = std::function<std::optional<ScramCredential>(std::string_view username)>;

// The broker's side of one SCRAM exchange:
//   step(client-first) -> server-first, step(client-final) -> server-final.
// Any error ends the exchange (later steps give kUnexpectedMessage); the
// caller turns it into Kafka's SaslAuthenticate error and closes. An unknown
// user gets a server-first built from a salt derived from the name with a
// per-process secret (stable across attempts, like a real user's) and fails at
// client-final with the same kAuthenticationFailed a wrong password gets,
// after the same work.
class ScramServer {
 public:
  ScramServer(ScramMechanism mechanism, ScramCredentialLookup lookup,
              ScramNonceSource nonce_source = random_nonce);

  Result<std::string> step(std::string_view client_message);

  bool complete() const { return state_ == State::kComplete; }
  ScramMechanism mechanism() const { return mechanism_; }
  // The authenticated name once complete (the principal is User:<username>);
  // before that, the name the client claimed.
  const std::string& username() const { return first_.username; }
  // Empty, or equal to username() (anything else was refused).
  const std::string& authzid() const { return first_.authzid; }

 private:
  enum class State { kExpectClientFirst, kExpectClientFinal, kComplete, kFailed };

  Result<std::string> on_client_first(std::string_view message);
  Result<std::string> on_client_final(std::string_view message);

  ScramMechanism mechanism_;
  ScramCredentialLookup lookup_;
  ScramNonceSource nonce_source_;
  State state_ = State::kExpectClientFirst;
  ScramClientFirst first_;
  std::string server_first_;
  std::string full_nonce_;
  ScramCredential credential_;
  bool known_user_ = false;
};

// --- Client ---------------------------------------------------------------

// The client's side, for inter-broker SASL/SCRAM and tests:
//   first_message() -> handle_server_first() -> handle_server_final().
// Refuses a server nonce that does not extend its own and iterations outside
// [4096, 16384] (a hostile server could otherwise make it spin on PBKDF2).
class ScramClient {
 public:
  ScramClient(ScramMechanism mechanism, std::string username, std::string password,
              std::string authzid = {}, ScramExtensions extensions = {},
              ScramNonceSource nonce_source = random_nonce);

  // kInvalidUsername for an empty username.
  Result<std::string> first_message();
  Result<std::string> handle_server_first(std::string_view message);
  // Success means the server proved it knows the credential.
  Result<void> handle_server_final(std::string_view message);

  bool complete() const { return state_ == State::kComplete; }
  // The server's e= text after kServerError.
  const std::string& server_error() const { return server_error_; }

 private:
  enum class State { kInitial, kSentFirst, kSentFinal, kComplete, kFailed };

  ScramMechanism mechanism_;
  std::string username_;
  std::string password_;
  std::string authzid_;
  ScramExtensions extensions_;
  ScramNonceSource nonce_source_;
  State state_ = State::kInitial;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string client_nonce_;
  Bytes expected_server_signature_;
  std::string server_error_;
};

}  // namespace keel::security
