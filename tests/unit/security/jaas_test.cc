#include "security/jaas.h"

#include <gtest/gtest.h>

#include <variant>

namespace keel::security {
namespace {

using Options = std::map<std::string, std::string>;

constexpr std::string_view kKafkaDocsKrb5 =
    "com.sun.security.auth.module.Krb5LoginModule required\n"
    "    useKeyTab=true\n"
    "    storeKey=true\n"
    "    keyTab=\"/etc/security/keytabs/kafka_server.keytab\"\n"
    "    principal=\"kafka/kafka1.hostname.com@EXAMPLE.COM\";";

std::vector<JaasEntry> entries(std::string_view text) {
  std::string why;
  auto r = parse_jaas_entries(text, &why);
  EXPECT_TRUE(r.ok()) << text << ": " << why;
  return r.ok() ? *r : std::vector<JaasEntry>{};
}

std::string syntax_error(std::string_view text) {
  std::string why;
  auto r = parse_jaas_entries(text, &why);
  EXPECT_FALSE(r.ok()) << text;
  if (!r.ok()) {
    EXPECT_EQ(r.error(), JaasErrc::kSyntax);
  }
  return why;
}

Options options_of(std::string_view text) {
  auto e = entries(text);
  return e.size() == 1 ? e[0].options : Options{};
}

TEST(JaasEntries, KafkaDocumentationBrokerLine) {
  auto e = entries(kKafkaDocsKrb5);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].login_module, kKrb5LoginModule);
  EXPECT_EQ(e[0].flag, JaasControlFlag::kRequired);
  EXPECT_EQ(e[0].options, (Options{{"useKeyTab", "true"},
                                   {"storeKey", "true"},
                                   {"keyTab", "/etc/security/keytabs/kafka_server.keytab"},
                                   {"principal", "kafka/kafka1.hostname.com@EXAMPLE.COM"}}));
}

TEST(JaasEntries, ControlFlagsAreCaseInsensitive) {
  EXPECT_EQ(entries("M Required;")[0].flag, JaasControlFlag::kRequired);
  EXPECT_EQ(entries("M REQUISITE;")[0].flag, JaasControlFlag::kRequisite);
  EXPECT_EQ(entries("M sufficient;")[0].flag, JaasControlFlag::kSufficient);
  EXPECT_EQ(entries("M \"optional\";")[0].flag, JaasControlFlag::kOptional);
  // Java's toUpperCase(Locale.ROOT) turns the dotless i into I.
  EXPECT_EQ(entries("M requ\xc4\xb1red;")[0].flag, JaasControlFlag::kRequired);
  EXPECT_EQ(syntax_error("M mandatory;"), "Invalid login module control flag 'mandatory' in JAAS config");
}

TEST(JaasEntries, QuotesAndJavaEscapes) {
  EXPECT_EQ(options_of(R"(M required a="x\"y" b='it' c="back\\slash";)"),
            (Options{{"a", "x\"y"}, {"b", "it"}, {"c", "back\\slash"}}));
  // 'it''s' is two quoted words, not SQL's doubled quote: "s" becomes a key without '='.
  EXPECT_EQ(syntax_error(R"(M required b='it''s';)"), "Value not specified for key 's' in JAAS config");
}

TEST(JaasEntries, EscapesInsideQuotes) {
  EXPECT_EQ(options_of(R"(M required a="\t\n\r\b\f\a\v" b="\q\/" c="\101\0619\477";)"),
            (Options{{"a", "\t\n\r\b\f\a\v"}, {"b", "q/"}, {"c", "A19'7"}}));
  // \377 is the largest three-digit octal: U+00FF, written as UTF-8.
  EXPECT_EQ(options_of(R"(M required a="\377";)")["a"], "\xc3\xbf");
}

