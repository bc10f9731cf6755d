// Kafka's principal mapping rules. Expected values follow Kafka's documented
// examples and its KerberosShortNamer / SslPrincipalMapper behaviour; the
// RFC 2253 strings are what Java 17's X500Principal.getName() printed for the
// same DER subjects.

#include "security/principal_rules.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

namespace keel::security {
namespace {

KerberosShortNamer kerberos(std::vector<std::string> rules, std::string realm = "EXAMPLE.COM") {
  std::string message;
  auto namer = KerberosShortNamer::parse(std::move(realm), rules, &message);
  EXPECT_TRUE(namer.ok()) << message;
  return std::move(namer).value();
}

std::string short_name(const KerberosShortNamer& namer, std::string_view principal) {
  std::string message;
  auto name = namer.short_name(principal, &message);
  if (!name.ok()) return "error: " + message;
  return *name;
}

std::string kerberos_rule_error(std::vector<std::string> rules) {
  std::string message;
  auto namer = KerberosShortNamer::parse("EXAMPLE.COM", rules, &message);
  if (namer.ok()) return "accepted";
  EXPECT_EQ(namer.error(), PrincipalErrc::kInvalidRule);
  return message;
}

SslPrincipalMapper ssl(std::string_view rules) {
  std::string message;
  auto mapper = SslPrincipalMapper::parse(rules, &message);
  EXPECT_TRUE(mapper.ok()) << message;
  return std::move(mapper).value();
}

std::string mapped(const SslPrincipalMapper& mapper, std::string_view dn) {
  std::string message;
  auto name = mapper.name(dn, &message);
  if (!name.ok()) return "error: " + message;
  return *name;
}

std::string ssl_rule_error(std::string_view rules) {
  std::string message;
  auto mapper = SslPrincipalMapper::parse(rules, &message);
  if (mapper.ok()) return "accepted";
  EXPECT_EQ(mapper.error(), PrincipalErrc::kInvalidRule);
  return message;
}

// --- Kerberos ---------------------------------------------------------------

TEST(PrincipalKerberos, DefaultMapsDefaultRealmToPrimary) {
  auto namer = kerberos({"DEFAULT"});
  EXPECT_EQ(short_name(namer, "alice@EXAMPLE.COM"), "alice");
  EXPECT_EQ(short_name(namer, "kafka/broker1.example.com@EXAMPLE.COM"), "kafka");
}

TEST(PrincipalKerberos, DefaultRejectsForeignRealm) {
  auto namer = kerberos({"DEFAULT"});
  auto result = namer.short_name("alice@OTHER.COM");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error(), PrincipalErrc::kNoMatchingRule);
  EXPECT_EQ(short_name(namer, "alice@OTHER.COM"), "error: no rules apply to alice@OTHER.COM");
  // The realm compares exactly, case included.
  EXPECT_EQ(short_name(namer, "alice@example.com"), "error: no rules apply to alice@example.com");
}

TEST(PrincipalKerberos, NameWithoutRealmIsReturnedUnchanged) {
  auto namer = kerberos({});
  EXPECT_EQ(short_name(namer, "alice"), "alice");
  EXPECT_EQ(short_name(namer, "svc/host"), "svc/host");
}

TEST(PrincipalKerberos, NoRulesMatchesNothingWithRealm) {
  auto namer = kerberos({});
  auto result = namer.short_name("alice@EXAMPLE.COM");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error(), PrincipalErrc::kNoMatchingRule);
}

TEST(PrincipalKerberos, MalformedNamesAreRefused) {
  auto namer = kerberos({"DEFAULT"});
  for (const char* bad : {"a/b/c@EXAMPLE.COM", "a@b@EXAMPLE.COM", "a@EXAMPLE.COM/x"}) {
    auto result = namer.short_name(bad);
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.error(), PrincipalErrc::kMalformedName) << bad;
  }
}

TEST(PrincipalKerberos, KafkaDocumentedRuleKeepsUserOfMyDomain) {
  // From Kafka's security docs: map user@MYDOMAIN.COM to user.
  auto namer = kerberos({"RULE:[1:$1@$0](.*@MYDOMAIN.COM)s/@.*//", "DEFAULT"});
  EXPECT_EQ(short_name(namer, "user@MYDOMAIN.COM"), "user");
  EXPECT_EQ(short_name(namer, "bob@EXAMPLE.COM"), "bob");  // falls through to DEFAULT
  EXPECT_EQ(short_name(namer, "bob@ELSEWHERE.COM"), "error: no rules apply to bob@ELSEWHERE.COM");
}

