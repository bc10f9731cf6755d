#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/config_def.h"

namespace keel::config {
namespace {

using ::testing::HasSubstr;

std::filesystem::path source_dir() {
  const char* dir = std::getenv("KEEL_SOURCE_DIR");
  return dir ? std::filesystem::path(dir) : std::filesystem::path(KEEL_TEST_SOURCE_DIR);
}

// Parses text expected to be invalid; returns the error list.
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

std::map<std::string, std::string> effective_map(const BrokerConfig& c) {
  auto eff = c.effective();
  return {eff.begin(), eff.end()};
}

// ---------------------------------------------------------------- shipped files

TEST(ShippedConfig, SingleNodeConfigListensOn127001And9092WithEmbeddedStore) {
  BrokerConfig c = load_config_file(source_dir() / "config" / "keel.yaml");
  EXPECT_EQ(c.broker_id, 0);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0], (Endpoint{"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"}));
  EXPECT_EQ(c.advertised_listeners, c.listeners);
  EXPECT_TRUE(c.zookeeper_connect.empty());
  EXPECT_EQ(c.num_partitions, 1);
  EXPECT_EQ(c.log_retention_hours, 24);
  EXPECT_EQ(c.retention_ms, 24LL * 3600 * 1000);
  EXPECT_EQ(c.logging_level, "info");
  EXPECT_EQ(c.logging_file, "");
  EXPECT_EQ(c.offsets_topic_replication_factor, 1);
  // Both socket buffers left to the kernel's autotuning (docs/load.md).
  EXPECT_EQ(c.socket_receive_buffer_bytes, -1);
  EXPECT_EQ(c.socket_send_buffer_bytes, -1);
  ASSERT_EQ(c.log_dirs.size(), 1u);
  EXPECT_EQ(c.log_dirs[0], (std::filesystem::current_path() / "data").lexically_normal().string());
}

TEST(ShippedConfig, ClusterExampleUsesZooKeeperAndNamedListeners) {
  BrokerConfig c = load_config_file(source_dir() / "config" / "cluster-example.yaml");
  EXPECT_EQ(c.broker_id, 1);
  EXPECT_EQ(c.zookeeper_connect, "zk1:2181,zk2:2181,zk3:2181/keel");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0], (Endpoint{"INTERNAL", "", 9092, "PLAINTEXT"}));
  EXPECT_EQ(c.listeners[1], (Endpoint{"EXTERNAL", "", 9093, "SASL_SSL"}));
  ASSERT_EQ(c.advertised_listeners.size(), 2u);
  EXPECT_EQ(c.advertised_listeners[1].host, "broker1.example.com");
  EXPECT_EQ(c.inter_broker_listener_name, "INTERNAL");
  EXPECT_EQ(c.log_dirs, (std::vector<std::string>{"/var/lib/keel/disk1", "/var/lib/keel/disk2"}));
  EXPECT_EQ(c.default_replication_factor, 3);
  EXPECT_EQ(c.min_insync_replicas, 2);
  EXPECT_EQ(c.log_segment_bytes, 1073741824);
  EXPECT_FALSE(c.auto_create_topics_enable);
}

TEST(ShippedConfig, MissingFileNamesThePath) {
  try {
    load_config_file("/nonexistent/keel.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/keel.yaml"));
    EXPECT_THAT(e.what(), HasSubstr("No such file"));
  }
}

