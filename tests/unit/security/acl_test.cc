// Kafka's ACL model: codes and text forms, filters of DescribeAcls and
// DeleteAcls, CreateAcls' checks, the authorizer's decision (each rule of
// docs/security.md §1.2 with a case that breaks if the rule does), and the
// ZooKeeper form Kafka's tools read and write (§1.6).

#include "security/acl.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <tuple>


namespace keel::security {
namespace {

using Op = AclOperation;
using Perm = AclPermissionType;
using RT = ResourceType;
using PT = PatternType;

AclBinding binding(RT type, std::string name, PT pt, std::string principal, Op op, Perm perm,
                   std::string host = "*") {
  return AclBinding{{type, std::move(name), pt}, {std::move(principal), std::move(host), op, perm}};
}
AclBinding allow(RT type, std::string name, PT pt, std::string principal, Op op, std::string host = "*") {
  return binding(type, std::move(name), pt, std::move(principal), op, Perm::kAllow, std::move(host));
}
AclBinding deny(RT type, std::string name, PT pt, std::string principal, Op op, std::string host = "*") {
  return binding(type, std::move(name), pt, std::move(principal), op, Perm::kDeny, std::move(host));
}

constexpr const char* kAlice = "User:alice";
constexpr const char* kBob = "User:bob";
constexpr const char* kHost = "10.0.0.1";

// --- enumerations ------------------------------------------------------------------

TEST(AclEnums, WireCodesAreKafkas) {
  EXPECT_EQ(static_cast<int>(RT::kAny), 1);
  EXPECT_EQ(static_cast<int>(RT::kTopic), 2);
  EXPECT_EQ(static_cast<int>(RT::kCluster), 4);
  EXPECT_EQ(static_cast<int>(RT::kTransactionalId), 5);
  EXPECT_EQ(static_cast<int>(RT::kUser), 7);
  EXPECT_EQ(static_cast<int>(PT::kMatch), 2);
  EXPECT_EQ(static_cast<int>(PT::kLiteral), 3);
  EXPECT_EQ(static_cast<int>(PT::kPrefixed), 4);
  EXPECT_EQ(static_cast<int>(Op::kAll), 2);
  EXPECT_EQ(static_cast<int>(Op::kDescribe), 8);
  EXPECT_EQ(static_cast<int>(Op::kIdempotentWrite), 12);
  EXPECT_EQ(static_cast<int>(Op::kDescribeTokens), 14);
  EXPECT_EQ(static_cast<int>(Perm::kDeny), 2);
  EXPECT_EQ(static_cast<int>(Perm::kAllow), 3);
}

TEST(AclEnums, FromCodeMapsEveryKnownCodeAndUnknownCodesToUnknown) {
  for (int8_t c = 0; c <= 7; ++c) EXPECT_EQ(static_cast<int8_t>(resource_type_from_code(c)), c);
  for (int8_t c = 0; c <= 4; ++c) EXPECT_EQ(static_cast<int8_t>(pattern_type_from_code(c)), c);
  for (int8_t c = 0; c <= 14; ++c) EXPECT_EQ(static_cast<int8_t>(operation_from_code(c)), c);
  for (int8_t c = 0; c <= 3; ++c) EXPECT_EQ(static_cast<int8_t>(permission_type_from_code(c)), c);
  EXPECT_EQ(resource_type_from_code(8), RT::kUnknown);
  EXPECT_EQ(resource_type_from_code(-1), RT::kUnknown);
  EXPECT_EQ(pattern_type_from_code(5), PT::kUnknown);
  EXPECT_EQ(operation_from_code(15), Op::kUnknown);
  EXPECT_EQ(operation_from_code(127), Op::kUnknown);
  EXPECT_EQ(permission_type_from_code(4), Perm::kUnknown);
}

TEST(AclEnums, TextFormsArePascalCaseAsKafkaWritesThem) {
  EXPECT_EQ(to_string(RT::kTopic), "Topic");
  EXPECT_EQ(to_string(RT::kTransactionalId), "TransactionalId");
  EXPECT_EQ(to_string(RT::kDelegationToken), "DelegationToken");
  EXPECT_EQ(to_string(RT::kCluster), "Cluster");
  EXPECT_EQ(to_string(Op::kDescribeConfigs), "DescribeConfigs");
  EXPECT_EQ(to_string(Op::kClusterAction), "ClusterAction");
  EXPECT_EQ(to_string(Op::kIdempotentWrite), "IdempotentWrite");
  EXPECT_EQ(to_string(Op::kAll), "All");
  EXPECT_EQ(to_string(Perm::kAllow), "Allow");
  EXPECT_EQ(to_string(Perm::kDeny), "Deny");
  EXPECT_EQ(to_string(PT::kPrefixed), "PREFIXED");
  EXPECT_EQ(enum_name(RT::kTransactionalId), "TRANSACTIONAL_ID");
  EXPECT_EQ(enum_name(RT::kTopic), "TOPIC");
}

TEST(AclEnums, ParsersTakeEveryFormAKafkaReaderTakes) {
  // SecurityUtils: PascalCase, or its upper-cased form.
  EXPECT_EQ(parse_resource_type("TransactionalId"), RT::kTransactionalId);
  EXPECT_EQ(parse_resource_type("TRANSACTIONALID"), RT::kTransactionalId);
  EXPECT_EQ(parse_resource_type("topic"), RT::kTopic);
  // ResourceType.fromString: the enum name in any case.
  EXPECT_EQ(parse_resource_type("TRANSACTIONAL_ID"), RT::kTransactionalId);
  EXPECT_EQ(parse_resource_type("delegation_token"), RT::kDelegationToken);
  EXPECT_EQ(parse_operation("DescribeConfigs"), Op::kDescribeConfigs);
  EXPECT_EQ(parse_operation("DESCRIBE_CONFIGS"), Op::kDescribeConfigs);
  EXPECT_EQ(parse_operation("DESCRIBECONFIGS"), Op::kDescribeConfigs);
  EXPECT_EQ(parse_operation("READ"), Op::kRead);
  EXPECT_EQ(parse_permission_type("ALLOW"), Perm::kAllow);
  EXPECT_EQ(parse_permission_type("deny"), Perm::kDeny);
  EXPECT_EQ(parse_pattern_type("prefixed"), PT::kPrefixed);
  EXPECT_EQ(parse_pattern_type("LITERAL"), PT::kLiteral);
}

TEST(AclEnums, ParsersReturnUnknownForAnythingElse) {
  EXPECT_EQ(parse_resource_type("Topics"), RT::kUnknown);
  EXPECT_EQ(parse_resource_type(""), RT::kUnknown);
  EXPECT_EQ(parse_resource_type("Transactional_Id_"), RT::kUnknown);
  EXPECT_EQ(parse_operation("Describe Configs"), Op::kUnknown);
  EXPECT_EQ(parse_operation("DESCRIBE-CONFIGS"), Op::kUnknown);
  EXPECT_EQ(parse_permission_type("Permit"), Perm::kUnknown);
  EXPECT_EQ(parse_pattern_type("Prefix"), PT::kUnknown);
}

TEST(AclEnums, TextFormsRoundTripForEveryValue) {
  for (int8_t c = 0; c <= 7; ++c) {
    auto t = resource_type_from_code(c);
    EXPECT_EQ(parse_resource_type(to_string(t)), t);
    EXPECT_EQ(parse_resource_type(enum_name(t)), t);
  }
  for (int8_t c = 0; c <= 14; ++c) EXPECT_EQ(parse_operation(to_string(operation_from_code(c))), operation_from_code(c));
  for (int8_t c = 0; c <= 3; ++c)
    EXPECT_EQ(parse_permission_type(to_string(permission_type_from_code(c))), permission_type_from_code(c));
  for (int8_t c = 0; c <= 4; ++c) EXPECT_EQ(parse_pattern_type(to_string(pattern_type_from_code(c))), pattern_type_from_code(c));
}

TEST(AclEnums, SupportedOperationsFollowKafkasTable) {
  auto has = [](RT t, Op op) {
    auto ops = supported_operations(t);
    return std::find(ops.begin(), ops.end(), op) != ops.end();
  };
  EXPECT_EQ(supported_operations(RT::kTopic).size(), 8u);
  EXPECT_TRUE(has(RT::kTopic, Op::kAlterConfigs));
  EXPECT_FALSE(has(RT::kTopic, Op::kClusterAction));
  EXPECT_EQ(supported_operations(RT::kGroup).size(), 3u);
  EXPECT_TRUE(has(RT::kCluster, Op::kIdempotentWrite));
  EXPECT_TRUE(has(RT::kTransactionalId, Op::kWrite));
  EXPECT_TRUE(has(RT::kUser, Op::kCreateTokens));
  EXPECT_TRUE(supported_operations(RT::kAny).empty());
}

TEST(AclEnums, PrincipalSplitsAtTheFirstColon) {
  auto p = split_principal("User:CN=a,O=x:y");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, "User");
  EXPECT_EQ(p->name, "CN=a,O=x:y");
  EXPECT_TRUE(split_principal("User:"));
  EXPECT_FALSE(split_principal("alice"));
  EXPECT_FALSE(split_principal(""));
}

// --- filters -------------------------------------------------------------------------

ResourcePattern lit(std::string name, RT t = RT::kTopic) { return {t, std::move(name), PT::kLiteral}; }
ResourcePattern pre(std::string name, RT t = RT::kTopic) { return {t, std::move(name), PT::kPrefixed}; }

TEST(AclFilter, NullNameMatchesAnyNameOfTheType) {
  ResourcePatternFilter f{RT::kTopic, std::nullopt, PT::kAny};
  EXPECT_TRUE(f.matches(lit("a")));
  EXPECT_TRUE(f.matches(pre("b")));
  EXPECT_FALSE(f.matches(lit("a", RT::kGroup)));
  ResourcePatternFilter any_type{RT::kAny, std::nullopt, PT::kAny};
  EXPECT_TRUE(any_type.matches(lit("g", RT::kGroup)));
}

TEST(AclFilter, AnyPatternTypeWantsTheNameEqual) {
  ResourcePatternFilter f{RT::kTopic, "orders", PT::kAny};
  EXPECT_TRUE(f.matches(lit("orders")));
  EXPECT_TRUE(f.matches(pre("orders")));
  EXPECT_FALSE(f.matches(pre("ord")));
  EXPECT_FALSE(f.matches(lit("*")));
}

TEST(AclFilter, LiteralAndPrefixedWantThatTypeAndTheNameEqual) {
  ResourcePatternFilter literal{RT::kTopic, "orders", PT::kLiteral};
  EXPECT_TRUE(literal.matches(lit("orders")));
  EXPECT_FALSE(literal.matches(pre("orders")));
  EXPECT_FALSE(literal.matches(lit("*"))) << "a LITERAL filter is not MATCH: the wildcard is just another name";
  ResourcePatternFilter prefixed{RT::kTopic, "ord", PT::kPrefixed};
  EXPECT_TRUE(prefixed.matches(pre("ord")));
  EXPECT_FALSE(prefixed.matches(pre("or")));
  EXPECT_FALSE(prefixed.matches(lit("ord")));
  ResourcePatternFilter wildcard{RT::kTopic, "*", PT::kLiteral};
  EXPECT_TRUE(wildcard.matches(lit("*")));
  EXPECT_FALSE(wildcard.matches(lit("orders"))) << "a filter on '*' finds only wildcard patterns";
}

TEST(AclFilter, MatchFindsEveryPatternThatAppliesToTheName) {
  ResourcePatternFilter f{RT::kTopic, "orders", PT::kMatch};
  EXPECT_TRUE(f.matches(lit("orders")));
  EXPECT_TRUE(f.matches(lit("*")));
  EXPECT_TRUE(f.matches(pre("o")));
  EXPECT_TRUE(f.matches(pre("orders")));
  EXPECT_FALSE(f.matches(pre("ordersx")));
  EXPECT_FALSE(f.matches(pre("*"))) << "a PREFIXED '*' is no wildcard";
  EXPECT_FALSE(f.matches(lit("order")));
  EXPECT_FALSE(f.matches(lit("orders", RT::kGroup)));
}

TEST(AclFilter, EntryFilterNullsAndAnyMatchEverythingElseIsEquality) {
  AccessControlEntry e{kAlice, kHost, Op::kRead, Perm::kAllow};
  EXPECT_TRUE(AccessControlEntryFilter{}.matches(e));
  EXPECT_TRUE((AccessControlEntryFilter{kAlice, kHost, Op::kRead, Perm::kAllow}.matches(e)));
  EXPECT_FALSE((AccessControlEntryFilter{kBob, std::nullopt, Op::kAny, Perm::kAny}.matches(e)));
  EXPECT_FALSE((AccessControlEntryFilter{std::nullopt, "*", Op::kAny, Perm::kAny}.matches(e)))
      << "host '*' in a filter is the literal text, not a wildcard";
  EXPECT_FALSE((AccessControlEntryFilter{"User:*", std::nullopt, Op::kAny, Perm::kAny}.matches(e)));
  EXPECT_FALSE((AccessControlEntryFilter{std::nullopt, std::nullopt, Op::kAll, Perm::kAny}.matches(e)))
      << "ALL in a filter finds ALL entries, it is not ANY";
  EXPECT_FALSE((AccessControlEntryFilter{std::nullopt, std::nullopt, Op::kAny, Perm::kDeny}.matches(e)));
}

TEST(AclFilter, UnknownElementsMakeTheFilterInvalid) {
  EXPECT_FALSE(validate_filter(AclBindingFilter{}));
  AclBindingFilter f;
  f.pattern.type = RT::kUnknown;
  EXPECT_TRUE(validate_filter(f));
  f = {};
  f.pattern.pattern_type = PT::kUnknown;
  EXPECT_TRUE(validate_filter(f));
  f = {};
  f.entry.operation = Op::kUnknown;
  EXPECT_TRUE(validate_filter(f));
  f = {};
  f.entry.permission = Perm::kUnknown;
  EXPECT_TRUE(validate_filter(f));
}

// --- CreateAcls validation ---------------------------------------------------------------

TEST(AclValidate, AGoodBindingPasses) {
  EXPECT_FALSE(validate_for_create(allow(RT::kTopic, "orders", PT::kLiteral, kAlice, Op::kRead)));
  EXPECT_FALSE(validate_for_create(allow(RT::kTopic, "*", PT::kLiteral, "User:*", Op::kAll)));
  EXPECT_FALSE(validate_for_create(deny(RT::kGroup, "g", PT::kPrefixed, kAlice, Op::kRead, kHost)));
  EXPECT_FALSE(validate_for_create(allow(RT::kCluster, "kafka-cluster", PT::kLiteral, kAlice, Op::kClusterAction)));
  EXPECT_FALSE(validate_for_create(allow(RT::kUser, "bob", PT::kLiteral, kAlice, Op::kCreateTokens)));
  EXPECT_FALSE(validate_for_create(allow(RT::kTopic, "*", PT::kPrefixed, kAlice, Op::kRead)))
      << "Kafka accepts a PREFIXED '*' (a plain prefix)";
}

TEST(AclValidate, ClusterNameMustBeKafkaCluster) {
  auto why = validate_for_create(allow(RT::kCluster, "my-cluster", PT::kLiteral, kAlice, Op::kAlter));
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "The only valid name for the CLUSTER resource is kafka-cluster");
  EXPECT_TRUE(validate_for_create(allow(RT::kCluster, "*", PT::kLiteral, kAlice, Op::kAlter)));
}

