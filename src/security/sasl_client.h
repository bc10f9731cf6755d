#pragma once
// The client side of the SASL mechanisms a broker uses on its own connections
// to other brokers (inter-broker SASL, as Kafka's
// sasl.mechanism.inter.broker.protocol): PLAIN (RFC 4616) and
// SCRAM-SHA-256/512 (RFC 5802, the math is ScramClient's in scram.h), and the
// interface GSSAPI's client (server/sasl_gssapi_client.h, on Kerberos) fills. The
// credentials are those of the inter-broker listener's JAAS line
// (PlainLoginModule / ScramLoginModule username= and password=, jaas.h).
//
// Only the tokens live here; the Kafka framing that carries them
// (SaslHandshake, SaslAuthenticate) is net/sasl_client.h. A mechanism is driven
// by one loop, whatever it is:
//
//   token = m.respond({})                    // the client speaks first
//   while (!m.complete()) {
//     send token, receive the server's token
//     token = m.respond(server_token)        // the last call checks the server's
//   }                                        // final token and returns nothing to send
//
// Not thread-safe; one object per exchange (a re-authentication makes a new one).

#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "security/errors.h"
#include "security/jaas.h"
#include "security/scram.h"

namespace keel::security {

class SaslClientMechanism {
 public:
  virtual ~SaslClientMechanism() = default;
  // "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512": the name SaslHandshake carries.
  virtual std::string_view name() const = 0;
  // The next token for the server, from its last one (empty before the
  // first). Once the exchange is complete (the server's final token checked)
  // it returns an empty token and complete() is true: nothing more to send.
  // An error ends the exchange: the server's final token did not verify
  // (ScramErrc::kServerSignatureMismatch), the server sent an error
  // (ScramErrc::kServerError, server_error() says which), or a token came
  // that the mechanism does not expect.
  virtual Result<Bytes> respond(ByteView server_token) = 0;
  virtual bool complete() const = 0;
  // The server's own words when it refused inside the mechanism (SCRAM e=).
  virtual std::string server_error() const { return {}; }
  // After a failure of the mechanism's own library: its words (GSSAPI:
  // Kerberos' major and minor status), for the log.
  virtual std::string detail() const { return {}; }
  // The host the connection dialled, before the first respond(): GSSAPI asks
  // for a ticket to <service>/<host>; the others ignore it.
  virtual void set_server_host(std::string_view /*host*/) {}
  // The next respond() may wait on a service other than the server (GSSAPI
  // asks the KDC for tickets): the caller runs it off the thread that serves
  // its other connections, which a KDC that does not answer would stall.
  virtual bool may_block() const { return false; }
};

// PLAIN: one token, "<authzid>\0<username>\0<password>" with no authzid, as
// Kafka's PlainSaslClient sends; the server's (empty) answer completes it.
std::unique_ptr<SaslClientMechanism> make_plain_client(std::string username, std::string password);

// SCRAM-SHA-256 / SCRAM-SHA-512 with ScramClient: client-first, client-final,
// then the server-final's signature is checked.
std::unique_ptr<SaslClientMechanism> make_scram_client(ScramMechanism mechanism, std::string username,
                                                       std::string password,
                                                       ScramNonceSource nonce_source = random_nonce);

// The mechanism `name` (upper case, as Kafka's keys spell it) with the
// username and password of a PlainLoginModule or ScramLoginModule JAAS line.
// Errors: kUnknownMechanism (GSSAPI and anything else: not a password
// mechanism), kMissingCredentials (the line has no username or password).
Result<std::unique_ptr<SaslClientMechanism>> make_password_sasl_client(std::string_view name,
                                                                        const PasswordLogin& login);

}  // namespace keel::security