TEST(PrincipalKerberos, RuleAppliesOnlyToItsComponentCount) {
  auto namer = kerberos({"RULE:[2:$1](.*)s/.*/twocomp/", "RULE:[1:$1]s/.*/onecomp/"});
  EXPECT_EQ(short_name(namer, "svc/host@EXAMPLE.COM"), "twocomp");
  EXPECT_EQ(short_name(namer, "user@EXAMPLE.COM"), "onecomp");
}

TEST(PrincipalKerberos, FormatSubstitutesRealmAndComponents) {
  auto namer = kerberos({"RULE:[2:$2-$1-$0]"});
  EXPECT_EQ(short_name(namer, "svc/host.example.com@REALM"), "host.example.com-svc-REALM");
}

TEST(PrincipalKerberos, MatchRegexMustMatchTheWholeBase) {
  auto namer = kerberos({"RULE:[1:$1@$0](ali)", "RULE:[1:$1@$0](ali.*)s/@.*//"});
  EXPECT_EQ(short_name(namer, "alice@EXAMPLE.COM"), "alice");
}

TEST(PrincipalKerberos, FirstMatchingRuleWins) {
  auto namer = kerberos({"RULE:[1:$1]s/^/first-/", "RULE:[1:$1]s/^/second-/"});
  EXPECT_EQ(short_name(namer, "alice@EXAMPLE.COM"), "first-alice");
}

TEST(PrincipalKerberos, SubstitutionReplacesFirstMatchUnlessG) {
  auto once = kerberos({"RULE:[1:$1]s/a/X/"});
  auto all = kerberos({"RULE:[1:$1]s/a/X/g"});
  EXPECT_EQ(short_name(once, "banana@EXAMPLE.COM"), "bXnana");
  EXPECT_EQ(short_name(all, "banana@EXAMPLE.COM"), "bXnXnX");
}

TEST(PrincipalKerberos, SubstitutionUsesJavaGroupReferences) {
  auto namer = kerberos({"RULE:[2:$1;$2](.*)s/(.*);(.*)/$2_$1/"});
  EXPECT_EQ(short_name(namer, "svc/host@EXAMPLE.COM"), "host_svc");
}

TEST(PrincipalKerberos, LowerAndUpperCaseSuffixes) {
  auto lower = kerberos({"RULE:[1:$1]/L"});
  auto upper = kerberos({"RULE:[1:$1]/U"});
  auto lower_after_sub = kerberos({"RULE:[1:$1@$0](.*@EXAMPLE.COM)s/@.*//L"});
  auto lower_after_g = kerberos({"RULE:[1:$1]s/B/b/g/L"});
  EXPECT_EQ(short_name(lower, "Alice@EXAMPLE.COM"), "alice");
  EXPECT_EQ(short_name(upper, "Alice@EXAMPLE.COM"), "ALICE");
  EXPECT_EQ(short_name(lower_after_sub, "Alice@EXAMPLE.COM"), "alice");
  EXPECT_EQ(short_name(lower_after_g, "BoB@EXAMPLE.COM"), "bob");
}

TEST(PrincipalKerberos, LowerCaseFoldsNonAscii) {
  auto namer = kerberos({"RULE:[1:$1]/L"});
  EXPECT_EQ(short_name(namer, "J\xC3\x9CRGEN@EXAMPLE.COM"), "j\xC3\xBCrgen");  // ÜRGEN -> ürgen
}

TEST(PrincipalKerberos, NonSimpleResultEndsTheSearch) {
  // Kafka throws rather than trying the next rule.
  auto namer = kerberos({"RULE:[1:$1@$0]", "DEFAULT"});
  auto result = namer.short_name("alice@EXAMPLE.COM");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error(), PrincipalErrc::kNoMatchingRule);
  EXPECT_EQ(short_name(namer, "alice@EXAMPLE.COM"),
            "error: non-simple name alice@EXAMPLE.COM after auth_to_local rule RULE:[1:$1@$0]");
}

TEST(PrincipalKerberos, EmptyMatchAndReplacementWithJavaEmptyMatchStepping) {
  // Java's replaceAll("x*", "-") gives "-a-b-c-".
  auto namer = kerberos({"RULE:[1:$1]s/x*/-/g"});
  EXPECT_EQ(short_name(namer, "abc@EXAMPLE.COM"), "-a-b-c-");
}