TEST(AclValidate, EmptyNameIsRefused) {
  auto why = validate_for_create(allow(RT::kTopic, "", PT::kLiteral, kAlice, Op::kRead));
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "Invalid empty resource name");
}

TEST(AclValidate, FilterOnlyAndUnknownValuesAreRefused) {
  EXPECT_TRUE(validate_for_create(allow(RT::kAny, "t", PT::kLiteral, kAlice, Op::kRead)));
  EXPECT_TRUE(validate_for_create(allow(RT::kUnknown, "t", PT::kLiteral, kAlice, Op::kRead)));
  EXPECT_TRUE(validate_for_create(allow(RT::kTopic, "t", PT::kAny, kAlice, Op::kRead)));
  EXPECT_TRUE(validate_for_create(allow(RT::kTopic, "t", PT::kMatch, kAlice, Op::kRead)));
  EXPECT_TRUE(validate_for_create(allow(RT::kTopic, "t", PT::kUnknown, kAlice, Op::kRead)));
  EXPECT_TRUE(validate_for_create(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kAny)));
  EXPECT_TRUE(validate_for_create(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kUnknown)));
  EXPECT_TRUE(validate_for_create(binding(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead, Perm::kAny)));
  EXPECT_TRUE(validate_for_create(binding(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead, Perm::kUnknown)));
}

