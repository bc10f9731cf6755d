#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include "config/config.h"
#include "config/config_def.h"

namespace keel::config {
namespace {

using ::testing::HasSubstr;

std::string parse_error(std::string_view text) {
  std::string why;
  EXPECT_FALSE(parse_endpoint(text, &why).has_value()) << text;
  return why;
}

std::vector<std::string> errors_of(std::string_view yaml) {
  try {
    parse_config(yaml, "keel.yaml");
  } catch (const ConfigError& e) {
    return e.errors();
  }
  ADD_FAILURE() << "config was accepted:\n" << yaml;
  return {};
}

std::string single_error(std::string_view yaml) {
  auto errs = errors_of(yaml);
  EXPECT_EQ(errs.size(), 1u) << ::testing::PrintToString(errs);
  return errs.empty() ? "" : errs[0];
}

TEST(Endpoint, HostAndPort) {
  auto ep = parse_endpoint("PLAINTEXT://127.0.0.1:9092", nullptr);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->listener_name, "PLAINTEXT");
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 9092);
}

TEST(Endpoint, EmptyHostMeansAllInterfaces) {
  auto ep = parse_endpoint("PLAINTEXT://:9092", nullptr);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "");
  EXPECT_EQ(ep->to_string(), "PLAINTEXT://:9092");
}

TEST(Endpoint, BracketedIpv6) {
  auto ep = parse_endpoint("SSL://[::1]:9093", nullptr);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 9093);
  EXPECT_EQ(ep->to_string(), "SSL://[::1]:9093");
}

TEST(Endpoint, NameIsUpperCasedAndPortZeroAllowed) {
  auto ep = parse_endpoint("plaintext://localhost:0", nullptr);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->listener_name, "PLAINTEXT");
  EXPECT_EQ(ep->host, "localhost");
  EXPECT_EQ(ep->port, 0);
}

TEST(Endpoint, MalformedListenersSayWhatIsWrong) {
  EXPECT_THAT(parse_error("127.0.0.1:9092"), HasSubstr("missing '://'"));
  EXPECT_THAT(parse_error("PLAINTEXT://localhost"), HasSubstr("missing ':port'"));
  EXPECT_THAT(parse_error("PLAINTEXT://localhost:70000"), HasSubstr("port '70000'"));
  EXPECT_THAT(parse_error("PLAINTEXT://localhost:"), HasSubstr("port ''"));
  EXPECT_THAT(parse_error("PLAINTEXT://localhost:90x"), HasSubstr("port '90x'"));
  EXPECT_THAT(parse_error("PLAINTEXT://::1:9092"), HasSubstr("brackets"));
  EXPECT_THAT(parse_error("PLAINTEXT://[::1:9092"), HasSubstr("without ']'"));
  EXPECT_THAT(parse_error("PLAINTEXT://[::1]9092"), HasSubstr("missing ':port'"));
  EXPECT_THAT(parse_error("://host:1"), HasSubstr("name is empty"));
  EXPECT_THAT(parse_error("PLAIN TEXT://host:1"), HasSubstr("listener name"));
  EXPECT_THAT(parse_error("PLAINTEXT://ho st:1"), HasSubstr("not a host name"));
}