TEST(PrincipalKerberos, GrammarVariantsKafkaAccepts) {
  for (const char* rule : {"RULE:[1:$1]", "RULE:[1:$1]/", "RULE:[1:$1]L", "RULE:[1:$1]()",
                           "RULE:[1:$1]s/a/b/gL", "RULE:[1:$1]s/a/b//U", "RULE:[1:]"}) {
    EXPECT_EQ(kerberos_rule_error({rule}), "accepted") << rule;
  }
}

TEST(PrincipalKerberos, BadRulesAreRefusedNamingTheRule) {
  EXPECT_EQ(kerberos_rule_error({"DEFAULT", "RULE:[1:$1]junk"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `RULE:[1:$1]junk`: "
            "unmatched substring `junk`");
  EXPECT_EQ(kerberos_rule_error({"DEFAULTS"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `DEFAULTS`: "
            "unmatched substring `S`");
  EXPECT_EQ(kerberos_rule_error({""}),
            "sasl.kerberos.principal.to.local.rules: invalid rule ``: "
            "expected DEFAULT or RULE:[n:format]...");
  EXPECT_EQ(kerberos_rule_error({"RULE:1:$1"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `RULE:1:$1`: "
            "expected DEFAULT or RULE:[n:format]...");
  EXPECT_EQ(kerberos_rule_error({"RULE:[:$1]"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `RULE:[:$1]`: "
            "bad component count in `[n:format]`");
  // ')' ends the match regex, so a group inside it leaves text behind.
  EXPECT_EQ(kerberos_rule_error({"RULE:[1:$1](a(b))"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `RULE:[1:$1](a(b))`: "
            "unmatched substring `)`");
  EXPECT_EQ(kerberos_rule_error({"RULE:[1:$1]s/a/b"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `RULE:[1:$1]s/a/b`: "
            "unmatched substring `s/a/b`");
}

TEST(PrincipalKerberos, FormatReferencesAreCheckedAgainstComponentCount) {
  EXPECT_EQ(kerberos_rule_error({"RULE:[1:$2]"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `RULE:[1:$2]`: "
            "`$2` in format `$2` is not $0 (realm) to $1");
  EXPECT_EQ(kerberos_rule_error({"RULE:[2:$1$x]"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `RULE:[2:$1$x]`: "
            "`$` in format `$1$x` is not $0 (realm) to $2");
  EXPECT_EQ(kerberos_rule_error({"RULE:[2:$2$0$1]"}), "accepted");
}

TEST(PrincipalKerberos, BadRegexAndReplacementAreRefused) {
  EXPECT_NE(kerberos_rule_error({"RULE:[1:$1](a[)"}).find("does not compile"), std::string::npos);
  EXPECT_EQ(kerberos_rule_error({"RULE:[1:$1]s/(a)/$2/"}),
            "sasl.kerberos.principal.to.local.rules: invalid rule `RULE:[1:$1]s/(a)/$2/`: "
            "replacement `$2` refers to group 2 but the regex has 1");
  EXPECT_NE(kerberos_rule_error({"RULE:[1:$1]s/a/$x/"}).find("'$' without a group number"),
            std::string::npos);
  EXPECT_NE(kerberos_rule_error({"RULE:[1:$1]s/a/b\\/"}).find("lone '\\'"), std::string::npos);
}

TEST(PrincipalKerberos, TooLongNameIsRefused) {
  auto namer = kerberos({"DEFAULT"});
  auto result = namer.short_name(std::string(kMaxMappedNameBytes + 1, 'a') + "@EXAMPLE.COM");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error(), PrincipalErrc::kNameTooLong);
}

// --- Java regex constructs -------------------------------------------------

TEST(PrincipalRegex, JavaOnlyConstructsAreRefused) {
  for (const char* regex : {"a*+", "a++", "a?+", "a{2}+", "\\Qa.b\\E", "\\p{Lu}", "\\Aabc\\z",
                            "abc\\Z", "\\h", "\\R", "\\v", "\\0", "\\e", "\\x{41}", "[a-z&&[^e]]",
                            "[a[bc]]", "[[:alpha:]]", "[]a]", "[\\b]", "(?<n>a)", "(?i)a",
                            "(?>a)", "(?<=a)b", "[\xC3\xA9]", "\xC3\xA9+"}) {
    const std::string rule = std::string("RULE:") + regex + "/x/";
    EXPECT_NE(ssl_rule_error(rule), "accepted") << regex;
  }
}

TEST(PrincipalRegex, SharedConstructsAreAccepted) {
  for (const char* regex : {"^CN=(.*?),.*$", "\\d+\\s\\w\\S\\D\\W", "(?:a|b)(?=c)(?!d)",
                            "[^,]+", "[a\\]]", "\\x41\\u0042\\cA", "(a)\\1", "\\.\\,\\=\\/",
                            "a{1,3}?b*?c+?", "\\bword\\B", "\xC3\xA9t\xC3\xA9"}) {
    const std::string rule = std::string("RULE:") + regex + "/x/";
    EXPECT_EQ(ssl_rule_error(rule), "accepted") << regex;
  }
}

// --- SSL ---------------------------------------------------------------------

constexpr std::string_view kDocumentedRules =
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,"
    "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,"
    "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,"
    "DEFAULT";

TEST(PrincipalSsl, KafkaDocumentedRules) {
  auto mapper = ssl(kDocumentedRules);
  EXPECT_EQ(mapped(mapper, "CN=kafka-monitoring,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown"),
            "kafka-monitoring");
  EXPECT_EQ(mapped(mapper, "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US"),
            "duke@javasoft");
  EXPECT_EQ(mapped(mapper, "OU=x,CN=Some.Host"), "some.host");
  EXPECT_EQ(mapped(mapper, "OU=only,O=parts"), "OU=only,O=parts");
}

TEST(PrincipalSsl, DefaultKeepsTheDistinguishedName) {
  auto mapper = ssl("DEFAULT");
  EXPECT_EQ(mapped(mapper, "CN=client,OU=eng,O=acme"), "CN=client,OU=eng,O=acme");
}

TEST(PrincipalSsl, NoMatchingRuleIsAnError) {
  auto mapper = ssl("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/");
  auto result = mapper.name("CN=alice,OU=People");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error(), PrincipalErrc::kNoMatchingRule);
  EXPECT_EQ(mapped(mapper, "CN=alice,OU=People"), "error: no rules apply to CN=alice,OU=People");
}

TEST(PrincipalSsl, EmptyListMapsNothing) {
  for (std::string_view rules : {"", "  ", ",", " , "}) {
    auto mapper = ssl(rules);
    EXPECT_EQ(mapper.name("CN=a").error(), PrincipalErrc::kNoMatchingRule) << rules;
  }
}

TEST(PrincipalSsl, RegexMustMatchTheWholeName) {
  auto mapper = ssl("RULE:CN=(\\w+)/$1/,DEFAULT");
  EXPECT_EQ(mapped(mapper, "CN=alice,OU=x"), "CN=alice,OU=x");
  EXPECT_EQ(mapped(mapper, "CN=alice"), "alice");
}

TEST(PrincipalSsl, ReplacementAppliesToEveryMatchLikeReplaceAll) {
  // Kafka checks matches() and then runs replaceAll with the same regex.
  auto mapper = ssl("RULE:CN=(.*?)/$1/");
  EXPECT_EQ(mapped(mapper, "CN=abc"), "abc");
  auto every = ssl("RULE:(\\w)=?/[$1]/");
  EXPECT_EQ(mapped(every, "a="), "[a]");
}

TEST(PrincipalSsl, CaseSuffixes) {
  EXPECT_EQ(mapped(ssl("RULE:^CN=(.*)$/$1/L"), "CN=Alice"), "alice");
  EXPECT_EQ(mapped(ssl("RULE:^CN=(.*)$/$1/U"), "CN=Alice"), "ALICE");
  EXPECT_EQ(mapped(ssl("RULE:^CN=(.*)$/$1/"), "CN=Alice"), "Alice");
  EXPECT_EQ(mapped(ssl("RULE:^CN=(.*)$/$1/L"), "CN=\xC3\x84NGEL"), "\xC3\xA4ngel");
}

TEST(PrincipalSsl, CommasInsideRegexAndReplacementDoNotSplit) {
  auto mapper = ssl("RULE:^CN=([^,]*),OU=(.*)$/$1,$2/ , DEFAULT");
  EXPECT_EQ(mapped(mapper, "CN=a,OU=b"), "a,b");
  EXPECT_EQ(mapped(mapper, "O=x"), "O=x");
}

TEST(PrincipalSsl, EscapedSlashesInRegexAndReplacement) {
  auto mapper = ssl("RULE:^CN=(.*)\\/(.*)$/$1\\/$2\\$/");
  EXPECT_EQ(mapped(mapper, "CN=a/b"), "a/b$");
}

TEST(PrincipalSsl, WhitespaceAndEmptyEntriesAroundRules) {
  auto mapper = ssl("  RULE:^CN=(.*)$/$1/L ,\n ,DEFAULT,  ");
  EXPECT_EQ(mapped(mapper, "CN=Bob"), "bob");
  EXPECT_EQ(mapped(mapper, "O=x"), "O=x");
}

TEST(PrincipalSsl, UnknownGroupReferencesStayLiteralAsKafkaEscapesThem) {
  auto mapper = ssl("RULE:^CN=(.*)$/$1@$4/");
  EXPECT_EQ(mapped(mapper, "CN=a"), "a@$4");
  // "$12" with one group: Kafka trims to $1, Java then reads group 1 and "2".
  EXPECT_EQ(mapped(ssl("RULE:^CN=(.*)$/$12/"), "CN=a"), "a2");
  EXPECT_EQ(mapped(ssl("RULE:^CN=(.*)$/$0!/"), "CN=a"), "CN=a!");
  EXPECT_EQ(mapped(ssl("RULE:^CN=(.*)$/$1 and $45/"), "CN=a"), "a and $45");
}

TEST(PrincipalSsl, UnmatchedOptionalGroupAppendsNothing) {
  auto mapper = ssl("RULE:^CN=(a)?(.*)$/[$1][$2]/");
  EXPECT_EQ(mapped(mapper, "CN=bc"), "[][bc]");
}

TEST(PrincipalSsl, BadRulesAreRefusedNamingTheRule) {
  EXPECT_EQ(ssl_rule_error("RULE:^CN=(.*)$/$1/X,DEFAULT"),
            "ssl.principal.mapping.rules: invalid rule `RULE:^CN=(.*)$/$1/X`: "
            "unmatched substring `X`");
  EXPECT_EQ(ssl_rule_error("DEFAULT,FOO"),
            "ssl.principal.mapping.rules: invalid rule `FOO`: "
            "expected DEFAULT or RULE:regex/replacement/[L|U]");
  EXPECT_EQ(ssl_rule_error("DEFAULTX"),
            "ssl.principal.mapping.rules: invalid rule `DEFAULTX`: unmatched substring `X`");
  // Missing the closing '/': the entry runs only to the first comma.
  EXPECT_EQ(ssl_rule_error("RULE:^CN=(.*?),OU=x$/$1,DEFAULT"),
            "ssl.principal.mapping.rules: invalid rule `RULE:^CN=(.*?)`: "
            "expected DEFAULT or RULE:regex/replacement/[L|U]");
  EXPECT_EQ(ssl_rule_error("RULE:a/b/c/d/"),
            "ssl.principal.mapping.rules: invalid rule `RULE:a/b/c/d/`: "
            "unmatched substring `c/d/`");
  EXPECT_NE(ssl_rule_error("RULE:^CN=(.*$/$1/").find("does not compile"), std::string::npos);
  EXPECT_NE(ssl_rule_error("RULE:^CN=.*$/$1/").find("refers to group 1 but the regex has 0"),
            std::string::npos);
  EXPECT_NE(ssl_rule_error("RULE:^CN=(.*)$/$/").find("'$' without a group number"),
            std::string::npos);
  EXPECT_NE(ssl_rule_error("RULE:^CN=(.*)$/${name}/").find("'$' without a group number"),
            std::string::npos);
  EXPECT_NE(ssl_rule_error("RULE:^CN=(.*)\n$/$1/").find("line break"), std::string::npos);
}

TEST(PrincipalSsl, LongDistinguishedNamesWithinTheLimitMap) {
  auto mapper = ssl("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/");
  const std::string cn(kMaxMappedNameBytes - 40, 'x');
  EXPECT_EQ(mapped(mapper, "CN=" + cn + ",OU=ServiceUsers,O=o"), cn);
  EXPECT_EQ(mapper.name(std::string(kMaxMappedNameBytes + 1, 'x')).error(),
            PrincipalErrc::kNameTooLong);
}

// --- X.509 subject as Java prints it ----------------------------------------

struct NameDeleter {
  void operator()(X509_NAME* n) const { X509_NAME_free(n); }
};
using NamePtr = std::unique_ptr<X509_NAME, NameDeleter>;

struct Ava {
  const char* field;
  std::string value;
  int set = 0;  // 0 starts an RDN, -1 joins the previous one
};

// AVAs in certificate order (most general first).
NamePtr make_name(const std::vector<Ava>& avas) {
  NamePtr name(X509_NAME_new());
  for (const Ava& a : avas) {
    EXPECT_EQ(X509_NAME_add_entry_by_txt(name.get(), a.field, MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(a.value.data()),
                                         static_cast<int>(a.value.size()), -1, a.set),
              1)
        << a.field;
  }
  return name;
}

TEST(PrincipalRfc2253, ReversesOrderAndEscapesLikeJava) {
  auto name = make_name({{"C", "US"}, {"O", "Acme, Inc."}, {"OU", "eng+ops"}, {"CN", "client"}});
  EXPECT_EQ(java_rfc2253_name(name.get()), "CN=client,OU=eng\\+ops,O=Acme\\, Inc.,C=US");
}

TEST(PrincipalRfc2253, EscapesEqualsHashQuotesAndEdgeSpaces) {
  auto name = make_name({{"CN", " lead#"}, {"OU", "#hash"}, {"O", "trail  "},
                         {"L", "a\"b\\c<d>e;f=g"}});
  EXPECT_EQ(java_rfc2253_name(name.get()),
            "L=a\\\"b\\\\c\\<d\\>e\\;f\\=g,O=trail\\ \\ ,OU=\\#hash,CN=\\ lead\\#");
}

TEST(PrincipalRfc2253, LeavesOtherPunctuationAndUtf8AsIs) {
  auto name = make_name({{"CN", "!$%&'()*/:?@[]^_`{|}~-.\tJ\xC3\xBCrgen"}});
  EXPECT_EQ(java_rfc2253_name(name.get()), "CN=!$%&'()*/:?@[]^_`{|}~-.\tJ\xC3\xBCrgen");
}

TEST(PrincipalRfc2253, NulAndCarriageReturns) {
  auto name = make_name({{"CN", std::string("a\0b\rc\r", 6)}, {"OU", "   "}});
  EXPECT_EQ(java_rfc2253_name(name.get()), "OU=\\ \\ \\ ,CN=a\\00b\rc\\\r");
}

TEST(PrincipalRfc2253, AttributesWithoutJavaKeywordAreOidAndHex) {
  auto name = make_name({{"CN", "client"}, {"emailAddress", "a@b.c"}, {"serialNumber", "42"},
                         {"title", "boss"}});
  EXPECT_EQ(java_rfc2253_name(name.get()),
            "2.5.4.12=#0c04626f7373,2.5.4.5=#13023432,1.2.840.113549.1.9.1=#16056140622e63,"
            "CN=client");
}

TEST(PrincipalRfc2253, AllJavaKeywords) {
  auto name = make_name({{"DC", "com"}, {"DC", "example"}, {"UID", "jdoe"}, {"CN", "x"},
                         {"OU", "y"}, {"street", "1 Main St"}, {"ST", "CA"}, {"L", "SF"},
                         {"O", "o"}, {"C", "US"}});
  EXPECT_EQ(java_rfc2253_name(name.get()),
            "C=US,O=o,L=SF,ST=CA,STREET=1 Main St,OU=y,CN=x,UID=jdoe,DC=example,DC=com");
}

TEST(PrincipalRfc2253, MultiValuedRdnKeepsEncodedOrder) {
  auto name = make_name({{"O", "org"}, {"CN", "one"}, {"UID", "two", -1}});
  EXPECT_EQ(java_rfc2253_name(name.get()), "CN=one+UID=two,O=org");
}

TEST(PrincipalRfc2253, EmptyNameIsEmpty) {
  NamePtr name(X509_NAME_new());
  EXPECT_EQ(java_rfc2253_name(name.get()), "");
}

TEST(PrincipalRfc2253, FeedsTheSslRules) {
  auto name = make_name({{"C", "US"}, {"ST", "CA"}, {"L", "Santa Clara"}, {"O", "Sun Microsystems"},
                         {"OU", "JavaSoft"}, {"CN", "Duke"}});
  EXPECT_EQ(mapped(ssl(kDocumentedRules), java_rfc2253_name(name.get())), "duke@javasoft");
}

}  // namespace
}  // namespace keel::security