TEST(AclValidate, PrincipalMustBeTypeColonName) {
  auto why = validate_for_create(allow(RT::kTopic, "t", PT::kLiteral, "alice", Op::kRead));
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("principalType:principalName"), std::string::npos);
  EXPECT_TRUE(validate_for_create(allow(RT::kTopic, "t", PT::kLiteral, "", Op::kRead)));
}

TEST(AclValidate, SlashInTheNameIsRefusedBecauseItWouldNestTheZnode) {
  EXPECT_TRUE(validate_for_create(allow(RT::kGroup, "a/b", PT::kLiteral, kAlice, Op::kRead)));
  EXPECT_TRUE(validate_for_create(allow(RT::kTransactionalId, "tx/", PT::kPrefixed, kAlice, Op::kWrite)));
}

// --- super.users ---------------------------------------------------------------------------

TEST(AclSuperUsers, SemicolonSeparatedAndTrimmed) {
  auto su = parse_super_users("User:Bob; User:CN=admin,O=x ;User:svc");
  ASSERT_TRUE(su);
  EXPECT_EQ(*su, (std::vector<std::string>{"User:Bob", "User:CN=admin,O=x", "User:svc"}));
  auto empty = parse_super_users("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  auto trailing = parse_super_users("User:a;");
  ASSERT_TRUE(trailing);
  EXPECT_EQ(trailing->size(), 1u);
}

TEST(AclSuperUsers, AnEntryWithoutATypeIsAnError) {
  std::string why;
  EXPECT_FALSE(parse_super_users("User:a;bob", &why));
  EXPECT_NE(why.find("bob"), std::string::npos);
  EXPECT_FALSE(parse_super_users("User:a;;User:b")) << "an empty entry in the middle, as in Kafka";
  EXPECT_EQ(parse_super_users("nope").error(), make_error_code(AclErrc::kMalformed));
}

TEST(AclSuperUsers, SuperUsersAreAllowedEverythingEvenAgainstDeny) {
  AclAuthorizer a({{"User:admin"}, false});
  a.add(deny(RT::kTopic, "*", PT::kLiteral, "User:*", Op::kAll));
  EXPECT_TRUE(a.is_super_user("User:admin"));
  EXPECT_TRUE(a.authorize("User:admin", kHost, Op::kWrite, RT::kTopic, "t"));
  EXPECT_TRUE(a.authorize("User:admin", kHost, Op::kClusterAction, RT::kCluster, "kafka-cluster"));
  EXPECT_TRUE(a.authorize_by_resource_type("User:admin", kHost, Op::kWrite, RT::kTopic));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kWrite, RT::kTopic, "t"));
}