TEST(Listeners, ParseErrorNamesKeyLineAndListener) {
  auto errs = errors_of("broker.id: 0\nlisteners:\n  - PLAINTEXT://:9092\n  - SSL//:9093\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], "'listeners' at keel.yaml:4: 'SSL//:9093' is not NAME://host:port: missing '://'");
}

TEST(Listeners, CommaSeparatedStringEqualsSequence) {
  auto a = parse_config("listeners: PLAINTEXT://:9092, SSL://:9093\n", "k");
  auto b = parse_config("listeners: [PLAINTEXT://:9092, SSL://:9093]\n", "k");
  EXPECT_EQ(a.listeners, b.listeners);
  ASSERT_EQ(a.listeners.size(), 2u);
  EXPECT_EQ(a.listeners[1].security_protocol, "SSL");
}

TEST(Listeners, NameMustBeInSecurityProtocolMap) {
  auto errs = errors_of("listeners: CLIENT://:9092\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0],
            "'listeners' at keel.yaml:1: listener name 'CLIENT' is not in listener.security.protocol.map "
            "(PLAINTEXT, SASL_PLAINTEXT, SASL_SSL, SSL)");
}

TEST(Listeners, NameUsedTwiceIsAnError) {
  auto errs = errors_of("listeners: PLAINTEXT://:9092,PLAINTEXT://:9093\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0], HasSubstr("'PLAINTEXT' is used twice"));
}

TEST(Listeners, TwoListenersOnOnePortAreAnError) {
  EXPECT_THAT(single_error("listeners: PLAINTEXT://:9092,SSL://127.0.0.1:9092\n"),
              HasSubstr("'listeners' at keel.yaml:1: 'PLAINTEXT://:9092' and 'SSL://127.0.0.1:9092' "
                        "cannot both listen on port 9092"));
  EXPECT_THAT(single_error("broker.id: 1\nlisteners: [PLAINTEXT://h:9092, SSL://h:9092]\n"),
              HasSubstr("'listeners' at keel.yaml:2:"));
  // Distinct hosts on one port, or port 0 twice (tests), bind fine.
  EXPECT_EQ(parse_config("listeners: PLAINTEXT://127.0.0.1:9092,SSL://[::1]:9092\n", "k").listeners.size(), 2u);
  EXPECT_EQ(parse_config("listeners: PLAINTEXT://:0,SSL://:0\n", "k").listeners.size(), 2u);
}

TEST(Listeners, OneMalformedListenerGivesOneErrorNotACascade) {
  // EXTERNAL lacks its port. The other keys name listeners correctly and must not
  // be blamed, nor the default PLAINTEXT listener appear in a message.
  auto errs = errors_of(
      "listeners: [INTERNAL://:9092, \"EXTERNAL://x\"]\n"
      "listener.security.protocol.map: {INTERNAL: PLAINTEXT, EXTERNAL: SSL}\n"
      "advertised.listeners: INTERNAL://a:9092,EXTERNAL://x:9093\n"
      "inter.broker.listener.name: INTERNAL\n");
  ASSERT_EQ(errs.size(), 1u) << ::testing::PrintToString(errs);
  EXPECT_THAT(errs[0], HasSubstr("'listeners' at keel.yaml:1: 'EXTERNAL://x' is not NAME://host:port"));
}

TEST(Listeners, ParsedListenersAreStillCheckedWhenAnotherIsMalformed) {
  // All errors at once: FOO's missing map entry is a second, independent mistake.
  auto errs = errors_of("listeners: PLAINTEXT://:1x,FOO://h:1\n");
  ASSERT_EQ(errs.size(), 2u) << ::testing::PrintToString(errs);
  EXPECT_THAT(errs[0], HasSubstr("'PLAINTEXT://:1x' is not NAME://host:port"));
  EXPECT_THAT(errs[1], HasSubstr("listener name 'FOO' is not in listener.security.protocol.map"));
}

TEST(Listeners, BadProtocolMapDoesNotAlsoBlameTheListeners) {
  auto errs = errors_of("listener.security.protocol.map: [A, B]\nlisteners: CLIENT://:9092\n");
  ASSERT_EQ(errs.size(), 1u) << ::testing::PrintToString(errs);
  EXPECT_THAT(errs[0], HasSubstr("'listener.security.protocol.map' at keel.yaml:1"));
}

TEST(Listeners, ErrorsAboutOneItemOfASequenceNameTheItemsLine) {
  EXPECT_THAT(single_error("broker.id: 1\nlisteners:\n  - PLAINTEXT://:9092\n  - FOO://:9093\n"),
              HasSubstr("'listeners' at keel.yaml:4: listener name 'FOO' is not in"));
  EXPECT_THAT(single_error("listeners: [PLAINTEXT://:9092]\nadvertised.listeners:\n"
                           "  - PLAINTEXT://a:9092\n  - SSL://b:9093\n"),
              HasSubstr("'advertised.listeners' at keel.yaml:4: listener name 'SSL' is not in listeners"));
  EXPECT_THAT(single_error("listeners:\n  - PLAINTEXT://:9092\n  - SSL://:9092\n"),
              HasSubstr("'listeners' at keel.yaml:3: 'PLAINTEXT://:9092' and 'SSL://:9092'"));
}

TEST(Listeners, CustomNamesViaYamlMapOrString) {
  auto a = parse_config("listeners: CLIENT://:9092\nlistener.security.protocol.map: {CLIENT: sasl_ssl}\n", "k");
  auto b = parse_config("listeners: CLIENT://:9092\nlistener.security.protocol.map: CLIENT:SASL_SSL\n", "k");
  EXPECT_EQ(a.listeners[0].security_protocol, "SASL_SSL");
  EXPECT_EQ(a.listener_security_protocol_map, b.listener_security_protocol_map);
  EXPECT_EQ(a.inter_broker_listener_name, "CLIENT");  // no PLAINTEXT listener: the first one
}

TEST(Listeners, UnknownSecurityProtocolIsRejected) {
  auto errs = errors_of("listeners: A://:1\nlistener.security.protocol.map: A:TLS\n");
  ASSERT_GE(errs.size(), 1u);
  EXPECT_EQ(errs[0],
            "'listener.security.protocol.map' at keel.yaml:2: listener 'A' maps to 'TLS', which is not one "
            "of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL");
  EXPECT_THAT(errors_of("listener.security.protocol.map: A-TLS\n")[0], HasSubstr("'A-TLS' is not NAME:VALUE"));
}

TEST(Listeners, AdvertisedDefaultsToListenersWithHostnameForAllInterfaces) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  auto c = parse_config("listeners: PLAINTEXT://:9092,SSL://10.0.0.1:9093\n", "k");
  ASSERT_EQ(c.advertised_listeners.size(), 2u);
  EXPECT_EQ(c.advertised_listeners[0].host, host);
  EXPECT_EQ(c.advertised_listeners[0].port, 9092);
  EXPECT_EQ(c.advertised_listeners[1].host, "10.0.0.1");
  EXPECT_EQ(c.listeners[0].host, "");  // the bind address is unchanged
}

TEST(Listeners, AdvertisedMustNameAListenerAndARealHost) {
  auto errs = errors_of("listeners: PLAINTEXT://:9092\nadvertised.listeners: SSL://h:1,PLAINTEXT://0.0.0.0:9092\n");
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0], "'advertised.listeners' at keel.yaml:2: listener name 'SSL' is not in listeners");
  EXPECT_THAT(errs[1], HasSubstr("'PLAINTEXT://0.0.0.0:9092' cannot be advertised"));
}

