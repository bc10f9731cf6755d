#include "config/topic_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config_def.h"

namespace keel::config {
namespace {

using ::testing::HasSubstr;

TEST(TopicConfig, DefaultsFollowTheBrokerKeys) {
  BrokerConfig b = parse_config(
      "log.retention.hours: 2\nlog.segment.bytes: 5000\nlog.cleanup.policy: compact\n"
      "compression.type: zstd\nmin.insync.replicas: 2\nmessage.max.bytes: 2000\nlog.roll.ms: 99\n",
      "k");
  TopicConfig t = topic_config_defaults(b);
  EXPECT_EQ(t.retention_ms, 7200000);
  EXPECT_EQ(t.segment_bytes, 5000);
  EXPECT_EQ(t.segment_ms, 99);
  EXPECT_TRUE(t.compacted());
  EXPECT_FALSE(t.delete_by_retention());
  EXPECT_EQ(t.compression_type, "zstd");
  EXPECT_EQ(t.min_insync_replicas, 2);
  EXPECT_EQ(t.max_message_bytes, 2000);
}

TEST(TopicConfig, StructDefaultsEqualAnEmptyBrokerConfigsDefaults) {
  EXPECT_EQ(TopicConfig{}.to_map(), topic_config_defaults(parse_config("", "k")).to_map());
}

TEST(TopicConfig, EveryTopicLevelNameInTheTableIsSettable) {
  for (const KeyDef& d : all_keys()) {
    if (d.topic_name.empty()) continue;
    EXPECT_TRUE(is_topic_config_key(d.topic_name)) << d.topic_name;
  }
  EXPECT_EQ(TopicConfig{}.to_map().size(), 25u);  // with the two topic-only throttle lists
}

TEST(TopicConfig, OverridesAreCheckedByTheBrokerKeysRules) {
  TopicConfig t;
  EXPECT_EQ(set_topic_config(t, "retention.ms", "1000"), "");
  EXPECT_EQ(t.retention_ms, 1000);
  EXPECT_EQ(set_topic_config(t, "retention.ms", "-7"), "");
  EXPECT_EQ(t.retention_ms, -1);
  EXPECT_EQ(set_topic_config(t, "segment.bytes", "3"), "'segment.bytes': must be at least 14, got 3");
  EXPECT_EQ(t.segment_bytes, 1073741824);  // unchanged on error
  EXPECT_EQ(set_topic_config(t, "cleanup.policy", "compact,delete"), "");
  EXPECT_TRUE(t.compacted() && t.delete_by_retention());
  EXPECT_THAT(set_topic_config(t, "cleanup.policy", "shred"), HasSubstr("got 'shred'"));
  EXPECT_THAT(set_topic_config(t, "min.cleanable.dirty.ratio", "2"), HasSubstr("must be at most 1"));
  EXPECT_EQ(set_topic_config(t, "unclean.leader.election.enable", "maybe"),
            "'unclean.leader.election.enable': expected true or false, got 'maybe'");
}

// Kafka 3.x accepts the deprecated message.format.version on topics (tools
// and test suites still set it) and ignores it.
TEST(TopicConfig, MessageFormatVersionIsAcceptedWhenItIsAKafkaVersion) {
  TopicConfig t;
  EXPECT_EQ(set_topic_config(t, "message.format.version", "0.10.2-IV0"), "");
  EXPECT_EQ(t.message_format_version, "0.10.2-IV0");
  EXPECT_EQ(set_topic_config(t, "message.format.version", "2.8"), "");
  EXPECT_EQ(set_topic_config(t, "message.format.version", "latest"),
            "'message.format.version': 'latest' is not a Kafka version (such as 2.8, 3.0-IV1 or 3.9)");
  EXPECT_EQ(t.message_format_version, "2.8");
}

TEST(TopicConfig, UnknownTopicKeySuggestsTheKeyMeant) {
  TopicConfig t;
  EXPECT_EQ(set_topic_config(t, "retention.msx", "1"),
            "unknown topic config 'retention.msx' — did you mean 'retention.ms'?");
  // Broker-level spellings are not topic-level keys.
  EXPECT_THAT(set_topic_config(t, "log.retention.ms", "1"), HasSubstr("unknown topic config"));
}

TEST(TopicConfig, ApplyCollectsEveryBadKeyAndKeepsGoodOnes) {
  auto r = apply_topic_configs(TopicConfig{}, {{"retention.ms", "5"}, {"segment.bytes", "x"}, {"nope", "1"}});
  EXPECT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.config.retention_ms, 5);
}

}  // namespace
}  // namespace keel::config
