// Kafka's ZooKeeper payloads: what Keel writes matches the layout document's
// shapes (Kafka's key names, numbers Kafka writes as strings), and what
// Kafka writes decodes — including older versions and unknown keys.

#include "coord/kafka_layout.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/json_util.h"

namespace keel::coord {
namespace {

ByteView view(const std::string& s) { return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }
boost::json::object obj(const Bytes& b) { return json::parse(text(b)).value().as_object(); }

TEST(KafkaLayout, BrokerRegistrationIsVersion5WithKafkasFields) {
  BrokerRegistration b;
  b.id = 3;
  b.endpoints = {{"CLIENT", "h1.example", 9092, "SASL_SSL"}, {"PLAINTEXT", "h1.example", 9093, "PLAINTEXT"}};
  b.rack = "dc1";
  b.timestamp_ms = 1700000000000;
  auto v = obj(encode_broker_registration(b));
  EXPECT_EQ(v.at("version").as_int64(), 5);
  EXPECT_EQ(v.at("host").as_string(), "h1.example") << "host/port: the PLAINTEXT endpoint";
  EXPECT_EQ(v.at("port").as_int64(), 9093);
  EXPECT_EQ(v.at("timestamp").as_string(), "1700000000000") << "a string, as Kafka writes it";
  EXPECT_EQ(v.at("jmx_port").as_int64(), -1);
  EXPECT_EQ(v.at("rack").as_string(), "dc1");
  ASSERT_EQ(v.at("endpoints").as_array().size(), 2u);
  EXPECT_EQ(v.at("endpoints").as_array()[0].as_string(), "CLIENT://h1.example:9092");
  EXPECT_EQ(v.at("listener_security_protocol_map").as_object().at("CLIENT").as_string(), "SASL_SSL");
  auto back = decode_broker_registration(3, ByteView(encode_broker_registration(b)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->endpoints, b.endpoints);
  EXPECT_EQ(back->rack, b.rack);
}

TEST(KafkaLayout, BrokerRegistrationFromKafkaDecodesIncludingIpv6AndNoMap) {
  const std::string kafka =
      R"({"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://[::1]:9092"],"jmx_port":-1,"port":9092,"host":"::1","version":5,"timestamp":"1700000000000","unknown":true})";
  auto b = decode_broker_registration(0, view(kafka));
  ASSERT_TRUE(b);
  ASSERT_EQ(b->endpoints.size(), 1u);
  EXPECT_EQ(b->endpoints[0].host, "::1");
  EXPECT_EQ(b->endpoints[0].port, 9092);
  auto old = decode_broker_registration(1, view(R"({"version":4,"endpoints":["SSL://h:9093"],"host":null,"port":-1})"));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->endpoints[0].security_protocol, "SSL") << "no map: the listener name is the protocol";
  EXPECT_FALSE(decode_broker_registration(1, view(R"({"version":0,"endpoints":[]})"))) << "version >= 1 required";
  EXPECT_FALSE(decode_broker_registration(1, view("not json")));
  EXPECT_FALSE(decode_broker_registration(1, view(R"({"version":5,"endpoints":["nohost"]})")));
}

TEST(KafkaLayout, ControllerAndEpochAndClusterId) {
  auto c = obj(encode_controller({2, 1700000000000}));
  EXPECT_EQ(c.at("version").as_int64(), 2);
  EXPECT_EQ(c.at("brokerid").as_int64(), 2);
  EXPECT_EQ(c.at("timestamp").as_string(), "1700000000000");
  EXPECT_EQ(c.at("kraftControllerEpoch").as_int64(), -1);
  EXPECT_EQ(decode_controller(view(R"({"version":1,"brokerid":7,"timestamp":"1"})"))->broker_id, 7);
  EXPECT_EQ(text(encode_controller_epoch(7)), "7") << "plain decimal text, not JSON";
  EXPECT_EQ(*decode_controller_epoch(view("12")), 12);
  EXPECT_FALSE(decode_controller_epoch(view("12x")));
  EXPECT_FALSE(decode_controller_epoch(view("")));
  auto id = obj(encode_cluster_id("abc"));
  EXPECT_EQ(id.at("version").as_string(), "1") << "version is a string here";
  EXPECT_EQ(*decode_cluster_id(view(R"({"version":"1","id":"xyz"})")), "xyz");
}

TEST(KafkaLayout, TopicAssignmentVersion3AndOlderVersions) {
  TopicAssignment a;
  a.topic_id = "AAAAAAAAAAAAAAAAAAAAAQ";
  a.partitions = {{0, {1, 2, 3}}, {1, {2, 3, 1}}};
  a.adding_replicas = {{0, {4}}};
  auto v = obj(encode_topic_assignment(a));
  EXPECT_EQ(v.at("version").as_int64(), 3);
  EXPECT_EQ(v.at("topic_id").as_string(), a.topic_id);
  EXPECT_EQ(v.at("partitions").as_object().at("1").as_array()[0].as_int64(), 2) << "replica order kept";
  EXPECT_EQ(*decode_topic_assignment(ByteView(encode_topic_assignment(a))), a);
  auto v1 = decode_topic_assignment(view(R"({"version":1,"partitions":{"0":[0],"2":[1]}})"));
  ASSERT_TRUE(v1);
  EXPECT_TRUE(v1->topic_id.empty());
  EXPECT_EQ(v1->partitions.size(), 2u);
  EXPECT_FALSE(decode_topic_assignment(view(R"({"version":3,"partitions":{"x":[0]}})")));
  EXPECT_FALSE(decode_topic_assignment(view(R"({"version":3})")));
}

TEST(KafkaLayout, PartitionStateWritesRecoveryStateOnlyWhenRecovering) {
  PartitionState s{2, 5, 7, {2, 3, 1}, false};
  auto v = obj(encode_partition_state(s));
  EXPECT_EQ(v.at("version").as_int64(), 1);
  EXPECT_EQ(v.at("leader").as_int64(), 2);
  EXPECT_EQ(v.at("leader_epoch").as_int64(), 5);
  EXPECT_EQ(v.at("controller_epoch").as_int64(), 7);
  EXPECT_FALSE(v.contains("leader_recovery_state"));
  s.recovering = true;
  EXPECT_EQ(obj(encode_partition_state(s)).at("leader_recovery_state").as_int64(), 1);
  auto kafka = decode_partition_state(view(R"({"controller_epoch":7,"leader":-2,"version":1,"leader_epoch":5,"isr":[2,3,1]})"));
  ASSERT_TRUE(kafka);
  EXPECT_EQ(kafka->leader, -2);
  EXPECT_EQ(kafka->isr, (std::vector<int32_t>{2, 3, 1}));
  EXPECT_FALSE(decode_partition_state(view(R"({"leader":1,"isr":[1]})"))) << "leader_epoch is required";
}

TEST(KafkaLayout, ConfigsChangesAndProducerIdBlocks) {
  auto c = obj(encode_entity_config({{"retention.ms", "86400000"}}));
  EXPECT_EQ(c.at("version").as_int64(), 1);
  EXPECT_EQ(c.at("config").as_object().at("retention.ms").as_string(), "86400000");
  EXPECT_EQ(decode_entity_config(view(R"({"version":1,"config":{}})"))->size(), 0u);
  EXPECT_FALSE(decode_entity_config(view(R"({"version":1,"config":{"a":1}})"))) << "values are strings";
  EXPECT_EQ(*decode_config_change(ByteView(encode_config_change("topics/foo"))), "topics/foo");
  EXPECT_EQ(*decode_config_change(view(R"({"version":1,"entity_type":"topics","entity_name":"bar"})")), "topics/bar");
  auto b = obj(encode_producer_id_block({2, 4000, 4999}));
  EXPECT_EQ(b.at("block_start").as_string(), "4000");
  EXPECT_EQ(b.at("block_end").as_string(), "4999");
  EXPECT_EQ(*decode_producer_id_block(view(R"({"version":1,"broker":2,"block_start":"4000","block_end":"4999"})")),
            (ProducerIdBlock{2, 4000, 4999}));
}

// Our writes, byte for byte as the layout doc shows Kafka's (keys in Kafka's order).
TEST(KafkaLayout, EncodedPayloadsAreByteForByteKafkas) {
  BrokerRegistration b;
  b.id = 1;
  b.endpoints = {{"CLIENT", "h1.example", 9092, "SASL_SSL"}, {"REPLICATION", "h1.example", 9093, "PLAINTEXT"}};
  b.rack = "dc1";
  b.timestamp_ms = 1700000000000;
  const std::string reg = text(encode_broker_registration(b));
  EXPECT_EQ(reg,
            R"({"version":5,"host":"h1.example","port":9093,"endpoints":["CLIENT://h1.example:9092","REPLICATION://h1.example:9093"],"listener_security_protocol_map":{"CLIENT":"SASL_SSL","REPLICATION":"PLAINTEXT"},"jmx_port":-1,"timestamp":"1700000000000","rack":"dc1","features":{}})")
      << "host/port: the endpoint whose protocol is PLAINTEXT, as Kafka";

  TopicAssignment a;
  a.topic_id = "vFi0Qd7JRgOK1YuUWmQeNw";
  a.partitions = {{0, {1, 2, 3}}, {1, {2, 3, 1}}};
  a.adding_replicas = {{0, {4}}};
  a.removing_replicas = {{0, {1}}};
  EXPECT_EQ(text(encode_topic_assignment(a)),
            R"({"version":3,"topic_id":"vFi0Qd7JRgOK1YuUWmQeNw","partitions":{"0":[1,2,3],"1":[2,3,1]},"adding_replicas":{"0":[4]},"removing_replicas":{"0":[1]}})");
  EXPECT_EQ(text(encode_partition_state({2, 5, 7, {2, 3, 1}, false})),
            R"({"version":1,"leader":2,"leader_epoch":5,"controller_epoch":7,"isr":[2,3,1]})");
  EXPECT_EQ(text(encode_entity_config({{"retention.ms", "86400000"}})),
            R"({"version":1,"config":{"retention.ms":"86400000"}})");
  EXPECT_EQ(text(encode_config_change("topics/foo")), R"({"version":2,"entity_path":"topics/foo"})");
  EXPECT_EQ(text(encode_producer_id_block({2, 4000, 4999})),
            R"({"version":1,"broker":2,"block_start":"4000","block_end":"4999"})");
  EXPECT_EQ(text(encode_cluster_id("abc")), R"({"version":"1","id":"abc"})");
  EXPECT_EQ(text(encode_controller({7, 1700000000000})),
            R"({"version":2,"brokerid":7,"timestamp":"1700000000000","kraftControllerEpoch":-1})");
}

TEST(KafkaLayout, UuidBase64IsKafkasUrlSafeFormWithoutPadding) {
  std::array<uint8_t, 16> one{};
  one[15] = 1;
  EXPECT_EQ(uuid_to_base64(one), "AAAAAAAAAAAAAAAAAAAAAQ");
  std::array<uint8_t, 16> ff;
  ff.fill(0xff);
  EXPECT_EQ(uuid_to_base64(ff), "_____________________w") << "'-' and '_', not '+' and '/'";
  EXPECT_EQ(*uuid_from_base64("AAAAAAAAAAAAAAAAAAAAAQ"), one);
  EXPECT_FALSE(uuid_from_base64("AAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(uuid_from_base64("AAAAAAAAAAAAAAAAAAAA+Q"));
  EXPECT_FALSE(uuid_from_base64("AAAAAAAAAAAAAAAAAAAAAR")) << "non-zero padding bits";
}

TEST(KafkaLayout, PathsAreKafkas) {
  EXPECT_EQ(paths::broker(3), "/brokers/ids/3");
  EXPECT_EQ(paths::partition_state("t", 2), "/brokers/topics/t/partitions/2/state");
  EXPECT_EQ(paths::topic_config("t"), "/config/topics/t");
  EXPECT_EQ(paths::delete_topic("t"), "/admin/delete_topics/t");
  EXPECT_EQ(paths::persistent_paths().size(), 14u);
}

}  // namespace
}  // namespace keel::coord