TEST(Listeners, InterBrokerListenerMustExist) {
  auto errs = errors_of("listeners: PLAINTEXT://:9092\ninter.broker.listener.name: REPLICATION\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0],
            "'inter.broker.listener.name' at keel.yaml:2: 'REPLICATION' is not a listener name in listeners");
}

// ---- listener.name.<listener>.<key>

constexpr std::string_view kTwoListeners =
    "listeners: PLAINTEXT://:9092,SASL_PLAINTEXT://:9093\n"
    "sasl.server.max.receive.size: 1000\n";

TEST(ListenerOverrides, DottedAndNestedSpellingsLandUnderTheUpperCaseListener) {
  BrokerConfig c = parse_config(std::string(kTwoListeners) +
                                    "listener.name.sasl_plaintext.sasl.server.max.receive.size: 2048\n"
                                    "listener.name:\n"
                                    "  sasl_plaintext:\n"
                                    "    connections.max.reauth.ms: 60000\n"
                                    "    plain.sasl.server.max.receive.size: 4096\n",
                                "keel.yaml");
  EXPECT_EQ(c.listener_override("SASL_PLAINTEXT", "sasl.server.max.receive.size"), "2048");
  EXPECT_EQ(c.listener_override("sasl_plaintext", "connections.max.reauth.ms"), "60000");
  EXPECT_EQ(c.listener_override("SASL_PLAINTEXT", "plain.sasl.server.max.receive.size"), "4096");
  EXPECT_EQ(c.listener_override("PLAINTEXT", "sasl.server.max.receive.size"), std::nullopt);
  // The broker-wide value stays what it was.
  EXPECT_EQ(c.sasl_server_max_receive_size, 1000);
  // Reported like any key written in the file.
  EXPECT_TRUE(c.is_explicit("listener.name.sasl_plaintext.sasl.server.max.receive.size"));
  bool listed = false;
  for (const auto& [k, v] : c.effective())
    if (k == "listener.name.sasl_plaintext.connections.max.reauth.ms") listed = v == "60000";
  EXPECT_TRUE(listed);
}

