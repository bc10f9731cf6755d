#pragma once
// Kafka's JAAS lines (`sasl.jaas.config`, `listener.name.<l>.<mech>.sasl.jaas.config`),
// read as Kafka reads them, so a line written for a Kafka broker means the same
// on Keel:
//
//   <login module class> <control flag> (<option>=<value>)* ;
//
// The grammar is Kafka's JaasConfig: java.io.StreamTokenizer with Kafka's
// settings. Characters 0-32 are white space; ';' and '=' stand alone; '"' and
// '\'' quote; a '/' outside quotes starts a comment (`//` and a lone `/` to the
// end of the line, `/* */` to its end), so a value holding '/' (a keytab path,
// a principal with a host) must be quoted. Inside quotes, `\n \t \r \b \f \a \v`,
// octal `\0`..`\377` and `\<any other>` (that character) are escapes; a line break
// or the end of the text ends an unclosed quote without error, as in Java.
// Unquoted words run over every other character, non-ASCII included, except
// U+0081..U+009F, which stand alone as in Java. An option given twice keeps
// its last value (Java's HashMap).
//
// On top of the grammar, Kafka's rule for the config property: exactly one
// login module. Keel knows three (other classes are refused, naming them):
// - com.sun.security.auth.module.Krb5LoginModule: the broker's Kerberos
//   identity, from a keytab (useKeyTab=true keyTab="..." principal="...";
//   serviceName= is optional and must agree with sasl.kerberos.service.name);
// - org.apache.kafka.common.security.plain.PlainLoginModule and
//   org.apache.kafka.common.security.scram.ScramLoginModule: username= and
//   password= with which the broker authenticates to other brokers. Kafka's
//   `user_<name>="<password>"` PLAIN users are refused: Keel keeps no
//   plaintext password at rest (sasl.plain.credentials.file holds hashes).
//
// Pure functions, no state: safe from any thread.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"
#include "security/errors.h"

namespace keel::security {

inline constexpr std::string_view kKrb5LoginModule = "com.sun.security.auth.module.Krb5LoginModule";
inline constexpr std::string_view kPlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule";
inline constexpr std::string_view kScramLoginModule = "org.apache.kafka.common.security.scram.ScramLoginModule";

enum class JaasControlFlag { kRequired, kRequisite, kSufficient, kOptional };

// One `<class> <flag> options;` entry, as the grammar gives it.
struct JaasEntry {
  std::string login_module;
  JaasControlFlag flag = JaasControlFlag::kRequired;
  std::map<std::string, std::string> options;

  bool operator==(const JaasEntry&) const = default;
};

// Every entry of `text`, in order. Errors: JaasErrc::kSyntax, with Kafka's
// message (and a hint where Kafka's parser surprises) in *error_message.
// An empty text is an error, as in Kafka ("Login module not specified").
Result<std::vector<JaasEntry>> parse_jaas_entries(std::string_view text, std::string* error_message = nullptr);

// The entry written back in the grammar above, every name and value quoted,
// so that parse_jaas_entries gives it back. Options named "password" (and
// Kafka's user_* passwords) print as "[hidden]" when `hide_passwords`.
std::string write_jaas_entry(const JaasEntry& entry, bool hide_passwords = false);

// Krb5LoginModule: the broker's key and name.
struct KerberosLogin {
  std::string keytab;        // keyTab=, a path (Java reads it as a file name, not a krb5 "FILE:" name)
  std::string principal;     // principal=, "primary[/instance][@REALM]"
  std::string service_name;  // serviceName=, "" when not given
};

// PlainLoginModule / ScramLoginModule: the broker's own client credentials,
// empty when the line has none (a listener that only accepts).
struct PasswordLogin {
  enum class Module { kPlain, kScram } module = Module::kPlain;
  std::string username;
  std::string password;
};

using JaasLogin = std::variant<KerberosLogin, PasswordLogin>;

// A sasl.jaas.config value: the grammar, exactly one entry, and the options
// Keel needs from its module. Errors: kSyntax (the grammar, the entry count),
// kUnsupportedLoginModule (another class), kInvalidOption (useKeyTab not true,
// no keyTab or principal, a malformed principal, user_* passwords,
// tokenauth=true), each with a message naming what to change.
Result<JaasLogin> parse_jaas_config(std::string_view text, std::string* error_message = nullptr);

}  // namespace keel::security
