#pragma once
// SPNEGO (RFC 4178, HTTP Negotiate of RFC 4559) on the acceptor's side with
// MIT GSS-API: a client's token (a Kerberos AP-REQ wrapped in SPNEGO, as
// browsers and curl --negotiate send it) is checked against the HTTP service
// key of a keytab, and the client's Kerberos name goes through
// sasl.kerberos.principal.to.local.rules, as a GSSAPI client's name does on a
// Kafka listener, giving the principal's name (User:<short name>).
//
// One round trip only: the client's first token must carry the Kerberos
// ticket (the optimistic token every browser and curl sends). A token that
// would need another round (another mechanism offered first) is refused, as
// HTTP keeps no security context between requests.
//
// Which service: with a principal configured, tickets to exactly that name
// (HTTP/<host>@REALM); without one, a ticket to any HTTP/<host> key the keytab
// holds (browsers ask for HTTP/<the host in the URL>, so one broker reached
// by several names works). A ticket for another service whose key the keytab
// also holds (kafka/<host>, a shared keytab) is refused either way.
//
// The keytab is read through gss_acquire_cred_from's credential store, so it
// is this acceptor's own: nothing process-wide (KRB5_KTNAME, Cyrus' keytab)
// changes. Kerberos reads its configuration from KRB5_CONFIG and keeps its
// replay cache in KRB5RCACHEDIR (else /var/tmp), as for SASL/GSSAPI.
//
// Blocking: accept() never talks to the KDC (an acceptor only decrypts the
// ticket with its key), but it reads the keytab and writes the replay cache,
// both local files: call it off latency-critical event loops.
//
// Thread-safety: immutable after create(); accept() may run on many threads
// at once (each call acquires its own GSS credential and context).

#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "security/principal_rules.h"

namespace keel::security {

struct SpnegoOptions {
  std::string keytab;     // a file path (no FILE: prefix needed)
  std::string principal;  // "HTTP/host@REALM" (realm optional), or "" = any HTTP/<host> key of the keytab
  std::vector<std::string> to_local_rules = {"DEFAULT"};  // sasl.kerberos.principal.to.local.rules
};

class SpnegoAcceptor {
 public:
  struct Outcome {
    bool ok = false;
    std::string kerberos_name;  // "alice@EXAMPLE.TEST" (set once the ticket checked out)
    std::string short_name;     // ok: the name the rules gave
    Bytes reply;                // ok: the token for "WWW-Authenticate: Negotiate <token>" (may be empty)
    std::string error;          // !ok: why, in words fit for the client
    std::string detail;         // !ok: GSS-API's own words, for the log
  };

  // Checks what a first client would need and throws std::runtime_error
  // saying what to change: a keytab that is missing or unreadable by this
  // user, no HTTP/<host> key in it (or not the configured principal's), rules
  // that do not parse, no default realm in the Kerberos configuration, a
  // credential GSS-API will not acquire.
  static std::shared_ptr<const SpnegoAcceptor> create(SpnegoOptions options);

  ~SpnegoAcceptor();

  // One client token (already base64-decoded: spnego_header.h).
  Outcome accept(ByteView token) const;

  // "HTTP/host@REALM" or "any HTTP/<host> key", and the keytab: for logs.
  std::string describe() const;
  // The service keys the keytab offers, e.g. {"HTTP/localhost@EXAMPLE.TEST"}.
  const std::vector<std::string>& http_keys() const { return http_keys_; }

 private:
  SpnegoAcceptor(SpnegoOptions options, KerberosShortNamer rules);

  SpnegoOptions options_;
  KerberosShortNamer rules_;
  std::vector<std::string> http_keys_;
};

// The keytab's HTTP/<host>@REALM keys (distinct names, in keytab order);
// throws std::runtime_error when it cannot be read. For the start-up check
// of a keytab that would be borrowed from a GSSAPI listener.
std::vector<std::string> keytab_http_keys(const std::string& keytab);

}  // namespace keel::security
