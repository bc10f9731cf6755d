#pragma once
// Kafka's principal mapping rules, so that ACLs written for a Kafka cluster name
// the same principals on Keel:
// - sasl.kerberos.principal.to.local.rules (KerberosShortNamer / KerberosRule):
//   `primary[/instance]@REALM` -> short name;
// - ssl.principal.mapping.rules (SslPrincipalMapper, KIP-371): the client
//   certificate's RFC 2253 subject -> principal name;
// - java_rfc2253_name(): that subject string as Java's X500Principal.getName()
//   prints it, which is what Kafka feeds to the SSL rules.
//
// Kafka's rules are Java regular expressions; Keel runs them with std::regex
// (ECMAScript). Rules whose regex would mean something else there are refused
// when parsed, not run differently: possessive quantifiers, Java-only escapes
// (\Q..\E, \p{..}, \A, \z, \Z, \h, \R, \v, \0, ...), Java-only groups
// ((?<name>..), (?i), (?>..), look-behind), nested or intersected character
// classes ([a[b]], [a&&b], [[:alpha:]]), and non-ASCII text inside a class or
// before a quantifier (std::regex matches bytes where Java matches UTF-16
// units). Left as documented differences: `.` matches one byte of a UTF-8
// character rather than a whole character; Java's `$` also matches before a
// final line break; case folding (/L, /U) uses glibc's simple mappings, so
// Java's special cases (U+0130 to "i̇", "ß" to "SS") are not reproduced.
//
// Kafka fails some rules only when a principal reaches them (a `$n` with no
// such group or parameter, a malformed `$` in a replacement); Keel refuses
// those at parse time, because in Kafka they fail every principal they apply to.
//
// Parsed mappers are immutable and safe to share between threads.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <openssl/types.h>

#include "common/result.h"
#include "security/errors.h"

namespace keel::security {

// std::regex recurses about once per input character; real subjects and
// Kerberos names are far below this, and it keeps a hostile certificate from
// exhausting an I/O thread's stack.
inline constexpr std::size_t kMaxMappedNameBytes = 8192;

// sasl.kerberos.principal.to.local.rules. Rules are tried in order and the
// first that applies wins; a rule that produces a name containing '/' or '@'
// ends the search with kNoMatchingRule, as in Kafka.
class KerberosShortNamer {
 public:
  // `rules` is the config's list (Kafka's default is {"DEFAULT"}); each entry
  // is `DEFAULT` or `RULE:[n:format](match)s/from/to/[g][/L|/U]`.
  // `default_realm` is krb5.conf's default_realm, which DEFAULT requires.
  // Errors: kInvalidRule, with a message naming the rule.
  static Result<KerberosShortNamer> parse(std::string default_realm,
                                          const std::vector<std::string>& rules,
                                          std::string* error_message = nullptr);

  KerberosShortNamer(KerberosShortNamer&&) noexcept;
  KerberosShortNamer& operator=(KerberosShortNamer&&) noexcept;
  ~KerberosShortNamer();

  // A name without '@' is returned unchanged, as Kafka does. A SASL layer
  // that strips the default realm (Cyrus does) must add it back first, or
  // DEFAULT and the rules never see it.
  // Errors: kMalformedName, kNoMatchingRule, kNameTooLong.
  Result<std::string> short_name(std::string_view kerberos_principal,
                                 std::string* error_message = nullptr) const;

  const std::string& default_realm() const { return default_realm_; }

 private:
  struct Rule;
  KerberosShortNamer(std::string default_realm, std::vector<Rule> rules);
  static std::optional<Rule> parse_rule(std::string_view text, std::string* why);

  std::string default_realm_;
  std::vector<Rule> rules_;
};

// ssl.principal.mapping.rules. The first rule whose regex matches the whole
// distinguished name wins; DEFAULT keeps the name as it is.
class SslPrincipalMapper {
 public:
  // `rules` is the config's single string (Kafka's default is "DEFAULT"):
  // comma-separated `DEFAULT` and `RULE:regex/replacement/[L|U]` entries,
  // where commas inside a rule's regex or replacement do not split (only a
  // comma after the rule's closing '/' does) and '/' inside them is written
  // `\/`. Empty entries are skipped; an empty list maps nothing.
  // Errors: kInvalidRule, with a message naming the rule.
  static Result<SslPrincipalMapper> parse(std::string_view rules,
                                          std::string* error_message = nullptr);

  SslPrincipalMapper(SslPrincipalMapper&&) noexcept;
  SslPrincipalMapper& operator=(SslPrincipalMapper&&) noexcept;
  ~SslPrincipalMapper();

  // `distinguished_name` in Java's RFC 2253 form (java_rfc2253_name).
  // Errors: kNoMatchingRule, kNameTooLong.
  Result<std::string> name(std::string_view distinguished_name,
                           std::string* error_message = nullptr) const;

 private:
  struct Rule;
  explicit SslPrincipalMapper(std::vector<Rule> rules);
  static std::optional<Rule> parse_rule(std::string_view text, std::string* why);

  std::vector<Rule> rules_;
};

// The subject as Java's X500Principal.getName() prints it (RFC 2253): RDNs
// from the last in the certificate to the first, AVAs of one RDN joined by '+'
// in encoded order; only CN, C, L, ST, O, OU, DC, STREET and UID by keyword,
// every other attribute (emailAddress, serialNumber, ...) and any non-string
// value as `<dotted OID>=#<lower-case hex of its DER>`; `,+<>;"\=#`
// escaped with '\' wherever they are, leading and trailing spaces (and CRs)
// too, NUL as \00, UTF-8 and other control characters kept as they are
// (checked against Java 17). OpenSSL's XN_FLAG_RFC2253 differs: it prints
// short names (emailAddress=, serialNumber=), escapes '#' only in front and
// leaves '=' alone, escapes only the last trailing space, escapes UTF-8 and
// control bytes as \XX and reverses the AVAs of a multi-valued RDN.
std::string java_rfc2253_name(const X509_NAME* name);

}  // namespace keel::security