TEST(ListenerOverrides, ValueIsCheckedAgainstTheKeyItOverridesAndNamedInFull) {
  auto e = single_error(std::string(kTwoListeners) +
                        "listener.name.sasl_plaintext.sasl.server.max.receive.size: lots\n");
  EXPECT_THAT(e, HasSubstr("'listener.name.sasl_plaintext.sasl.server.max.receive.size' at keel.yaml:3"));
  EXPECT_THAT(e, HasSubstr("integer"));
  auto range = single_error(std::string(kTwoListeners) +
                            "listener.name.sasl_plaintext.sasl.server.max.receive.size: 0\n");
  EXPECT_THAT(range, HasSubstr("listener.name.sasl_plaintext.sasl.server.max.receive.size"));
}

TEST(ListenerOverrides, UnknownListenerAndKeysNoListenerMayOverrideAreRefused) {
  EXPECT_THAT(single_error(std::string(kTwoListeners) +
                           "listener.name.ssl.sasl.server.max.receive.size: 10\n"),
              HasSubstr("no listener named SSL in listeners"));
  EXPECT_THAT(single_error(std::string(kTwoListeners) + "listener.name.plaintext.log.retention.hours: 1\n"),
              HasSubstr("'log.retention.hours' is not a key a listener can override"));
  EXPECT_THAT(single_error(std::string(kTwoListeners) + "listener.name.plaintext.sasl.no.such.key: 1\n"),
              HasSubstr("is not a key a listener can override"));
  // A mechanism prefix applies to SASL keys and connections.max.reauth.ms
  // only (Kafka: listener.name.sasl_ssl.oauthbearer.connections.max.reauth.ms).
  EXPECT_THAT(single_error(std::string(kTwoListeners) + "listener.name.plaintext.gssapi.max.connections: 1\n"),
              HasSubstr("is not a key a listener can override"));
  EXPECT_THAT(single_error(std::string(kTwoListeners) + "listener.name.plaintext: 1\n"),
              HasSubstr("write listener.name.<listener>.<key>"));
}

TEST(ListenerOverrides, SetTwiceThroughBothSpellingsIsAnError) {
  auto errs = errors_of(std::string(kTwoListeners) +
                        "listener.name.sasl_plaintext.connections.max.reauth.ms: 1\n"
                        "listener.name:\n"
                        "  sasl_plaintext:\n"
                        "    connections.max.reauth.ms: 2\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_THAT(errs[0], HasSubstr("set twice"));
}

TEST(ListenerOverrides, OverridableAndSensitiveKeysFollowKafka) {
  EXPECT_TRUE(listener_overridable("sasl.enabled.mechanisms"));
  EXPECT_TRUE(listener_overridable("max.connections"));
  EXPECT_FALSE(listener_overridable("num.partitions"));
  EXPECT_EQ(listener_override_base("scram-sha-512.sasl.server.max.receive.size"),
            std::optional<std::string_view>("sasl.server.max.receive.size"));
  EXPECT_EQ(listener_override_base("scram-sha-512.max.connections"), std::nullopt);
  EXPECT_TRUE(is_sensitive_key("listener.name.sasl_ssl.gssapi.sasl.jaas.config"));
  EXPECT_TRUE(is_sensitive_key("ssl.keystore.password"));
  EXPECT_FALSE(is_sensitive_key("ssl.keystore.location"));
}

}  // namespace
}  // namespace keel::config