TEST(AclSuperUsers, PrincipalTypeIsCaseSensitive) {
  AclAuthorizer a({{"User:admin"}, false});
  EXPECT_FALSE(a.is_super_user("user:admin"));
  EXPECT_FALSE(a.is_super_user("User:Admin"));
  EXPECT_FALSE(a.authorize("user:admin", kHost, Op::kRead, RT::kTopic, "t"));
}

// --- authorize -------------------------------------------------------------------------------

TEST(AclAuthorizer, NoAclsDeniesByDefault) {
  AclAuthorizer a;
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
}

TEST(AclAuthorizer, NoAclsAllowsWhenAllowEveryoneIfNoAclFound) {
  AclAuthorizer a({{}, true});
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
  a.add(allow(RT::kTopic, "other", PT::kLiteral, kBob, Op::kRead));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t")) << "ACLs on another resource do not count";
  a.add(allow(RT::kGroup, "t", PT::kLiteral, kBob, Op::kRead));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t")) << "nor on a same-named resource of another type";
}

TEST(AclAuthorizer, AnAclForSomeoneElseDisablesAllowEveryone) {
  AclAuthorizer a({{}, true});
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kBob, Op::kRead));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
  EXPECT_TRUE(a.authorize(kBob, kHost, Op::kRead, RT::kTopic, "t"));
  EXPECT_FALSE(a.authorize(kBob, kHost, Op::kWrite, RT::kTopic, "t")) << "an ACL for another operation also counts";
}

TEST(AclAuthorizer, PrefixedAndWildcardAclsAlsoDisableAllowEveryone) {
  AclAuthorizer prefixed({{}, true});
  prefixed.add(allow(RT::kTopic, "or", PT::kPrefixed, kBob, Op::kRead));
  EXPECT_FALSE(prefixed.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "orders"));
  EXPECT_TRUE(prefixed.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "payments"));
  AclAuthorizer wildcard({{}, true});
  wildcard.add(allow(RT::kTopic, "*", PT::kLiteral, kBob, Op::kRead));
  EXPECT_FALSE(wildcard.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "anything"));
}

TEST(AclAuthorizer, LiteralAllowGrantsOnlyThatName) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "orders", PT::kLiteral, kAlice, Op::kRead));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "orders"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "orders2"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "order"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kGroup, "orders"));
  EXPECT_FALSE(a.authorize(kBob, kHost, Op::kRead, RT::kTopic, "orders"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kWrite, RT::kTopic, "orders"));
}

TEST(AclAuthorizer, LiteralWildcardAppliesToEveryNameOfTheType) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "*", PT::kLiteral, kAlice, Op::kRead));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "x"));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "*"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kGroup, "x"));
}

TEST(AclAuthorizer, PrefixedAppliesToNamesStartingWithIt) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "fin-", PT::kPrefixed, kAlice, Op::kWrite));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kWrite, RT::kTopic, "fin-"));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kWrite, RT::kTopic, "fin-ledger"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kWrite, RT::kTopic, "fin"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kWrite, RT::kTopic, "xfin-ledger"));
}

TEST(AclAuthorizer, OneCharacterPrefixWorks) {  // KAFKA-7702
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "f", PT::kPrefixed, kAlice, Op::kRead));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "f"));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "foo"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "bar"));
}

TEST(AclAuthorizer, PrefixedStarIsNotAWildcard) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "*", PT::kPrefixed, kAlice, Op::kRead));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "orders"));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "*orders"));
}

TEST(AclAuthorizer, ManyPrefixesOfDifferentLengthsAllApply) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "a", PT::kPrefixed, kAlice, Op::kRead));
  a.add(allow(RT::kTopic, "ab", PT::kPrefixed, kBob, Op::kRead));
  a.add(deny(RT::kTopic, "abc", PT::kPrefixed, kAlice, Op::kRead));
  a.add(allow(RT::kTopic, "abcdefgh", PT::kPrefixed, kBob, Op::kWrite));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "ab-topic"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "abc-topic")) << "the longer DENY prefix applies";
  EXPECT_TRUE(a.authorize(kBob, kHost, Op::kRead, RT::kTopic, "abc-topic"));
  EXPECT_FALSE(a.authorize(kBob, kHost, Op::kWrite, RT::kTopic, "abcdefg"));
  EXPECT_TRUE(a.authorize(kBob, kHost, Op::kWrite, RT::kTopic, "abcdefgh"));
}

TEST(AclAuthorizer, DenyBeatsAllow) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
}

TEST(AclAuthorizer, DenyFromAnyApplicablePatternBeatsAllowFromAnother) {
  AclAuthorizer wildcard_deny;
  wildcard_deny.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead));
  wildcard_deny.add(deny(RT::kTopic, "*", PT::kLiteral, kAlice, Op::kRead));
  EXPECT_FALSE(wildcard_deny.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));

  AclAuthorizer prefix_deny;
  prefix_deny.add(allow(RT::kTopic, "*", PT::kLiteral, kAlice, Op::kRead));
  prefix_deny.add(deny(RT::kTopic, "secret-", PT::kPrefixed, kAlice, Op::kRead));
  EXPECT_FALSE(prefix_deny.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "secret-plans"));
  EXPECT_TRUE(prefix_deny.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "public"));
}

