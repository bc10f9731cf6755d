#pragma once
// The security module's errors: one enum per domain (ACL data, principal
// mapping rules, SCRAM, JAAS lines), each with its own category so a message names it.

#include <system_error>

namespace keel::security {

enum class AclErrc {
  kMalformed = 1,  // ACL text (config, ZooKeeper node, change notification) Keel cannot read
};
const std::error_category& acl_category();
inline std::error_code make_error_code(AclErrc e) { return {static_cast<int>(e), acl_category()}; }

enum class PrincipalErrc {
  kInvalidRule = 1,  // rule text refused (Kafka: IllegalArgumentException at config time)
  kNoMatchingRule,   // no rule applies, or a Kerberos rule gave a name with '/' or '@'
                     // (Kafka: NoMatchingRule, the client fails authentication)
  kMalformedName,    // has '@' but is not primary[/instance]@REALM
  kNameTooLong,      // above kMaxMappedNameBytes
};

const std::error_category& principal_category();
inline std::error_code make_error_code(PrincipalErrc e) {
  return {static_cast<int>(e), principal_category()};
}

enum class ScramErrc {
  kMalformedMessage = 1,       // not RFC 5802's grammar (or bad base64 inside it)
  kChannelBindingUnsupported,  // gs2 header "p=..." or "y": Kafka does no channel binding
  kInvalidUsername,            // empty saslname, or '=' not followed by 2C / 3D
  kUnsupportedExtension,       // a mandatory extension (m=) the server cannot honour
  kAuthzidMismatch,            // authzid present and different from the username
  kIterationsOutOfRange,       // below 4096 (or above 16384 where Kafka caps it)
  kChannelBindingMismatch,     // client-final c= is not client-first's gs2 header
  kNonceMismatch,              // nonce does not continue the one sent before
  kAuthenticationFailed,       // wrong password, unknown user or token: one answer for all
  kServerSignatureMismatch,    // client side: server-final v= did not verify
  kServerError,                // client side: server-final carried e=
  kBadCredential,              // stored credential text or key sizes not as Kafka writes them
  kUnexpectedMessage,          // a step after the exchange completed or failed
};

const std::error_category& scram_category();
inline std::error_code make_error_code(ScramErrc e) { return {static_cast<int>(e), scram_category()}; }

enum class JaasErrc {
  kSyntax = 1,              // not Kafka's JAAS grammar, or not exactly one login module
  kUnsupportedLoginModule,  // a login module class Keel does not know
  kInvalidOption,           // a known module without the options Keel needs, or with refused ones
};

const std::error_category& jaas_category();
inline std::error_code make_error_code(JaasErrc e) { return {static_cast<int>(e), jaas_category()}; }

// The client side of a SASL mechanism (sasl_client.h).
enum class SaslClientErrc {
  kUnknownMechanism = 1,  // a mechanism name Keel's client does not speak
  kMissingCredentials,    // no username or password for PLAIN / SCRAM
  kUnexpectedToken,       // a server token after the exchange was complete, or a non-empty PLAIN answer
};

const std::error_category& sasl_client_category();
inline std::error_code make_error_code(SaslClientErrc e) { return {static_cast<int>(e), sasl_client_category()}; }

}  // namespace keel::security

template <>
struct std::is_error_code_enum<keel::security::AclErrc> : std::true_type {};
template <>
struct std::is_error_code_enum<keel::security::PrincipalErrc> : std::true_type {};
template <>
struct std::is_error_code_enum<keel::security::ScramErrc> : std::true_type {};
template <>
struct std::is_error_code_enum<keel::security::JaasErrc> : std::true_type {};
template <>
struct std::is_error_code_enum<keel::security::SaslClientErrc> : std::true_type {};