TEST(ShippedConfig, ErrorsFromAFileNameThePathAndLine) {
  auto path = std::filesystem::temp_directory_path() / "keel_config_test_bad.yaml";
  {
    std::ofstream out(path);
    out << "broker.id: 1\nnum.partitions: zero\n";
  }
  try {
    load_config_file(path);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'num.partitions' at " + path.string() + ":2:"));
  }
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------- defaults

TEST(Defaults, EmptyFileGivesTheTableDefaultOfEveryScalarKey) {
  auto eff = effective_map(parse_config("", "empty.yaml"));
  for (const KeyDef& def : all_keys()) {
    if (!def.default_text) continue;
    if (def.type == KeyType::kListeners || def.type == KeyType::kStringMap) continue;
    ASSERT_TRUE(eff.count(std::string(def.name))) << def.name;
    if (def.type == KeyType::kDouble)
      EXPECT_DOUBLE_EQ(std::stod(eff[std::string(def.name)]), std::stod(std::string(*def.default_text)))
          << def.name;
    else
      EXPECT_EQ(eff[std::string(def.name)], *def.default_text) << def.name;
  }
}

TEST(Defaults, KafkaDocumentedValues) {
  BrokerConfig c = parse_config("", "empty.yaml");
  EXPECT_EQ(c.listeners, (std::vector<Endpoint>{{"PLAINTEXT", "", 9092, "PLAINTEXT"}}));
  EXPECT_EQ(c.listener_security_protocol_map.size(), 4u);
  EXPECT_EQ(c.listener_security_protocol_map.at("SASL_SSL"), "SASL_SSL");
  EXPECT_EQ(c.log_dirs, (std::vector<std::string>{"/tmp/keel-logs"}));
  EXPECT_EQ(c.retention_ms, 604800000);
  EXPECT_EQ(c.segment_ms, 604800000);
  EXPECT_EQ(c.segment_jitter_ms, 0);
  EXPECT_EQ(c.flush_ms, INT64_MAX);
  EXPECT_EQ(c.log_flush_interval_messages, INT64_MAX);
  EXPECT_EQ(c.message_max_bytes, 1048588);
  EXPECT_EQ(c.socket_request_max_bytes, 104857600);
  EXPECT_EQ(c.num_network_threads, 3);
  EXPECT_EQ(c.num_io_threads, 8);
  EXPECT_EQ(c.offsets_topic_num_partitions, 50);
  EXPECT_EQ(c.offsets_topic_replication_factor, 3);
  EXPECT_EQ(c.transaction_state_log_min_isr, 2);
  EXPECT_EQ(c.group_max_session_timeout_ms, 1800000);
  EXPECT_EQ(c.zookeeper_connection_timeout_ms, 18000);
  EXPECT_EQ(c.log_cleanup_policy, (std::vector<std::string>{"delete"}));
  EXPECT_DOUBLE_EQ(c.log_cleaner_min_cleanable_ratio, 0.5);
  EXPECT_FALSE(c.unclean_leader_election_enable);
  EXPECT_EQ(c.inter_broker_listener_name, "PLAINTEXT");
  EXPECT_EQ(c.logging_level, "info");
}

TEST(Defaults, StructInitialisersAgreeWithTheTable) {
  // A BrokerConfig built in code (tests of other modules) must match a parsed empty file.
  auto parsed = effective_map(parse_config("", "empty.yaml"));
  auto built = effective_map(BrokerConfig{});
  parsed.erase("advertised.listeners");  // derived from the hostname at load time
  built.erase("advertised.listeners");
  EXPECT_EQ(parsed, built);
}

TEST(Defaults, EveryTableKeyAppearsInEffectiveOnce) {
  auto eff = parse_config("", "empty.yaml").effective();
  ASSERT_EQ(eff.size(), all_keys().size());
  for (size_t i = 0; i < eff.size(); ++i) EXPECT_EQ(eff[i].first, all_keys()[i].name);
}

TEST(Defaults, NullValueMeansDefault) {
  BrokerConfig c = parse_config("num.partitions:\nzookeeper.connect: ~\n", "keel.yaml");
  EXPECT_EQ(c.num_partitions, 1);
  EXPECT_EQ(c.zookeeper_connect, "");
}

TEST(Defaults, ExplicitKeysAreTheNonNullKeysOfTheFileWithTheirLines) {
  BrokerConfig c = parse_config("broker.id: 4\nnum.partitions:\nlog:\n  retention:\n    ms: 60000\n",
                                "keel.yaml");
  EXPECT_EQ(c.explicit_keys, (std::map<std::string, int, std::less<>>{{"broker.id", 1},
                                                                      {"log.retention.ms", 5}}));
  EXPECT_TRUE(c.is_explicit("log.retention.ms"));
  EXPECT_FALSE(c.is_explicit("num.partitions"));  // null = default, not an explicit setting
  EXPECT_FALSE(c.is_explicit("log.retention.hours"));

  auto rows = c.describe();
  ASSERT_EQ(rows.size(), c.effective().size());
  int explicit_rows = 0;
  for (const auto& row : rows) {
    if (!row.explicitly_set) {
      EXPECT_EQ(row.line, 0) << row.name;
      continue;
    }
    ++explicit_rows;
    if (row.name == "broker.id") {
      EXPECT_EQ(row.line, 1);
    }
    if (row.name == "log.retention.ms") {
      EXPECT_EQ(row.line, 5);
      EXPECT_EQ(row.value, "60000");
    }
  }
  EXPECT_EQ(explicit_rows, 2);
}

TEST(Defaults, EmptyFileSetsNoKeyExplicitly) {
  BrokerConfig c = parse_config("", "keel.yaml");
  EXPECT_TRUE(c.explicit_keys.empty());
  for (const auto& row : c.describe()) EXPECT_FALSE(row.explicitly_set) << row.name;
}

TEST(Defaults, TopicDefaultsUseTopicLevelNames) {
  auto t = parse_config("log.retention.hours: 2\nlog.cleanup.policy: compact\nmessage.max.bytes: 5000\n",
                        "keel.yaml")
               .topic_defaults();
  EXPECT_EQ(t.at("retention.ms"), "7200000");
  EXPECT_EQ(t.at("cleanup.policy"), "compact");
  EXPECT_EQ(t.at("max.message.bytes"), "5000");
  EXPECT_EQ(t.at("segment.bytes"), "1073741824");
  EXPECT_EQ(t.count("log.retention.hours"), 0u);
}

// ---------------------------------------------------------------- nesting

TEST(Nesting, NestedMapsSpellTheSameKeysAsDottedNames) {
  BrokerConfig dotted = parse_config(
      "log.retention.hours: 24\nlog.segment.bytes: 1000\nzookeeper.connect: zk:2181\n"
      "logging.level: debug\n",
      "a.yaml");
  BrokerConfig nested = parse_config(
      "log:\n  retention:\n    hours: 24\n  segment: {bytes: 1000}\n"
      "zookeeper:\n  connect: zk:2181\nlogging: {level: debug}\n",
      "b.yaml");
  BrokerConfig mixed = parse_config(
      "log.retention: {hours: 24}\nlog: {segment.bytes: 1000}\nzookeeper.connect: zk:2181\n"
      "logging:\n  level: debug\n",
      "c.yaml");
  EXPECT_EQ(effective_map(dotted), effective_map(nested));
  EXPECT_EQ(effective_map(dotted), effective_map(mixed));
  EXPECT_EQ(nested.retention_ms, 24LL * 3600000);
  EXPECT_EQ(nested.log_segment_bytes, 1000);
}

TEST(Nesting, SameKeyNestedAndDottedIsAnErrorNamingBothLines) {
  std::string e = single_error("broker.id: 0\nlog.retention.hours: 5\nlog:\n  retention:\n    hours: 6\n");
  EXPECT_THAT(e, HasSubstr("'log.retention.hours' at keel.yaml:5"));
  EXPECT_THAT(e, HasSubstr("first at keel.yaml:2"));
  EXPECT_THAT(e, HasSubstr("set twice"));
}

TEST(Nesting, SameDottedKeyTwiceIsAnError) {
  std::string e = single_error("num.partitions: 1\nnum.partitions: 2\n");
  EXPECT_THAT(e, HasSubstr("'num.partitions' at keel.yaml:2"));
  EXPECT_THAT(e, HasSubstr("first at keel.yaml:1"));
}

TEST(Nesting, MapUnderAScalarKeyIsATypeError) {
  EXPECT_EQ(single_error("num.partitions:\n  value: 3\n"),
            "'num.partitions' at keel.yaml:1: expected an integer, got a map");
}

TEST(Nesting, TopLevelListIsRejected) {
  EXPECT_THAT(single_error("- broker.id\n- 3\n"), HasSubstr("expected a map of keys at the top level"));
}

// ---------------------------------------------------------------- unknown keys

TEST(UnknownKey, NearMissSuggestsTheKeyMeant) {
  EXPECT_EQ(single_error("broker.id: 0\n\n\n\n\n\nlog.retension.hours: 24\n"),
            "unknown key 'log.retension.hours' at keel.yaml:7 — did you mean 'log.retention.hours'?");
}

TEST(UnknownKey, NestedTypoIsReportedByItsDottedName) {
  EXPECT_EQ(single_error("log:\n  retension:\n    hours: 24\n"),
            "unknown key 'log.retension.hours' at keel.yaml:3 — did you mean 'log.retention.hours'?");
}

TEST(UnknownKey, PropertiesStyleSpellingsAreRecognised) {
  EXPECT_THAT(single_error("LOG_DIRS: /x\n"), HasSubstr("did you mean 'log.dirs'?"));
  EXPECT_THAT(single_error("num-partitions: 3\n"), HasSubstr("did you mean 'num.partitions'?"));
}

TEST(UnknownKey, FarFromEveryKeyHasNoSuggestion) {
  EXPECT_EQ(single_error("favourite.colour: blue\n"), "unknown key 'favourite.colour' at keel.yaml:1");
}

// ---------------------------------------------------------------- types and ranges

TEST(Types, IntegerKeyRejectsAWord) {
  EXPECT_EQ(single_error("broker.id: 0\n\nnum.partitions: three\n"),
            "'num.partitions' at keel.yaml:3: expected an integer, got 'three'");
}

TEST(Types, IntegerKeyRejectsAFractionAndAList) {
  EXPECT_EQ(single_error("num.partitions: 1.5\n"),
            "'num.partitions' at keel.yaml:1: expected an integer, got '1.5'");
  EXPECT_EQ(single_error("num.partitions: [1, 2]\n"),
            "'num.partitions' at keel.yaml:1: expected an integer, got a list");
}

TEST(Types, BooleanKeyAcceptsTrueFalseOnly) {
  EXPECT_FALSE(parse_config("delete.topic.enable: FALSE\n", "k").delete_topic_enable);
  EXPECT_EQ(single_error("delete.topic.enable: yes\n"),
            "'delete.topic.enable' at keel.yaml:1: expected true or false, got 'yes'");
}

TEST(Types, DoubleKeyParsesAndRejectsWords) {
  EXPECT_DOUBLE_EQ(parse_config("log.cleaner.min.cleanable.ratio: 0.25\n", "k").log_cleaner_min_cleanable_ratio,
                   0.25);
  EXPECT_EQ(single_error("log.cleaner.min.cleanable.ratio: half\n"),
            "'log.cleaner.min.cleanable.ratio' at keel.yaml:1: expected a number, got 'half'");
}

// Kafka keys Keel has no use for start with a warning (recorded with their
// line and why); a key Kafka does not have either is still an error.
TEST(UnknownKey, KafkasKeysWithoutEffectAreRecordedNotRefused) {
  const BrokerConfig c = parse_config("background.threads: 10\nmetric.reporters: com.example.Reporter\n", "k");
  ASSERT_EQ(c.ignored_kafka_keys.size(), 2u);
  EXPECT_EQ(c.ignored_kafka_keys[0].key, "background.threads");
  EXPECT_EQ(c.ignored_kafka_keys[0].line, 1);
  EXPECT_NE(c.ignored_kafka_keys[1].why.find("/metrics"), std::string::npos) << c.ignored_kafka_keys[1].why;
  EXPECT_TRUE(parse_config("num.partitions: 3\n", "k").ignored_kafka_keys.empty());
  EXPECT_NE(single_error("background.thread: 10\n").find("unknown key 'background.thread'"), std::string::npos);
  for (const KeyDef& k : all_keys()) EXPECT_FALSE(kafka_key_without_effect(k.name)) << k.name << " is in both lists";
  // Families: KIP-848's group settings, whatever the suffix.
  const BrokerConfig g = parse_config("group.consumer.session.timeout.ms: 45000\ngroup.share.max.size: 200\n", "k");
  ASSERT_EQ(g.ignored_kafka_keys.size(), 2u);
  EXPECT_NE(g.ignored_kafka_keys[0].why.find("KIP-848"), std::string::npos) << g.ignored_kafka_keys[0].why;
}

// Kafka keys that would load a Java class or switch on what Keel does not
// offer are refused, saying which and why, not "unknown".
TEST(UnknownKey, KafkasKeysKeelCannotHonourAreRefusedSayingWhy) {
  const std::string builder = single_error("principal.builder.class: com.example.Builder\n");
  EXPECT_NE(builder.find("Kafka's key 'principal.builder.class' at keel.yaml:1 is not supported: a Java class"),
            std::string::npos)
      << builder;
  EXPECT_NE(single_error("zookeeper.ssl.client.enable: true\n").find("ZooKeeper over TLS"), std::string::npos);
  EXPECT_NE(single_error("delegation.token.secret.key: s3cret\n").find("delegation tokens"), std::string::npos);
  for (const KeyDef& k : all_keys()) EXPECT_FALSE(kafka_key_refused(k.name)) << k.name << " is known and refused";
  for (std::string_view k : {"principal.builder.class", "zookeeper.ssl.keystore.location", "delegation.token.secret.key"}) {
    EXPECT_FALSE(kafka_key_without_effect(k)) << k << " is refused and ignored";
  }
}

TEST(Types, ConnectionOverridesAreHostColonLimitPairs) {
  std::string why;
  auto pairs = parse_connection_overrides(" broker1.example.com:100, 10.0.0.1 :5,::1:7", &why);
  ASSERT_TRUE(pairs) << why;
  const std::vector<std::pair<std::string, int32_t>> want{{"broker1.example.com", 100}, {"10.0.0.1", 5}, {"::1", 7}};
  EXPECT_EQ(*pairs, want);
  EXPECT_TRUE(parse_connection_overrides("", &why)->empty());
  EXPECT_FALSE(parse_connection_overrides("host", &why));
  EXPECT_FALSE(parse_connection_overrides("host:-1", &why));
  EXPECT_FALSE(parse_connection_overrides(":5", &why));
  EXPECT_NE(single_error("max.connections.per.ip.overrides: 'a:1,b:x'\n").find("'b:x' is not host:limit"),
            std::string::npos);
}

TEST(Types, FetchMaxBytesHasKafkasDefaultAndFloor) {
  EXPECT_EQ(parse_config("num.partitions: 1\n", "k").fetch_max_bytes, 57671680);
  EXPECT_EQ(parse_config("fetch.max.bytes: 1048576\n", "k").fetch_max_bytes, 1048576);
  EXPECT_NE(single_error("fetch.max.bytes: 100\n").find("fetch.max.bytes"), std::string::npos);
}

// Kafka's older spelling of the inter-broker listener: the one named after the protocol.
TEST(Listeners, SecurityInterBrokerProtocolNamesTheInterBrokerListener) {
  const BrokerConfig c = parse_config(
      "listeners: PLAINTEXT://127.0.0.1:9092, SASL_SSL://127.0.0.1:9094\n"
      "security.inter.broker.protocol: SASL_SSL\n"
      "ssl.keystore.type: PEM\nssl.keystore.location: /k.pem\n",
      "k");
  EXPECT_EQ(c.inter_broker_listener_name, "SASL_SSL");
  EXPECT_NE(single_error("listeners: PLAINTEXT://127.0.0.1:9092\nsecurity.inter.broker.protocol: SSL\n")
                .find("no listener is named 'SSL'"),
            std::string::npos);
  EXPECT_NE(single_error("listeners: PLAINTEXT://127.0.0.1:9092\ninter.broker.listener.name: PLAINTEXT\n"
                         "security.inter.broker.protocol: PLAINTEXT\n")
                .find("not both"),
            std::string::npos);
}

// A Kerberized Kafka's server.properties carries the ticket-renewal keys:
// they start unchanged and set the broker's TGT keeper (server/kerberos_tgt.h).
TEST(Types, KafkasKerberosRenewalKeysAreTaken) {
  const BrokerConfig c = parse_config(
      "sasl.kerberos.ticket.renew.window.factor: 0.9\n"
      "sasl.kerberos.ticket.renew.jitter: 0.1\n"
      "sasl.kerberos.min.time.before.relogin: 30000\n"
      "sasl.kerberos.kinit.cmd: /opt/krb5/bin/kinit\n",
      "k");
  EXPECT_DOUBLE_EQ(c.sasl_kerberos_ticket_renew_window_factor, 0.9);
  EXPECT_DOUBLE_EQ(c.sasl_kerberos_ticket_renew_jitter, 0.1);
  EXPECT_EQ(c.sasl_kerberos_min_time_before_relogin, 30000);
  EXPECT_EQ(c.sasl_kerberos_kinit_cmd, "/opt/krb5/bin/kinit");
  const BrokerConfig d = parse_config("", "k");
  EXPECT_DOUBLE_EQ(d.sasl_kerberos_ticket_renew_window_factor, 0.8);
  EXPECT_DOUBLE_EQ(d.sasl_kerberos_ticket_renew_jitter, 0.05);
  EXPECT_EQ(d.sasl_kerberos_min_time_before_relogin, 60000);
  EXPECT_EQ(single_error("sasl.kerberos.ticket.renew.window.factor: 1.5\n"),
            "'sasl.kerberos.ticket.renew.window.factor' at keel.yaml:1: must be at most 1, got 1.5");
}

// Kafka 3.x accepts the message format and protocol versions (deprecated and
// ignored) when they name a Kafka release; so does keel.
TEST(Types, KafkaVersionKeysTakeKafkaReleasesOnly) {
  for (const char* v : {"0.8.2", "0.10.2-IV0", "0.11.0", "1.0", "2.8", "2.8.1", "3.0-IV1", "3.9", "3.9-IV0"}) {
    auto c = parse_config(std::string("log.message.format.version: \"") + v + "\"\ninter.broker.protocol.version: \"" +
                              v + "\"\n",
                          "k");
    EXPECT_EQ(c.log_message_format_version, v);
    EXPECT_EQ(c.inter_broker_protocol_version, v);
  }
  EXPECT_EQ(single_error("log.message.format.version: banana\n"),
            "'log.message.format.version' at keel.yaml:1: 'banana' is not a Kafka version (such as 2.8, 3.0-IV1 or 3.9)");
  for (const char* bad : {"3", "0.12.0", "0.9.1", "4.7", "3.0-IV", "3.0-IVx", "3..0", "-IV1", ""}) {
    EXPECT_FALSE(errors_of(std::string("inter.broker.protocol.version: \"") + bad + "\"\n").empty()) << bad;
  }
}

TEST(Types, QuotedNumbersAreAccepted) {
  EXPECT_EQ(parse_config("num.partitions: \"4\"\n", "k").num_partitions, 4);
}

TEST(Ranges, BelowMinimumNamesTheBound) {
  EXPECT_EQ(single_error("num.partitions: 0\n"),
            "'num.partitions' at keel.yaml:1: must be at least 1, got 0");
  EXPECT_EQ(single_error("broker.id: -1\n"), "'broker.id' at keel.yaml:1: must be at least 0, got -1");
}

TEST(Ranges, AboveMaximumNamesTheBound) {
  EXPECT_EQ(single_error("log.cleaner.min.cleanable.ratio: 1.5\n"),
            "'log.cleaner.min.cleanable.ratio' at keel.yaml:1: must be at most 1, got 1.5");
}

TEST(Ranges, TypeWidthIsEnforced) {
  EXPECT_EQ(single_error("broker.id: 3000000000\n"),
            "'broker.id' at keel.yaml:1: must be at most 2147483647, got 3000000000");
  EXPECT_EQ(single_error("default.replication.factor: 40000\n"),
            "'default.replication.factor' at keel.yaml:1: must be at most 32767, got 40000");
  EXPECT_THAT(single_error("log.retention.bytes: 99999999999999999999\n"),
              HasSubstr("must be at most 9223372036854775807"));
  EXPECT_EQ(parse_config("log.retention.bytes: 9223372036854775807\n", "k").log_retention_bytes, INT64_MAX);
}

TEST(Ranges, EnumValueNearMissSuggestsTheValue) {
  EXPECT_EQ(single_error("compression.type: gzp\n"),
            "'compression.type' at keel.yaml:1: must be one of uncompressed, zstd, lz4, snappy, gzip, "
            "producer; got 'gzp' — did you mean 'gzip'?");
  EXPECT_THAT(single_error("logging.level: inf\n"), HasSubstr("did you mean 'info'?"));
}

TEST(Ranges, EnumValuesMatchCaseInsensitivelyAndAreStoredCanonically) {
  BrokerConfig c = parse_config("logging.level: WARN\nlog.message.timestamp.type: logappendtime\n", "k");
  EXPECT_EQ(c.logging_level, "warn");
  EXPECT_EQ(c.log_message_timestamp_type, "LogAppendTime");
  EXPECT_EQ(parse_config("log.cleanup.policy: [Compact]\n", "k").log_cleanup_policy,
            (std::vector<std::string>{"compact"}));
}

TEST(Ranges, ListItemsAreCheckedOneByOne) {
  EXPECT_EQ(parse_config("log.cleanup.policy: [delete, compact]\n", "k").log_cleanup_policy,
            (std::vector<std::string>{"delete", "compact"}));
  EXPECT_THAT(single_error("log.cleanup.policy: delete,compactt\n"),
              HasSubstr("got 'compactt' — did you mean 'compact'?"));
}

TEST(Errors, AllProblemsAreReportedTogether) {
  try {
    parse_config("num.partitions: 0\nbroker.id: x\nlog.retension.hours: 1\n", "keel.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.errors().size(), 3u);
    std::string what = e.what();
    for (const std::string& err : e.errors()) EXPECT_THAT(what, HasSubstr(err));
    EXPECT_EQ(std::count(what.begin(), what.end(), '\n'), 2);
    EXPECT_THAT(what, HasSubstr("keel.yaml:1"));
    EXPECT_THAT(what, HasSubstr("keel.yaml:2"));
    EXPECT_THAT(what, HasSubstr("keel.yaml:3"));
  }
}

TEST(Errors, YamlSyntaxErrorGivesItsLine) {
  std::string e = single_error("broker.id: 0\nlisteners: [PLAINTEXT://:9092\nnum.partitions: 1\n");
  EXPECT_THAT(e, HasSubstr("keel.yaml:"));
  EXPECT_THAT(e, HasSubstr("YAML syntax error"));
  std::string e2 = single_error("broker.id: 0\n  bad indent: 1\n");
  EXPECT_THAT(e2, HasSubstr("keel.yaml:2:"));
}

// ---------------------------------------------------------------- derived keys

TEST(Retention, HoursAloneDecide) {
  EXPECT_EQ(parse_config("log.retention.hours: 3\n", "k").retention_ms, 3LL * 3600000);
}

TEST(Retention, MinutesOverrideHours) {
  EXPECT_EQ(parse_config("log.retention.hours: 3\nlog.retention.minutes: 5\n", "k").retention_ms, 300000);
}

TEST(Retention, MillisecondsOverrideMinutesAndHours) {
  BrokerConfig c = parse_config("log.retention.hours: 3\nlog.retention.minutes: 5\nlog.retention.ms: 1234\n", "k");
  EXPECT_EQ(c.retention_ms, 1234);
  EXPECT_EQ(effective_map(c).at("log.retention.ms"), "1234");
  EXPECT_EQ(effective_map(c).at("log.retention.minutes"), "5");
}

TEST(Retention, NegativeMeansForever) {
  EXPECT_EQ(parse_config("log.retention.hours: -1\n", "k").retention_ms, -1);
  EXPECT_EQ(parse_config("log.retention.ms: -5\n", "k").retention_ms, -1);
}

TEST(Retention, RollJitterAndFlushFollowTheirMillisecondKeys) {
  BrokerConfig c = parse_config("log.roll.hours: 2\nlog.roll.jitter.hours: 1\nlog.flush.scheduler.interval.ms: 700\n", "k");
  EXPECT_EQ(c.segment_ms, 7200000);
  EXPECT_EQ(c.segment_jitter_ms, 3600000);
  EXPECT_EQ(c.flush_ms, 700);
  c = parse_config("log.roll.hours: 2\nlog.roll.ms: 10\nlog.roll.jitter.ms: 3\nlog.flush.interval.ms: 50\n", "k");
  EXPECT_EQ(c.segment_ms, 10);
  EXPECT_EQ(c.segment_jitter_ms, 3);
  EXPECT_EQ(c.flush_ms, 50);
}

TEST(Derived, ZooKeeperConnectionTimeoutDefaultsToSessionTimeout) {
  EXPECT_EQ(parse_config("zookeeper.session.timeout.ms: 9000\n", "k").zookeeper_connection_timeout_ms, 9000);
  EXPECT_EQ(parse_config("zookeeper.session.timeout.ms: 9000\nzookeeper.connection.timeout.ms: 100\n", "k")
                .zookeeper_connection_timeout_ms,
            100);
}

TEST(Derived, RelativeLogDirsAreResolvedAgainstTheCurrentDirectory) {
  BrokerConfig c = parse_config("log.dirs: [data, ./other/, /abs/dir]\n", "k");
  auto cwd = std::filesystem::current_path();
  EXPECT_EQ(c.log_dirs, (std::vector<std::string>{(cwd / "data").string(), (cwd / "other").string(),
                                                  "/abs/dir"}));
}

TEST(Derived, LogDirsAsSequenceEqualsCommaSeparatedString) {
  EXPECT_EQ(parse_config("log.dirs: [/a, /b]\n", "k").log_dirs,
            parse_config("log.dirs: /a, /b\n", "k").log_dirs);
  EXPECT_EQ(parse_config("log.dir: /only\n", "k").log_dirs, (std::vector<std::string>{"/only"}));
  EXPECT_THAT(single_error("log.dirs: /a,/a\n"), HasSubstr("listed twice"));
}

TEST(Derived, GroupSessionTimeoutBoundsMustBeOrdered) {
  EXPECT_EQ(single_error("group.min.session.timeout.ms: 10\ngroup.max.session.timeout.ms: 5\n"),
            "'group.min.session.timeout.ms' at keel.yaml:1: must not exceed group.max.session.timeout.ms "
            "(10 > 5)");
}

TEST(Derived, MessageMaxBytesMustFitInARequest) {
  EXPECT_THAT(single_error("socket.request.max.bytes: 1000\n"),
              HasSubstr("must not exceed socket.request.max.bytes (1048588 > 1000)"));
}

// ---------------------------------------------------------------- table and docs

TEST(Table, EditDistanceAndNearestKey) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(nearest_key("num.partition"), std::optional<std::string_view>("num.partitions"));
  EXPECT_EQ(nearest_key("zzz"), std::nullopt);
}

TEST(Table, KeyNamesAreUniqueAndDocumented) {
  std::set<std::string_view> names;
  for (const KeyDef& k : all_keys()) {
    EXPECT_TRUE(names.insert(k.name).second) << k.name;
    EXPECT_FALSE(k.doc.empty()) << k.name;
  }
}

TEST(Docs, ConfigurationReferenceMentionsEveryKey) {
  std::ifstream in(source_dir() / "docs" / "configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  for (const KeyDef& k : all_keys()) {
    EXPECT_THAT(doc, HasSubstr("`" + std::string(k.name) + "`")) << k.name;
    if (!k.topic_name.empty()) {
      EXPECT_THAT(doc, HasSubstr("`" + std::string(k.topic_name) + "`")) << k.name;
    }
  }
}

}  // namespace
}  // namespace keel::config