TEST(AclAuthorizer, DenyAllCoversEveryOperation) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kAll));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kAll));
  for (Op op : {Op::kRead, Op::kWrite, Op::kDescribe, Op::kAlterConfigs, Op::kDelete})
    EXPECT_FALSE(a.authorize(kAlice, kHost, op, RT::kTopic, "t")) << to_string(op);
}

TEST(AclAuthorizer, DenyOfAnotherOperationDoesNotDeny) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kWrite, RT::kTopic, "t"));
}

TEST(AclAuthorizer, ImplicationNeverAppliesToDeny) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kDescribe));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kDescribe, RT::kTopic, "t"))
      << "a DENY READ does not deny DESCRIBE, though an ALLOW READ grants it";
  AclAuthorizer configs;
  configs.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kDescribeConfigs));
  configs.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kAlterConfigs));
  EXPECT_TRUE(configs.authorize(kAlice, kHost, Op::kDescribeConfigs, RT::kTopic, "t"));
}

TEST(AclAuthorizer, ReadWriteDeleteAlterImplyDescribe) {
  for (Op granted : {Op::kRead, Op::kWrite, Op::kDelete, Op::kAlter}) {
    AclAuthorizer a;
    a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, granted));
    EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kDescribe, RT::kTopic, "t")) << to_string(granted);
  }
  for (Op granted : {Op::kCreate, Op::kAlterConfigs, Op::kDescribeConfigs, Op::kClusterAction, Op::kIdempotentWrite}) {
    AclAuthorizer a;
    a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, granted));
    EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kDescribe, RT::kTopic, "t")) << to_string(granted);
  }
}

TEST(AclAuthorizer, AlterConfigsImpliesDescribeConfigsOnly) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kAlterConfigs));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kDescribeConfigs, RT::kTopic, "t"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kDescribe, RT::kTopic, "t"));
  AclAuthorizer b;
  b.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kDescribe));
  EXPECT_FALSE(b.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t")) << "implication runs one way only";
  AclAuthorizer c;
  c.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kAlter));
  EXPECT_FALSE(c.authorize(kAlice, kHost, Op::kDescribeConfigs, RT::kTopic, "t"));
}

TEST(AclAuthorizer, AllowAllCoversEveryOperation) {
  AclAuthorizer a;
  a.add(allow(RT::kCluster, "kafka-cluster", PT::kLiteral, kAlice, Op::kAll));
  for (Op op : supported_operations(RT::kCluster))
    EXPECT_TRUE(a.authorize(kAlice, kHost, op, RT::kCluster, "kafka-cluster")) << to_string(op);
}

TEST(AclAuthorizer, WildcardPrincipalMatchesEveryone) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, "User:*", Op::kRead));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
  EXPECT_TRUE(a.authorize("User:CN=x,O=y", kHost, Op::kRead, RT::kTopic, "t"));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, "User:*", Op::kRead, "10.9.9.9"));
  EXPECT_FALSE(a.authorize(kBob, "10.9.9.9", Op::kRead, RT::kTopic, "t"));
  EXPECT_TRUE(a.authorize(kBob, kHost, Op::kRead, RT::kTopic, "t"));
}

TEST(AclAuthorizer, PrincipalMustMatchExactly) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead));
  EXPECT_FALSE(a.authorize("User:Alice", kHost, Op::kRead, RT::kTopic, "t"));
  EXPECT_FALSE(a.authorize("Group:alice", kHost, Op::kRead, RT::kTopic, "t"));
  EXPECT_FALSE(a.authorize("User:alice2", kHost, Op::kRead, RT::kTopic, "t"));
}

TEST(AclAuthorizer, HostMatchesExactlyOrByWildcard) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead, "10.0.0.1"));
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite, "0:0:0:0:0:0:0:1"));
  EXPECT_TRUE(a.authorize(kAlice, "10.0.0.1", Op::kRead, RT::kTopic, "t"));
  EXPECT_FALSE(a.authorize(kAlice, "10.0.0.2", Op::kRead, RT::kTopic, "t"));
  EXPECT_FALSE(a.authorize(kAlice, "10.0.0.10", Op::kRead, RT::kTopic, "t"));
  EXPECT_TRUE(a.authorize(kAlice, "0:0:0:0:0:0:0:1", Op::kWrite, RT::kTopic, "t"));
  EXPECT_FALSE(a.authorize(kAlice, "::1", Op::kWrite, RT::kTopic, "t")) << "host texts are compared, not addresses";
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kDelete));
  EXPECT_TRUE(a.authorize(kAlice, "192.168.1.1", Op::kDelete, RT::kTopic, "t"));
}

TEST(AclAuthorizer, DenyFromOneHostOnly) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead, "10.6.6.6"));
  EXPECT_FALSE(a.authorize(kAlice, "10.6.6.6", Op::kRead, RT::kTopic, "t"));
  EXPECT_TRUE(a.authorize(kAlice, "10.0.0.1", Op::kRead, RT::kTopic, "t"));
}

TEST(AclAuthorizer, EntriesOfUnknownOperationNeverGrantButStillCountAsAcls) {
  AclAuthorizer a({{}, true});
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kUnknown));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
}

TEST(AclAuthorizer, AddRemoveAndDuplicates) {
  AclAuthorizer a;
  auto b = allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead);
  EXPECT_TRUE(a.add(b));
  EXPECT_FALSE(a.add(b));
  EXPECT_EQ(a.size(), 1u);
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
  EXPECT_TRUE(a.remove(b));
  EXPECT_FALSE(a.remove(b));
  EXPECT_EQ(a.size(), 0u);
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
}

TEST(AclAuthorizer, RemovingThePrefixedPatternStopsItApplying) {
  AclAuthorizer a;
  auto b = allow(RT::kTopic, "ab", PT::kPrefixed, kAlice, Op::kRead);
  a.add(b);
  a.add(allow(RT::kTopic, "xy", PT::kPrefixed, kAlice, Op::kRead));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "abc"));
  a.remove(b);
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "abc"));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "xyz")) << "the other pattern of that length stays";
}