TEST(JaasEntries, SingleQuotesAndDoubleQuotesNest) {
  EXPECT_EQ(options_of(R"(M required a='say "hi"' b="it's";)"), (Options{{"a", "say \"hi\""}, {"b", "it's"}}));
}

TEST(JaasEntries, LineBreakEndsAnUnclosedQuote) {
  // Java's StreamTokenizer ends the string at the line break, without error.
  EXPECT_EQ(options_of("M required a=\"open\nb=x;"), (Options{{"a", "open"}, {"b", "x"}}));
}

TEST(JaasEntries, UnquotedSlashStartsAComment) {
  // keyTab=/etc/... unquoted: everything from '/' to the end of the line is a comment.
  EXPECT_EQ(syntax_error("M required keyTab=/etc/kafka.keytab;"),
            "Value not specified for key 'keyTab' in JAAS config (quote a value holding '/': outside quotes a "
            "'/' starts a comment)");
  EXPECT_EQ(options_of("M required keyTab=/etc/x\n\"k\";"), (Options{{"keyTab", "k"}}));
  EXPECT_EQ(options_of("M required // a comment\n a=b /* block\n a=c */ ;"), (Options{{"a", "b"}}));
  // A word ends where a comment starts.
  EXPECT_EQ(options_of("M required a=b/c\n;"), (Options{{"a", "b"}}));
}

TEST(JaasEntries, BlockCommentKeepsJavasLineBreakQuirk) {
  // After a line break Java takes the next character as already read, so
  // "*\n/" does not close the comment, and "\n*/" does.
  EXPECT_EQ(syntax_error("M required /* a *\n/ a=b;"), "JAAS config entry not terminated by semi-colon");
  EXPECT_EQ(options_of("M required /* a \n*/ a=b;"), (Options{{"a", "b"}}));
}

TEST(JaasEntries, LoneSlashEatsTheLineBreakAfterIt) {
  // '/' then '\n': the comment starts after the character following '/', so
  // it runs to the end of the next line.
  EXPECT_EQ(options_of("M required a=b /\nc=d\n e=f;"), (Options{{"a", "b"}, {"e", "f"}}));
}

TEST(JaasEntries, WhitespaceIsEveryControlCharacter) {
  EXPECT_EQ(options_of("M\trequired\r\n\x01" "a=b\x1f;"), (Options{{"a", "b"}}));
}

TEST(JaasEntries, NonAsciiWordsAndJavaOrdinaryCharacters) {
  EXPECT_EQ(options_of("M required \xc3\xa9t\xc3\xa9=\xe2\x82\xac;"), (Options{{"\xc3\xa9t\xc3\xa9", "\xe2\x82\xac"}}));
  // U+0085 is an ordinary character in Kafka's tokenizer: it stands alone.
  EXPECT_EQ(syntax_error("M required a=\xc2\x85;"), "Value not specified for key 'a' in JAAS config");
  // Bytes that are not UTF-8 read as U+FFFD, a word character.
  EXPECT_EQ(options_of("M required a=\xff;"), (Options{{"a", "\xef\xbf\xbd"}}));
}

TEST(JaasEntries, LastValueOfARepeatedOptionWins) {
  EXPECT_EQ(options_of("M required a=1 a=2;"), (Options{{"a", "2"}}));
}

TEST(JaasEntries, SeveralEntries) {
  auto e = entries("A required; B optional x=y;");
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].login_module, "A");
  EXPECT_EQ(e[1].options, (Options{{"x", "y"}}));
}

TEST(JaasEntries, KafkasErrors) {
  EXPECT_EQ(syntax_error(""), "Login module not specified in JAAS config");
  EXPECT_EQ(syntax_error("  /* only a comment */ "), "Login module not specified in JAAS config");
  EXPECT_EQ(syntax_error("M"), "Login module control flag not specified in JAAS config");
  EXPECT_EQ(syntax_error("M ;"), "Login module control flag is not available in the JAAS config");
  EXPECT_EQ(syntax_error("M required a"), "Value not specified for key 'a' in JAAS config");
  EXPECT_EQ(syntax_error("M required a="), "Value not specified for key 'a' in JAAS config");
  EXPECT_EQ(syntax_error("M required a=;"), "Value not specified for key 'a' in JAAS config");
  EXPECT_EQ(syntax_error("M required a=b"), "JAAS config entry not terminated by semi-colon");
  EXPECT_EQ(syntax_error("M required = b;"), "Expected an option name in JAAS config, found '='");
  EXPECT_EQ(syntax_error("\"\" required;"), "Login module class not specified in JAAS config");
}

TEST(JaasEntries, WrittenEntriesParseBack) {
  JaasEntry e{"a \"b\"\\c", JaasControlFlag::kSufficient,
              {{"k", "line\nbreak"}, {"q'", "it's \"x\" \\"}, {"empty", ""}, {"path", "/a/b"}}};
  auto back = entries(write_jaas_entry(e));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], e);
}

TEST(JaasEntries, WritingCanHidePasswords) {
  JaasEntry e{std::string(kPlainLoginModule), JaasControlFlag::kRequired,
              {{"username", "admin"}, {"password", "s3cret"}, {"user_bob", "pw"}}};
  const std::string text = write_jaas_entry(e, true);
  EXPECT_EQ(text.find("s3cret"), std::string::npos);
  EXPECT_EQ(text.find("\"pw\""), std::string::npos);
  EXPECT_NE(text.find("\"username\"=\"admin\""), std::string::npos) << text;
}

// --- parse_jaas_config --------------------------------------------------------------------------

JaasLogin login(std::string_view text) {
  std::string why;
  auto r = parse_jaas_config(text, &why);
  EXPECT_TRUE(r.ok()) << text << ": " << why;
  return r.ok() ? *r : JaasLogin{};
}