namespace keel::config {
namespace {

// Odd but possible input: every one must end in a BrokerConfig or a ConfigError,
// never another exception or a crash.
TEST(Errors, OddYamlGivesAConfigErrorOrAConfig) {
  std::string deep(5000, '[');
  const std::vector<std::string> inputs = {
      "*undefined_alias\n",
      "a: &x 1\nnum.partitions: *x\n",
      "? [a, b]\n: c\n",
      "? {a: 1}\n: c\n",
      "num.partitions: !!binary aGVsbG8=\n",
      "num.partitions: !custom 3\n",
      "<<: {num.partitions: 3}\n",
      "---\nbroker.id: 1\n---\nbroker.id: 2\n",
      deep,
      "log: {}\n",
      "log:\n",
      "listeners: [[PLAINTEXT://:1]]\n",
      "listeners: [{a: b}]\n",
      "listener.security.protocol.map: {A: [x]}\n",
      "listener.security.protocol.map: [A]\n",
      "\t",
      "\"unterminated",
      "broker.id: 0\n\xff\xfe\n",
      std::string("broker.id: 0\0x: 1\n", 18),
      "~\n",
      "42\n",
      "listeners: ''\n",
      "log.dirs: ''\n",
      "log.dirs: ','\n",
  };
  for (const std::string& in : inputs) {
    try {
      parse_config(in, "odd.yaml");
    } catch (const ConfigError& e) {
      EXPECT_FALSE(e.errors().empty()) << in;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "input " << ::testing::PrintToString(in) << " threw " << e.what();
    }
  }
}

TEST(Errors, EmptyListenersAndLogDirsAreRejected) {
  EXPECT_THAT(single_error("listeners: ''\n"), HasSubstr("at least one listener"));
  EXPECT_THAT(single_error("log.dirs: ','\n"), HasSubstr("'log.dirs'"));
}

}  // namespace
}  // namespace keel::config