TEST(AclAuthorizer, SetAclsReplacesOnePatternAndEmptyRemovesIt) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kRead));
  a.add(allow(RT::kTopic, "u", PT::kLiteral, kAlice, Op::kRead));
  a.set_acls(lit("t"), {{kBob, "*", Op::kWrite, Perm::kAllow}, {kBob, "*", Op::kWrite, Perm::kAllow}});
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "t"));
  EXPECT_TRUE(a.authorize(kBob, kHost, Op::kWrite, RT::kTopic, "t"));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "u"));
  EXPECT_EQ(a.acls_of(lit("t")).size(), 1u);
  EXPECT_EQ(a.size(), 2u);
  a.set_acls(lit("t"), {});
  EXPECT_TRUE(a.acls_of(lit("t")).empty());
  EXPECT_EQ(a.size(), 1u);
  a.set_acls(pre("p"), {{kBob, "*", Op::kRead, Perm::kAllow}});
  EXPECT_TRUE(a.authorize(kBob, kHost, Op::kRead, RT::kTopic, "pq"));
  a.set_acls(pre("p"), {});
  EXPECT_FALSE(a.authorize(kBob, kHost, Op::kRead, RT::kTopic, "pq"));
  a.clear();
  EXPECT_EQ(a.size(), 0u);
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "u"));
}

TEST(AclAuthorizer, ConcurrentReadersSeeConsistentDecisionsWhileWritersChange) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "stable", PT::kLiteral, kAlice, Op::kRead));
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        if (!a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "stable")) ++wrong;
        (void)a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "churn-7");
      }
    });
  }
  for (int i = 0; i < 500; ++i) {
    auto b = allow(RT::kTopic, "churn-", PT::kPrefixed, kAlice, i % 2 ? Op::kRead : Op::kWrite);
    a.add(b);
    a.remove(b);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(a.size(), 1u);
}

// --- DescribeAcls / DeleteAcls over the authorizer -------------------------------------------

class AclFilterStore : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& b : all_) a_.add(b);
  }
  std::vector<AclBinding> all_ = {
      allow(RT::kTopic, "orders", PT::kLiteral, kAlice, Op::kRead),
      deny(RT::kTopic, "orders", PT::kLiteral, kBob, Op::kWrite, kHost),
      allow(RT::kTopic, "*", PT::kLiteral, kBob, Op::kDescribe),
      allow(RT::kTopic, "ord", PT::kPrefixed, kAlice, Op::kWrite),
      allow(RT::kTopic, "orders", PT::kPrefixed, kBob, Op::kRead),
      allow(RT::kTopic, "x", PT::kPrefixed, kBob, Op::kRead),
      allow(RT::kGroup, "orders", PT::kLiteral, kAlice, Op::kRead),
      allow(RT::kCluster, "kafka-cluster", PT::kLiteral, kAlice, Op::kAlter),
  };
  AclAuthorizer a_;
};

TEST_F(AclFilterStore, AnyFilterDescribesEverythingGroupedByPattern) {
  auto got = a_.acls(AclBindingFilter{});
  ASSERT_EQ(got.size(), all_.size());
  auto order = [](const ResourcePattern& p) { return std::tie(p.type, p.pattern_type, p.name); };
  for (size_t i = 1; i < got.size(); ++i)
    EXPECT_LE(order(got[i - 1].pattern), order(got[i].pattern)) << "sorted by type, pattern type, name: so grouped";
  EXPECT_EQ(got.front().pattern.type, RT::kTopic);
  EXPECT_EQ(got.back().pattern.type, RT::kCluster);
}

TEST_F(AclFilterStore, MatchFilterDescribesWhatAppliesToTheName) {
  AclBindingFilter f{{RT::kTopic, "orders", PT::kMatch}, {}};
  auto got = a_.acls(f);
  std::set<AclBinding> want = {all_[0], all_[1], all_[2], all_[3], all_[4]};
  EXPECT_EQ(std::set<AclBinding>(got.begin(), got.end()), want);
}

TEST_F(AclFilterStore, LiteralFilterWithEntryFilter) {
  AclBindingFilter f{{RT::kTopic, "orders", PT::kLiteral}, {std::nullopt, std::nullopt, Op::kAny, Perm::kDeny}};
  auto got = a_.acls(f);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], all_[1]);
}

TEST_F(AclFilterStore, AnyPatternFilterFindsBothPatternTypesOfThatName) {
  AclBindingFilter f{{RT::kTopic, "orders", PT::kAny}, {}};
  auto got = a_.acls(f);
  std::set<AclBinding> want = {all_[0], all_[1], all_[4]};
  EXPECT_EQ(std::set<AclBinding>(got.begin(), got.end()), want);
}

TEST_F(AclFilterStore, DeleteWithMatchRemovesExactlyWhatItReturns) {
  AclBindingFilter f{{RT::kTopic, "orders", PT::kMatch}, {kBob, std::nullopt, Op::kAny, Perm::kAny}};
  auto removed = a_.remove_matching(f);
  std::set<AclBinding> want = {all_[1], all_[2], all_[4]};
  EXPECT_EQ(std::set<AclBinding>(removed.begin(), removed.end()), want);
  EXPECT_EQ(a_.size(), all_.size() - 3);
  EXPECT_TRUE(a_.acls(f).empty());
  EXPECT_TRUE(a_.authorize(kBob, kHost, Op::kRead, RT::kTopic, "xyz")) << "bob's other prefix stays";
  EXPECT_FALSE(a_.authorize(kBob, kHost, Op::kRead, RT::kTopic, "ordersx"));
}

TEST_F(AclFilterStore, DeleteWithNoMatchRemovesNothing) {
  AclBindingFilter f{{RT::kTopic, "payments", PT::kLiteral}, {}};
  EXPECT_TRUE(a_.remove_matching(f).empty());
  EXPECT_EQ(a_.size(), all_.size());
}

// --- authorize_by_resource_type (KIP-679) ---------------------------------------------------