std::pair<std::error_code, std::string> refused(std::string_view text) {
  std::string why;
  auto r = parse_jaas_config(text, &why);
  EXPECT_FALSE(r.ok()) << text;
  return {r.error(), why};
}

TEST(JaasConfig, Krb5LoginModuleGivesKeytabAndPrincipal) {
  auto l = std::get<KerberosLogin>(login(kKafkaDocsKrb5));
  EXPECT_EQ(l.keytab, "/etc/security/keytabs/kafka_server.keytab");
  EXPECT_EQ(l.principal, "kafka/kafka1.hostname.com@EXAMPLE.COM");
  EXPECT_EQ(l.service_name, "");
  auto s = std::get<KerberosLogin>(login(
      "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=TRUE keyTab=\"/k\" principal=kafka "
      "serviceName=kafka;"));
  EXPECT_EQ(s.principal, "kafka");
  EXPECT_EQ(s.service_name, "kafka");
}

TEST(JaasConfig, Krb5LoginModuleNeedsAKeytabAndAPrincipal) {
  const std::string m = "com.sun.security.auth.module.Krb5LoginModule required ";
  for (const std::string opts : {"keyTab=\"/k\" principal=p;", "useKeyTab=false keyTab=\"/k\" principal=p;",
                                 "useKeyTab=yes keyTab=\"/k\" principal=p;"}) {
    auto [code, why] = refused(m + opts);
    EXPECT_EQ(code, JaasErrc::kInvalidOption);
    EXPECT_NE(why.find("set useKeyTab=true"), std::string::npos) << why;
  }
  EXPECT_NE(refused(m + "useKeyTab=true principal=p;").second.find("no keyTab"), std::string::npos);
  EXPECT_NE(refused(m + "useKeyTab=true keyTab=\"/k\";").second.find("no principal"), std::string::npos);
  EXPECT_NE(refused(m + "useKeyTab=true keyTab=\"/k\" principal=\"*\";").second.find("not supported"),
            std::string::npos);
  for (const char* bad : {"\"/host@R\"", "\"a/@R\"", "\"a/b/c@R\"", "\"a@\"", "\"a@R@S\"", "\"@R\""}) {
    auto [code, why] = refused(m + "useKeyTab=true keyTab=\"/k\" principal=" + bad + ";");
    EXPECT_EQ(code, JaasErrc::kInvalidOption) << bad;
    EXPECT_NE(why.find("is not primary[/instance][@REALM]"), std::string::npos) << why;
  }
}

TEST(JaasConfig, PlainAndScramGiveTheBrokersCredentials) {
  auto p = std::get<PasswordLogin>(
      login("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" "
            "password=\"admin-secret\";"));
  EXPECT_EQ(p.module, PasswordLogin::Module::kPlain);
  EXPECT_EQ(p.username, "admin");
  EXPECT_EQ(p.password, "admin-secret");
  auto s = std::get<PasswordLogin>(
      login("org.apache.kafka.common.security.scram.ScramLoginModule required username=broker password=pw;"));
  EXPECT_EQ(s.module, PasswordLogin::Module::kScram);
  EXPECT_EQ(s.username, "broker");
  // A listener that only accepts needs no credentials of its own.
  auto none = std::get<PasswordLogin>(login("org.apache.kafka.common.security.scram.ScramLoginModule required;"));
  EXPECT_TRUE(none.username.empty() && none.password.empty());
}

TEST(JaasConfig, PlaintextPlainUsersAndDelegationTokensAreRefused) {
  auto [code, why] = refused(
      "org.apache.kafka.common.security.plain.PlainLoginModule required username=a password=b user_alice=x;");
  EXPECT_EQ(code, JaasErrc::kInvalidOption);
  EXPECT_NE(why.find("sasl.plain.credentials.file"), std::string::npos) << why;
  EXPECT_EQ(why.find("=x"), std::string::npos) << "the password is not echoed";
  EXPECT_EQ(refused("org.apache.kafka.common.security.scram.ScramLoginModule required tokenauth=true;").first,
            JaasErrc::kInvalidOption);
}

TEST(JaasConfig, OtherLoginModulesAreRefusedByName) {
  auto [code, why] = refused("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;");
  EXPECT_EQ(code, JaasErrc::kUnsupportedLoginModule);
  EXPECT_NE(why.find("'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule' is not one keel serves"),
            std::string::npos)
      << why;
}

TEST(JaasConfig, ExactlyOneLoginModule) {
  auto [code, why] = refused(
      "org.apache.kafka.common.security.plain.PlainLoginModule required; "
      "org.apache.kafka.common.security.scram.ScramLoginModule required;");
  EXPECT_EQ(code, JaasErrc::kSyntax);
  EXPECT_EQ(why, "JAAS config property contains 2 login modules, should be 1 module");
}

}  // namespace
}  // namespace keel::security