namespace keel::config {
namespace {

TEST(Errors, MessagesAreOrderedByLine) {
  try {
    parse_config("logging.level: loud\nbroker.id: x\nnum.partitons: 1\n", "keel.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.errors().size(), 3u);
    EXPECT_THAT(e.errors()[0], HasSubstr("keel.yaml:1"));
    EXPECT_THAT(e.errors()[1], HasSubstr("keel.yaml:2"));
    EXPECT_THAT(e.errors()[2], HasSubstr("keel.yaml:3"));
  }
}

TEST(Nesting, DuplicateMessageExplainsMixedSpellingsOnlyWhenMixed) {
  EXPECT_THAT(single_error("log.dir: /a\nlog: {dir: /b}\n"), HasSubstr("nested and the dotted spelling"));
  EXPECT_THAT(single_error("log.dir: /a\nlog.dir: /b\n"), ::testing::Not(HasSubstr("nested")));
}

}  // namespace
}  // namespace keel::config

namespace keel::config {
namespace {

TEST(ShippedConfig, DirectoryInsteadOfFileIsAnErrorNotAnEmptyConfig) {
  try {
    load_config_file(std::filesystem::temp_directory_path());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot read config file"));
    EXPECT_THAT(e.what(), HasSubstr("directory"));
  }
}

}  // namespace
}  // namespace keel::config

namespace keel::config {
namespace {

TEST(Derived, ZooKeeperConnectStringIsChecked) {
  EXPECT_EQ(parse_config("zookeeper.connect: zk1:2181,zk2,zk3:2182/keel/a\n", "k").zookeeper_connect,
            "zk1:2181,zk2,zk3:2182/keel/a");
  EXPECT_EQ(single_error("zookeeper.connect: zk1:21x81\n"),
            "'zookeeper.connect' at keel.yaml:1: 'zk1:21x81' is not host:port (in host:port[,host:port][/chroot])");
  EXPECT_THAT(single_error("zookeeper.connect: zk1:0\n"), HasSubstr("'zk1:0' is not host:port"));
  EXPECT_THAT(single_error("zookeeper.connect: /keel\n"), HasSubstr("names no host"));
  EXPECT_THAT(single_error("zookeeper.connect: zk:2181/keel/\n"), HasSubstr("must not end with '/'"));
}

}  // namespace
}  // namespace keel::config

#include <random>

namespace keel::config {
namespace {

// A poor man's fuzzer: byte flips, insertions and deletions in the shipped
// cluster file must each end in a config or a ConfigError (run under ASan too).
TEST(Errors, RandomMutationsOfTheShippedFileEndInAConfigOrAConfigError) {
  std::ifstream in(source_dir() / "config" / "cluster-example.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string base = ss.str();
  ASSERT_FALSE(base.empty());
  std::mt19937 rng(12345);
  const char kAlphabet[] = ":,-[]{}#&*!|>'\"\n \t.0123456789abcz/\\%@`";
  int accepted = 0, rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t pos = rng() % text.size();
      char c = kAlphabet[rng() % (sizeof kAlphabet - 1)];
      switch (rng() % 3) {
        case 0: text[pos] = c; break;
        case 1: text.insert(pos, 1, c); break;
        default: text.erase(pos, 1 + rng() % 8); break;
      }
    }
    try {
      parse_config(text, "fuzz.yaml");
      ++accepted;
    } catch (const ConfigError& err) {
      ASSERT_FALSE(err.errors().empty());
      for (const std::string& m : err.errors()) ASSERT_THAT(m, HasSubstr("fuzz.yaml")) << m;
      ++rejected;
    } catch (const std::exception& ex) {
      FAIL() << "round " << round << " threw " << ex.what() << " for:\n" << text;
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace keel::config

namespace keel::config {
namespace {

// The reference table row of each key states the table's type and default, so
// the docs cannot drift from the code.
TEST(Docs, EachKeysRowStatesItsTypeAndDefault) {
  std::ifstream in(source_dir() / "docs" / "configuration.md");
  ASSERT_TRUE(in);
  std::map<std::string, std::string> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    size_t end = line.find('`', 3);
    if (end != std::string::npos) rows[line.substr(3, end - 3)] = line;
  }
  for (const KeyDef& k : all_keys()) {
    auto it = rows.find(std::string(k.name));
    ASSERT_NE(it, rows.end()) << "no table row for " << k.name;
    const std::string& row = it->second;
    EXPECT_THAT(row, HasSubstr("| " + std::string(key_type_name(k.type)) + " |")) << row;
    std::string dflt = !k.default_text ? "null"
                       : k.default_text->empty() ? "`\"\"`"
                                                 : "`" + std::string(*k.default_text) + "`";
    EXPECT_THAT(row, HasSubstr("| " + dflt + " |")) << row;
  }
}

}  // namespace
}  // namespace keel::config