TEST(AclByResourceType, AnAllowOnAnyTopicSuffices) {
  AclAuthorizer a;
  EXPECT_FALSE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic));
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite));
  EXPECT_TRUE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic));
  EXPECT_FALSE(a.authorize_by_resource_type(kBob, kHost, Op::kWrite, RT::kTopic));
  EXPECT_FALSE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kGroup));
  EXPECT_FALSE(a.authorize_by_resource_type(kAlice, kHost, Op::kRead, RT::kTopic));
}

TEST(AclByResourceType, NoImpliedOperations) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite));
  EXPECT_FALSE(a.authorize_by_resource_type(kAlice, kHost, Op::kDescribe, RT::kTopic));
  a.add(allow(RT::kTopic, "u", PT::kPrefixed, kAlice, Op::kAll));
  EXPECT_TRUE(a.authorize_by_resource_type(kAlice, kHost, Op::kDescribe, RT::kTopic));
}

TEST(AclByResourceType, WildcardPrincipalAndHostCount) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, "User:*", Op::kWrite, "10.0.0.1"));
  EXPECT_TRUE(a.authorize_by_resource_type(kAlice, "10.0.0.1", Op::kWrite, RT::kTopic));
  EXPECT_FALSE(a.authorize_by_resource_type(kAlice, "10.0.0.2", Op::kWrite, RT::kTopic));
}

TEST(AclByResourceType, ADenyOnTheSameLiteralShadowsTheAllow) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite));
  EXPECT_FALSE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic));
  a.add(allow(RT::kTopic, "u", PT::kLiteral, kAlice, Op::kWrite));
  EXPECT_TRUE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic));
}

TEST(AclByResourceType, ADenyPrefixShadowsLongerAllows) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "fin-ledger", PT::kLiteral, kAlice, Op::kWrite));
  a.add(allow(RT::kTopic, "fin-x", PT::kPrefixed, kAlice, Op::kWrite));
  a.add(deny(RT::kTopic, "fin", PT::kPrefixed, kAlice, Op::kWrite));
  EXPECT_FALSE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic));
  a.add(allow(RT::kTopic, "fi", PT::kPrefixed, kAlice, Op::kWrite));
  EXPECT_TRUE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic))
      << "a shorter ALLOW prefix still has names the DENY does not reach";
}

TEST(AclByResourceType, ALiteralWildcardDenyRefusesEverything) {
  AclAuthorizer a({{}, true});
  a.add(allow(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite));
  a.add(deny(RT::kTopic, "*", PT::kLiteral, "User:*", Op::kAll));
  EXPECT_FALSE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic));
}

TEST(AclByResourceType, ALiteralWildcardAllowIsNotShadowedByNarrowerDenies) {
  AclAuthorizer a;
  a.add(allow(RT::kTopic, "*", PT::kLiteral, kAlice, Op::kWrite));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite));
  a.add(deny(RT::kTopic, "a", PT::kPrefixed, kAlice, Op::kWrite));
  EXPECT_TRUE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic));
}

TEST(AclByResourceType, AllowEveryoneAppliesUnlessAWildcardDeny) {
  AclAuthorizer a({{}, true});
  EXPECT_TRUE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic));
  a.add(deny(RT::kTopic, "t", PT::kLiteral, kAlice, Op::kWrite));
  EXPECT_TRUE(a.authorize_by_resource_type(kAlice, kHost, Op::kWrite, RT::kTopic))
      << "Kafka returns ALLOWED here once no LITERAL '*' DENY applies";
}

TEST(AclByResourceType, FilterTypesAndOperationsAreRefused) {
  AclAuthorizer a({{"User:admin"}, true});
  EXPECT_FALSE(a.authorize_by_resource_type("User:admin", kHost, Op::kWrite, RT::kAny));
  EXPECT_FALSE(a.authorize_by_resource_type("User:admin", kHost, Op::kAny, RT::kTopic));
  EXPECT_FALSE(a.authorize_by_resource_type("User:admin", kHost, Op::kUnknown, RT::kTopic));
  EXPECT_FALSE(a.authorize_by_resource_type("User:admin", kHost, Op::kWrite, RT::kUnknown));
}

// --- ZooKeeper layout -----------------------------------------------------------------------

TEST(AclZk, PathsAreKafkas) {
  EXPECT_EQ(zk::acl_node_path(lit("orders")), "/kafka-acl/Topic/orders");
  EXPECT_EQ(zk::acl_node_path(lit("kafka-cluster", RT::kCluster)), "/kafka-acl/Cluster/kafka-cluster");
  EXPECT_EQ(zk::acl_node_path(pre("ord")), "/kafka-acl-extended/prefixed/Topic/ord");
  EXPECT_EQ(zk::acl_node_path(pre("tx", RT::kTransactionalId)), "/kafka-acl-extended/prefixed/TransactionalId/tx");
  EXPECT_EQ(zk::acl_type_path(RT::kGroup, PT::kLiteral), "/kafka-acl/Group");
  EXPECT_EQ(zk::acl_root(PT::kPrefixed), "/kafka-acl-extended/prefixed");
  EXPECT_EQ(zk::acl_change_parent(PT::kLiteral), "/kafka-acl-changes");
  EXPECT_EQ(zk::acl_change_parent(PT::kPrefixed), "/kafka-acl-extended-changes");
}

TEST(AclZk, NodeIsKafkasExactBytes) {
  EXPECT_EQ(zk::encode_acl_node({{kAlice, "*", Op::kRead, Perm::kAllow}}),
            R"({"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"}]})");
  EXPECT_EQ(zk::encode_acl_node({{"User:CN=a,O=b", "10.0.0.1", Op::kDescribeConfigs, Perm::kDeny},
                                 {"User:*", "*", Op::kIdempotentWrite, Perm::kAllow}}),
            R"({"version":1,"acls":[{"principal":"User:CN=a,O=b","permissionType":"Deny","operation":"DescribeConfigs","host":"10.0.0.1"},)"
            R"({"principal":"User:*","permissionType":"Allow","operation":"IdempotentWrite","host":"*"}]})");
  EXPECT_EQ(zk::encode_acl_node({}), R"({"version":1,"acls":[]})");
}

TEST(AclZk, NodeRoundTripsEveryOperationAndPermission) {
  std::vector<AccessControlEntry> entries;
  for (int8_t c = 2; c <= 14; ++c)
    entries.push_back({"User:u" + std::to_string(c), "h" + std::to_string(c), operation_from_code(c),
                       c % 2 ? Perm::kAllow : Perm::kDeny});
  auto back = zk::decode_acl_node(zk::encode_acl_node(entries));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, entries);
}

