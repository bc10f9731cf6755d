#pragma once
// The client side of SASL/GSSAPI (Kerberos, RFC 4752) for the broker's own
// connections to other brokers (sasl.mechanism.inter.broker.protocol GSSAPI),
// as Kafka's brokers do it: the broker logs in with the keytab and principal
// of its inter-broker listener's Krb5LoginModule JAAS line and asks for a
// ticket to <sasl.kerberos.service.name>/<the host it dials>, the name the
// other broker's GSSAPI listener accepts (server/sasl_gssapi.h).
//
// Built on MIT's GSS-API (libgssapi-krb5) directly rather than Cyrus SASL's
// client side, because:
// - gss_acquire_cred_from takes the keytab and the principal per credential
//   (MIT's credential store: client_keytab, and a MEMORY ticket cache private
//   to this process), so the broker's own identity comes from its JAAS line
//   alone. Cyrus' GSSAPI client would use whatever the process environment
//   names (KRB5CCNAME, KRB5_CLIENT_KTNAME): process-global, shared with any
//   other Kerberos user in the process, and without a principal of its own;
// - no second process-wide Cyrus initialisation (sasl_client_init, its
//   callbacks) beside the server side's, which already owns Cyrus' keytab;
// - what RFC 4752 adds to the Kerberos context is one wrapped 4-byte
//   security-layer message each way: a few lines here.
//
// The exchange, as SaslClientMechanism::respond drives it: the first token is
// gss_init_sec_context's AP-REQ (mutual authentication asked), the server's
// AP-REP completes the context and is answered with an empty token, the
// server's wrapped security-layer offer (it must allow "no security layer":
// Kafka never wraps traffic) is answered with the wrapped choice "none", no
// maximum size and no authorization id (the principal is the authenticated
// name, as Kafka's servers take it), and the server's empty answer ends it.
//
// Tickets: the broker's KerberosTgtKeeper logs in from the keytab and renews
// the TGT in the background (GssapiClientLogin::ccache), and each service
// ticket is kept in the same MEMORY cache until it expires, so a
// re-authentication (KIP-368) usually talks to nobody but the other broker.
// gss_init_sec_context does talk to the KDC synchronously when it needs a
// ticket, so the first respond() says may_block(): net::Client runs it on a
// thread of its own, and a KDC that does not answer (MIT's library waits out
// its retries, tens of seconds) holds only that connection's login, not the
// runtime thread that serves this broker's other connections (a fetcher's
// thread fetches from every leader of its fetcher id).
//
// Not thread-safe; one object per exchange, as every SaslClientMechanism.

#include <memory>
#include <string>
#include <system_error>

#include "security/sasl_client.h"

namespace keel::server {

// The broker's Kerberos identity for its outgoing connections.
struct GssapiClientLogin {
  std::string keytab;     // a file name (Krb5LoginModule keyTab=)
  std::string principal;  // Krb5LoginModule principal=, "primary[/instance][@REALM]"
  std::string service;    // sasl.kerberos.service.name of the other brokers, e.g. "kafka"
  // The ticket cache a KerberosTgtKeeper (server/kerberos_tgt.h) keeps the
  // TGT in: the exchange only reads it, and asks the KDC for nothing but a
  // service ticket not yet there. Empty: the exchange logs in from the
  // keytab itself into a MEMORY cache of its own, and MIT refreshes the TGT
  // in line (waiting on the KDC) from half its life on.
  std::string ccache;
};

// What a GSSAPI exchange fails with besides SaslClientErrc::kUnexpectedToken
// (a token out of place, a security-layer offer Kafka never makes).
enum class GssapiClientErrc {
  kKerberos = 1,  // GSS-API refused: detail() has Kerberos' words
};
const std::error_category& gssapi_client_category();
inline std::error_code make_error_code(GssapiClientErrc e) { return {static_cast<int>(e), gssapi_client_category()}; }

// A GSSAPI exchange with the broker at the host set_server_host() names
// (asking for a ticket to <login.service>/<host>). Nothing is done before the
// first respond(); a Kerberos failure there or later is
// GssapiClientErrc::kKerberos with Kerberos' words in detail() (e.g. no key
// for the principal in the keytab, the KDC unreachable, no such service
// principal).
std::unique_ptr<security::SaslClientMechanism> make_gssapi_client(GssapiClientLogin login);

}  // namespace keel::server

template <>
struct std::is_error_code_enum<keel::server::GssapiClientErrc> : std::true_type {};