TEST(AclZk, NodeDecodesKafkasSpacedJsonAndUpperCaseNames) {
  auto got = zk::decode_acl_node(
      R"({"version": 1, "acls": [ { "host":"host1", "permissionType": "DENY","operation": "DESCRIBE_CONFIGS","principal": "User:alice"},)"
      R"( {"host":"*","permissionType":"Allow","operation":"READ","principal":"User:bob","extra":true}]})");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0], (AccessControlEntry{kAlice, "host1", Op::kDescribeConfigs, Perm::kDeny}));
  EXPECT_EQ((*got)[1], (AccessControlEntry{kBob, "*", Op::kRead, Perm::kAllow}));
}

TEST(AclZk, NodeDropsDuplicatesAndEmptyDataIsNoAcls) {
  auto got = zk::decode_acl_node(
      R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","operation":"Read","host":"*"},)"
      R"({"principal":"User:a","permissionType":"ALLOW","operation":"READ","host":"*"}]})");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 1u);
  auto empty = zk::decode_acl_node("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(AclZk, BadNodesAreRefusedWithAReason) {
  const char* bad[] = {
      "not json",
      "[]",
      R"({"acls":[]})",
      R"({"version":2,"acls":[]})",
      R"({"version":"1","acls":[]})",
      R"({"version":1})",
      R"({"version":1,"acls":{}})",
      R"({"version":1,"acls":[1]})",
      R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","operation":"Read"}]})",
      R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","operation":"Read","host":5}]})",
      R"({"version":1,"acls":[{"principal":"alice","permissionType":"Allow","operation":"Read","host":"*"}]})",
      R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","operation":"Reed","host":"*"}]})",
      R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","operation":"Any","host":"*"}]})",
      R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Maybe","operation":"Read","host":"*"}]})",
      R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Any","operation":"Read","host":"*"}]})",
      R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Unknown","operation":"Read","host":"*"}]})",
  };
  for (const char* text : bad) {
    std::string why;
    auto got = zk::decode_acl_node(text, &why);
    EXPECT_FALSE(got) << text;
    EXPECT_EQ(got.error(), make_error_code(AclErrc::kMalformed)) << text;
    EXPECT_FALSE(why.empty()) << text;
  }
  std::string why;
  (void)zk::decode_acl_node(R"({"version":1,"acls":[{"principal":"User:a","permissionType":"Allow","operation":"Reed","host":"*"}]})",
                            &why);
  EXPECT_NE(why.find("Reed"), std::string::npos) << why;
}

TEST(AclZk, LiteralChangeIsEnumNameColonName) {
  EXPECT_EQ(zk::encode_acl_change(lit("orders")), "TOPIC:orders");
  EXPECT_EQ(zk::encode_acl_change(lit("tx:1", RT::kTransactionalId)), "TRANSACTIONAL_ID:tx:1");
  auto back = zk::decode_literal_acl_change("TRANSACTIONAL_ID:tx:1");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, lit("tx:1", RT::kTransactionalId)) << "split at the first colon only";
  auto lower = zk::decode_literal_acl_change("topic:orders");
  ASSERT_TRUE(lower);
  EXPECT_EQ(*lower, lit("orders"));
  auto pascal = zk::decode_literal_acl_change("Group:g");
  ASSERT_TRUE(pascal);
  EXPECT_EQ(*pascal, lit("g", RT::kGroup));
  EXPECT_FALSE(zk::decode_literal_acl_change("orders"));
  EXPECT_FALSE(zk::decode_literal_acl_change("TOPICS:orders"));
  EXPECT_FALSE(zk::decode_literal_acl_change("ANY:orders"));
}

TEST(AclZk, ExtendedChangeIsKafkasJson) {
  EXPECT_EQ(zk::encode_acl_change(pre("ord")),
            R"({"version":1,"resourceType":"TOPIC","name":"ord","patternType":"PREFIXED"})");
  auto back = zk::decode_extended_acl_change(zk::encode_acl_change(pre("tx", RT::kTransactionalId)));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, pre("tx", RT::kTransactionalId));
  auto spaced = zk::decode_extended_acl_change(
      R"({ "patternType":"prefixed", "name":"g-", "resourceType":"Group", "version":1 })");
  ASSERT_TRUE(spaced);
  EXPECT_EQ(*spaced, pre("g-", RT::kGroup));
}

TEST(AclZk, BadExtendedChangesAreRefused) {
  const char* bad[] = {
      "TOPIC:orders",
      R"({"version":2,"resourceType":"TOPIC","name":"o","patternType":"PREFIXED"})",
      R"({"resourceType":"TOPIC","name":"o","patternType":"PREFIXED"})",
      R"({"version":1,"resourceType":"TOPICS","name":"o","patternType":"PREFIXED"})",
      R"({"version":1,"resourceType":"TOPIC","name":"o","patternType":"MATCH"})",
      R"({"version":1,"resourceType":"TOPIC","patternType":"PREFIXED"})",
  };
  for (const char* text : bad) {
    std::string why;
    EXPECT_FALSE(zk::decode_extended_acl_change(text, &why)) << text;
    EXPECT_FALSE(why.empty()) << text;
  }
}

TEST(AclZk, ANodeLoadedIntoTheAuthorizerDecidesAsWritten) {
  auto entries = zk::decode_acl_node(
      R"({"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Write","host":"*"}]})");
  ASSERT_TRUE(entries);
  auto pattern = zk::decode_extended_acl_change(zk::encode_acl_change(pre("fin-")));
  ASSERT_TRUE(pattern);
  AclAuthorizer a;
  a.set_acls(*pattern, *entries);
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kWrite, RT::kTopic, "fin-ledger"));
  EXPECT_TRUE(a.authorize(kAlice, kHost, Op::kDescribe, RT::kTopic, "fin-ledger"));
  EXPECT_FALSE(a.authorize(kAlice, kHost, Op::kRead, RT::kTopic, "fin-ledger"));
}

}  // namespace
}  // namespace keel::security
