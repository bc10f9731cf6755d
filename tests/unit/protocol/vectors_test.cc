// Hand-checked byte vectors: each message below is written out byte by byte
// from Kafka's protocol guide (a comment per field), then decoded with the
// generated code (field values checked) and encoded again (bytes compared).
// These pin the encoding to Kafka's, independent of the generator's own
// round trips.

#include <gtest/gtest.h>

#include <string>

#include "protocol/generated/all.h"

namespace keel::protocol {
namespace {

template <typename T>
T decode_all(const Bytes& bytes, int16_t version) {
  ByteReader r{ByteView(bytes)};
  T msg;
  auto res = msg.decode(r, version);
  EXPECT_TRUE(res.ok()) << res.error().message();
  EXPECT_TRUE(r.at_end()) << r.remaining() << " bytes left over";
  return msg;
}

template <typename T>
Bytes encode(const T& msg, int16_t version) {
  ByteWriter w;
  msg.encode(w, version);
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.size(), msg.encoded_size(version));
  return w.take();
}

// Appends the characters of `s` (no length prefix).
void put(Bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes text(std::string_view s) {
  Bytes b;
  put(b, s);
  return b;
}

// ---------------------------------------------------------------- headers

TEST(Vectors, RequestHeaderV1HasInt16ClientId) {
  const Bytes bytes = cat({
      {0x00, 0x12},              // request_api_key = 18 (ApiVersions)
      {0x00, 0x00},              // request_api_version = 0
      {0x00, 0x00, 0x00, 0x2a},  // correlation_id = 42
      {0x00, 0x04}, text("kcat"),  // client_id: int16 length 4
  });
  auto h = decode_all<RequestHeader>(bytes, 1);
  EXPECT_EQ(h.request_api_key, 18);
  EXPECT_EQ(h.request_api_version, 0);
  EXPECT_EQ(h.correlation_id, 42);
  EXPECT_EQ(h.client_id, std::optional<std::string>("kcat"));
  EXPECT_EQ(encode(h, 1), bytes);
}

TEST(Vectors, RequestHeaderV2KeepsClassicClientIdAndAddsTags) {
  const Bytes bytes = cat({
      {0x00, 0x03},              // request_api_key = 3 (Metadata)
      {0x00, 0x0c},              // request_api_version = 12
      {0x00, 0x00, 0x00, 0x07},  // correlation_id = 7
      {0xff, 0xff},              // client_id = null (int16 -1, never compact)
      {0x00},                    // no tagged fields
  });
  auto h = decode_all<RequestHeader>(bytes, 2);
  EXPECT_EQ(h.request_api_key, 3);
  EXPECT_EQ(h.request_api_version, 12);
  EXPECT_EQ(h.correlation_id, 7);
  EXPECT_FALSE(h.client_id.has_value());
  EXPECT_EQ(encode(h, 2), bytes);
}

TEST(Vectors, HeaderVersionsFollowFlexibility) {
  EXPECT_EQ(request_header_version(18, 2), 1);
  EXPECT_EQ(request_header_version(18, 3), 2);
  EXPECT_EQ(request_header_version(3, 8), 1);
  EXPECT_EQ(request_header_version(3, 9), 2);
  EXPECT_EQ(request_header_version(7, 0), 0);  // ControlledShutdown v0
  EXPECT_EQ(response_header_version(3, 9), 1);
  EXPECT_EQ(response_header_version(3, 8), 0);
  EXPECT_EQ(response_header_version(18, 3), 0);  // ApiVersions: always v0
  ASSERT_NE(find_api(18), nullptr);
  EXPECT_EQ(find_api(18)->name, "ApiVersions");
  EXPECT_EQ(find_api(9999), nullptr);
}

// ------------------------------------------------------------ ApiVersions

TEST(Vectors, ApiVersionsRequestV0IsEmpty) {
  const Bytes bytes = {};
  auto req = decode_all<ApiVersionsRequest>(bytes, 0);
  EXPECT_EQ(req.client_software_name, "");
  EXPECT_EQ(encode(req, 0), bytes);
}

TEST(Vectors, ApiVersionsRequestV3) {
  const Bytes bytes = cat({
      {0x0b}, text("librdkafka"),  // client_software_name: compact, 10+1
      {0x06}, text("2.0.2"),       // client_software_version: compact, 5+1
      {0x00},                      // no tagged fields
  });
  auto req = decode_all<ApiVersionsRequest>(bytes, 3);
  EXPECT_EQ(req.client_software_name, "librdkafka");
  EXPECT_EQ(req.client_software_version, "2.0.2");
  EXPECT_EQ(encode(req, 3), bytes);
}

TEST(Vectors, ApiVersionsResponseV0) {
  const Bytes bytes = {
      0x00, 0x00,              // error_code = 0
      0x00, 0x00, 0x00, 0x02,  // api_keys: int32 count 2
      0x00, 0x12, 0x00, 0x00, 0x00, 0x03,  // ApiVersions 0..3
      0x00, 0x03, 0x00, 0x00, 0x00, 0x0c,  // Metadata 0..12
  };
  auto resp = decode_all<ApiVersionsResponse>(bytes, 0);
  EXPECT_EQ(resp.error_code, 0);
  ASSERT_EQ(resp.api_keys.size(), 2u);
  EXPECT_EQ(resp.api_keys[0].api_key, 18);
  EXPECT_EQ(resp.api_keys[0].max_version, 3);
  EXPECT_EQ(resp.api_keys[1].api_key, 3);
  EXPECT_EQ(resp.api_keys[1].max_version, 12);
  EXPECT_EQ(encode(resp, 0), bytes);
}

TEST(Vectors, ApiVersionsResponseV3WithTaggedEpoch) {
  const Bytes bytes = {
      0x00, 0x00,                          // error_code = 0
      0x02,                                // api_keys: compact count 1+1
      0x00, 0x12, 0x00, 0x00, 0x00, 0x03,  // ApiVersions 0..3
      0x00,                                //   element tagged fields: none
      0x00, 0x00, 0x00, 0x00,              // throttle_time_ms = 0
      0x01,                                // one tagged field
      0x01, 0x08,                          //   tag 1 (FinalizedFeaturesEpoch), 8 bytes
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // epoch = 5
  };
  auto resp = decode_all<ApiVersionsResponse>(bytes, 3);
  ASSERT_EQ(resp.api_keys.size(), 1u);
  EXPECT_EQ(resp.api_keys[0].api_key, 18);
  EXPECT_EQ(resp.finalized_features_epoch, 5);
  EXPECT_TRUE(resp.supported_features.empty());
  EXPECT_TRUE(resp.unknown_tagged_fields.empty());
  EXPECT_EQ(encode(resp, 3), bytes);

  // At its default (-1) the tagged field is not written at all.
  resp.finalized_features_epoch = -1;
  const Bytes without = encode(resp, 3);
  EXPECT_EQ(without.size(), bytes.size() - 10);
  EXPECT_EQ(without.back(), 0x00);
}

TEST(Vectors, UnknownTaggedFieldSurvivesARoundTrip) {
  // ApiVersionsRequest v3: two empty compact strings, then one tagged field
  // with tag 7 (unknown to this schema) carrying two bytes.
  const Bytes with_unknown = {0x01, 0x01, 0x01, 0x07, 0x02, 0xab, 0xcd};
  auto req = decode_all<ApiVersionsRequest>(with_unknown, 3);
  ASSERT_EQ(req.unknown_tagged_fields.size(), 1u);
  EXPECT_EQ(req.unknown_tagged_fields[0].tag, 7u);
  EXPECT_EQ(req.unknown_tagged_fields[0].data, (Bytes{0xab, 0xcd}));
  EXPECT_EQ(encode(req, 3), with_unknown);
}

// --------------------------------------------------------------- Metadata

TEST(Vectors, MetadataRequestV1) {
  const Bytes bytes = cat({
      {0x00, 0x00, 0x00, 0x01},    // topics: int32 count 1
      {0x00, 0x03}, text("foo"),   //   name: int16 length 3
  });
  auto req = decode_all<MetadataRequest>(bytes, 1);
  ASSERT_TRUE(req.topics.has_value());
  ASSERT_EQ(req.topics->size(), 1u);
  EXPECT_EQ((*req.topics)[0].name, std::optional<std::string>("foo"));
  EXPECT_EQ(encode(req, 1), bytes);

  // Null topics (all topics) is int32 -1 from v1 on.
  const Bytes all = {0xff, 0xff, 0xff, 0xff};
  auto req_all = decode_all<MetadataRequest>(all, 1);
  EXPECT_FALSE(req_all.topics.has_value());
  EXPECT_EQ(encode(req_all, 1), all);
}

TEST(Vectors, MetadataRequestV0RejectsNullTopics) {
  const Bytes bytes = {0xff, 0xff, 0xff, 0xff};
  ByteReader r{ByteView(bytes)};
  MetadataRequest req;
  auto res = req.decode(r, 0);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), make_error_code(WireErrc::kNullNotAllowed));
}

TEST(Vectors, MetadataRequestV9) {
  const Bytes bytes = cat({
      {0x02},                  // topics: compact count 1+1
      {0x04}, text("foo"),     //   name: compact 3+1
      {0x00},                  //   no tagged fields
      {0x01},                  // allow_auto_topic_creation = true
      {0x00},                  // include_cluster_authorized_operations = false
      {0x01},                  // include_topic_authorized_operations = true
      {0x00},                  // no tagged fields
  });
  auto req = decode_all<MetadataRequest>(bytes, 9);
  ASSERT_TRUE(req.topics.has_value());
  EXPECT_EQ((*req.topics)[0].name, std::optional<std::string>("foo"));
  EXPECT_TRUE(req.allow_auto_topic_creation);
  EXPECT_FALSE(req.include_cluster_authorized_operations);
  EXPECT_TRUE(req.include_topic_authorized_operations);
  EXPECT_EQ(encode(req, 9), bytes);
}

TEST(Vectors, MetadataRequestV12ByTopicId) {
  const Bytes bytes = cat({
      {0x02},                   // topics: compact count 1+1
      {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
       0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10},  // topic_id
      {0x00},                   //   name = null (compact 0)
      {0x00},                   //   no tagged fields
      {0x00},                   // allow_auto_topic_creation = false
      {0x00},                   // include_topic_authorized_operations = false
      {0x00},                   // no tagged fields
  });
  auto req = decode_all<MetadataRequest>(bytes, 12);
  ASSERT_EQ(req.topics->size(), 1u);
  const auto& t = (*req.topics)[0];
  EXPECT_EQ(t.topic_id.bytes[0], 0x01);
  EXPECT_EQ(t.topic_id.bytes[15], 0x10);
  EXPECT_FALSE(t.name.has_value());
  EXPECT_FALSE(req.allow_auto_topic_creation);
  EXPECT_EQ(encode(req, 12), bytes);
}

TEST(Vectors, MetadataResponseV1) {
  const Bytes bytes = cat({
      {0x00, 0x00, 0x00, 0x01},        // brokers: count 1
      {0x00, 0x00, 0x00, 0x00},        //   node_id = 0
      {0x00, 0x09}, text("127.0.0.1"), //   host
      {0x00, 0x00, 0x23, 0x84},        //   port = 9092
      {0xff, 0xff},                    //   rack = null
      {0x00, 0x00, 0x00, 0x00},        // controller_id = 0
      {0x00, 0x00, 0x00, 0x01},        // topics: count 1
      {0x00, 0x03},                    //   error_code = 3 (UNKNOWN_TOPIC_OR_PARTITION)
      {0x00, 0x03}, text("foo"),       //   name
      {0x00},                          //   is_internal = false
      {0x00, 0x00, 0x00, 0x00},        //   partitions: count 0
  });
  auto resp = decode_all<MetadataResponse>(bytes, 1);
  ASSERT_EQ(resp.brokers.size(), 1u);
  EXPECT_EQ(resp.brokers[0].host, "127.0.0.1");
  EXPECT_EQ(resp.brokers[0].port, 9092);
  EXPECT_FALSE(resp.brokers[0].rack.has_value());
  EXPECT_EQ(resp.controller_id, 0);
  EXPECT_FALSE(resp.cluster_id.has_value());  // not in v1
  ASSERT_EQ(resp.topics.size(), 1u);
  EXPECT_EQ(resp.topics[0].error_code, 3);
  EXPECT_EQ(encode(resp, 1), bytes);
}

TEST(Vectors, MetadataResponseV9) {
  const Bytes bytes = cat({
      {0x00, 0x00, 0x00, 0x00},        // throttle_time_ms
      {0x02},                          // brokers: compact count 1+1
      {0x00, 0x00, 0x00, 0x01},        //   node_id = 1
      {0x0a}, text("localhost"),       //   host: compact 9+1
      {0x00, 0x00, 0x23, 0x84},        //   port = 9092
      {0x03}, text("r1"),              //   rack = "r1"
      {0x00},                          //   no tagged fields
      {0x05}, text("abcd"),            // cluster_id = "abcd"
      {0x00, 0x00, 0x00, 0x01},        // controller_id = 1
      {0x02},                          // topics: compact count 1+1
      {0x00, 0x00},                    //   error_code
      {0x02}, text("t"),               //   name = "t"
      {0x00},                          //   is_internal = false
      {0x02},                          //   partitions: compact count 1+1
      {0x00, 0x00},                    //     error_code
      {0x00, 0x00, 0x00, 0x00},        //     partition_index = 0
      {0x00, 0x00, 0x00, 0x01},        //     leader_id = 1
      {0x00, 0x00, 0x00, 0x05},        //     leader_epoch = 5
      {0x02, 0x00, 0x00, 0x00, 0x01},  //     replica_nodes = [1]
      {0x02, 0x00, 0x00, 0x00, 0x01},  //     isr_nodes = [1]
      {0x01},                          //     offline_replicas = []
      {0x00},                          //     no tagged fields
      {0x80, 0x00, 0x00, 0x00},        //   topic_authorized_operations = INT32_MIN
      {0x00},                          //   no tagged fields
      {0x80, 0x00, 0x00, 0x00},        // cluster_authorized_operations = INT32_MIN
      {0x00},                          // no tagged fields
  });
  auto resp = decode_all<MetadataResponse>(bytes, 9);
  EXPECT_EQ(resp.brokers[0].node_id, 1);
  EXPECT_EQ(resp.brokers[0].rack, std::optional<std::string>("r1"));
  EXPECT_EQ(resp.cluster_id, std::optional<std::string>("abcd"));
  const auto& p = resp.topics.at(0).partitions.at(0);
  EXPECT_EQ(p.leader_epoch, 5);
  EXPECT_EQ(p.isr_nodes, (std::vector<int32_t>{1}));
  EXPECT_EQ(resp.topics[0].topic_authorized_operations, INT32_MIN);
  EXPECT_EQ(encode(resp, 9), bytes);
}

TEST(Vectors, MetadataResponseV12) {
  const Bytes bytes = cat({
      {0x00, 0x00, 0x00, 0x00},        // throttle_time_ms
      {0x01},                          // brokers: none (compact 0+1)
      {0x00},                          // cluster_id = null
      {0xff, 0xff, 0xff, 0xff},        // controller_id = -1
      {0x02},                          // topics: compact count 1+1
      {0x00, 0x64},                    //   error_code = 100 (UNKNOWN_TOPIC_ID)
      {0x00},                          //   name = null (nullable from v12)
      {0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
       0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa},  // topic_id
      {0x00},                          //   is_internal = false
      {0x01},                          //   partitions: none
      {0x80, 0x00, 0x00, 0x00},        //   topic_authorized_operations
      {0x00},                          //   no tagged fields
      {0x00},                          // no tagged fields (no cluster ops in v11+)
  });
  auto resp = decode_all<MetadataResponse>(bytes, 12);
  EXPECT_TRUE(resp.brokers.empty());
  EXPECT_FALSE(resp.cluster_id.has_value());
  EXPECT_EQ(resp.controller_id, -1);
  EXPECT_EQ(resp.topics.at(0).error_code, 100);
  EXPECT_FALSE(resp.topics[0].name.has_value());
  EXPECT_EQ(resp.topics[0].topic_id.bytes[7], 0xaa);
  EXPECT_EQ(encode(resp, 12), bytes);
}

// ---------------------------------------------------------------- Produce

// A stand-in for a record batch: the protocol layer treats records as opaque.
const Bytes kBlob = {0xde, 0xad, 0xbe, 0xef, 0x01};

TEST(Vectors, ProduceRequestV3) {
  const Bytes bytes = cat({
      {0xff, 0xff},                    // transactional_id = null
      {0xff, 0xff},                    // acks = -1
      {0x00, 0x00, 0x75, 0x30},        // timeout_ms = 30000
      {0x00, 0x00, 0x00, 0x01},        // topic_data: count 1
      {0x00, 0x05}, text("event"),     //   name
      {0x00, 0x00, 0x00, 0x01},        //   partition_data: count 1
      {0x00, 0x00, 0x00, 0x02},        //     index = 2
      {0x00, 0x00, 0x00, 0x05}, kBlob, //     records: int32 length 5
  });
  auto req = decode_all<ProduceRequest>(bytes, 3);
  EXPECT_FALSE(req.transactional_id.has_value());
  EXPECT_EQ(req.acks, -1);
  EXPECT_EQ(req.timeout_ms, 30000);
  ASSERT_EQ(req.topic_data.size(), 1u);
  EXPECT_EQ(req.topic_data[0].name, "event");
  const auto& pd = req.topic_data[0].partition_data.at(0);
  EXPECT_EQ(pd.index, 2);
  ASSERT_TRUE(pd.records.has_value());
  EXPECT_EQ(Bytes(pd.records->bytes().begin(), pd.records->bytes().end()), kBlob);
  // The records are a view into the request bytes, not a copy.
  EXPECT_EQ(pd.records->bytes().data(), bytes.data() + bytes.size() - kBlob.size());
  EXPECT_EQ(encode(req, 3), bytes);
}

TEST(Vectors, ProduceRequestV9) {
  const Bytes bytes = cat({
      {0x04}, text("txn"),             // transactional_id: compact 3+1
      {0x00, 0x01},                    // acks = 1
      {0x00, 0x00, 0x03, 0xe8},        // timeout_ms = 1000
      {0x02},                          // topic_data: compact count 1+1
      {0x02}, text("t"),               //   name
      {0x02},                          //   partition_data: compact 1+1
      {0x00, 0x00, 0x00, 0x00},        //     index = 0
      {0x06}, kBlob,                   //     records: compact length 5+1
      {0x00},                          //     no tagged fields
      {0x00},                          //   no tagged fields
      {0x00},                          // no tagged fields
  });
  auto req = decode_all<ProduceRequest>(bytes, 9);
  EXPECT_EQ(req.transactional_id, std::optional<std::string>("txn"));
  EXPECT_EQ(req.acks, 1);
  EXPECT_EQ(req.topic_data.at(0).partition_data.at(0).records->size(), 5u);
  EXPECT_EQ(encode(req, 9), bytes);
}

TEST(Vectors, ProduceResponseV9) {
  const Bytes bytes = cat({
      {0x02},                          // responses: compact 1+1
      {0x02}, text("t"),               //   name
      {0x02},                          //   partition_responses: compact 1+1
      {0x00, 0x00, 0x00, 0x00},        //     index
      {0x00, 0x00},                    //     error_code
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a},  // base_offset = 42
      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},  // log_append_time_ms = -1
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // log_start_offset = 0
      {0x01},                          //     record_errors: none
      {0x00},                          //     error_message = null
      {0x00},                          //     no tagged fields
      {0x00},                          //   no tagged fields
      {0x00, 0x00, 0x00, 0x00},        // throttle_time_ms
      {0x00},                          // no tagged fields
  });
  auto resp = decode_all<ProduceResponse>(bytes, 9);
  const auto& pr = resp.responses.at(0).partition_responses.at(0);
  EXPECT_EQ(pr.base_offset, 42);
  EXPECT_EQ(pr.log_append_time_ms, -1);
  EXPECT_EQ(pr.log_start_offset, 0);
  EXPECT_FALSE(pr.error_message.has_value());
  EXPECT_EQ(encode(resp, 9), bytes);
}

// ------------------------------------------------------------------ Fetch

TEST(Vectors, FetchRequestV4) {
  const Bytes bytes = cat({
      {0xff, 0xff, 0xff, 0xff},        // replica_id = -1 (a consumer)
      {0x00, 0x00, 0x01, 0xf4},        // max_wait_ms = 500
      {0x00, 0x00, 0x00, 0x01},        // min_bytes = 1
      {0x03, 0x20, 0x00, 0x00},        // max_bytes = 52428800
      {0x01},                          // isolation_level = 1 (read committed)
      {0x00, 0x00, 0x00, 0x01},        // topics: count 1
      {0x00, 0x03}, text("foo"),       //   topic
      {0x00, 0x00, 0x00, 0x01},        //   partitions: count 1
      {0x00, 0x00, 0x00, 0x00},        //     partition = 0
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10},  // fetch_offset = 16
      {0x00, 0x10, 0x00, 0x00},        //     partition_max_bytes = 1048576
  });
  auto req = decode_all<FetchRequest>(bytes, 4);
  EXPECT_EQ(req.replica_id, -1);
  EXPECT_EQ(req.max_wait_ms, 500);
  EXPECT_EQ(req.max_bytes, 52428800);
  EXPECT_EQ(req.isolation_level, 1);
  EXPECT_EQ(req.topics.at(0).topic, "foo");
  EXPECT_EQ(req.topics[0].partitions.at(0).fetch_offset, 16);
  EXPECT_EQ(req.topics[0].partitions[0].partition_max_bytes, 1048576);
  EXPECT_EQ(encode(req, 4), bytes);
}

TEST(Vectors, FetchRequestV12WithTaggedClusterId) {
  const Bytes bytes = cat({
      {0xff, 0xff, 0xff, 0xff},        // replica_id = -1
      {0x00, 0x00, 0x01, 0xf4},        // max_wait_ms = 500
      {0x00, 0x00, 0x00, 0x01},        // min_bytes = 1
      {0x7f, 0xff, 0xff, 0xff},        // max_bytes = INT32_MAX
      {0x00},                          // isolation_level = 0
      {0x00, 0x00, 0x00, 0x07},        // session_id = 7
      {0x00, 0x00, 0x00, 0x02},        // session_epoch = 2
      {0x02},                          // topics: compact 1+1
      {0x04}, text("foo"),             //   topic: compact 3+1
      {0x02},                          //   partitions: compact 1+1
      {0x00, 0x00, 0x00, 0x01},        //     partition = 1
      {0xff, 0xff, 0xff, 0xff},        //     current_leader_epoch = -1
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64},  // fetch_offset = 100
      {0xff, 0xff, 0xff, 0xff},        //     last_fetched_epoch = -1
      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},  // log_start_offset = -1
      {0x00, 0x10, 0x00, 0x00},        //     partition_max_bytes
      {0x00},                          //     no tagged fields
      {0x00},                          //   no tagged fields
      {0x01},                          // forgotten_topics_data: none
      {0x01},                          // rack_id = ""
      {0x01},                          // one tagged field
      {0x00, 0x03},                    //   tag 0 (ClusterId), 3 bytes
      {0x03}, text("ab"),              //   cluster_id: compact 2+1
  });
  auto req = decode_all<FetchRequest>(bytes, 12);
  EXPECT_EQ(req.cluster_id, std::optional<std::string>("ab"));
  EXPECT_EQ(req.session_id, 7);
  EXPECT_EQ(req.session_epoch, 2);
  const auto& p = req.topics.at(0).partitions.at(0);
  EXPECT_EQ(p.partition, 1);
  EXPECT_EQ(p.fetch_offset, 100);
  EXPECT_EQ(p.last_fetched_epoch, -1);
  EXPECT_TRUE(req.forgotten_topics_data.empty());
  EXPECT_EQ(encode(req, 12), bytes);
}

TEST(Vectors, FetchResponseV4) {
  const Bytes bytes = cat({
      {0x00, 0x00, 0x00, 0x00},        // throttle_time_ms
      {0x00, 0x00, 0x00, 0x01},        // responses: count 1
      {0x00, 0x03}, text("foo"),       //   topic
      {0x00, 0x00, 0x00, 0x01},        //   partitions: count 1
      {0x00, 0x00, 0x00, 0x00},        //     partition_index
      {0x00, 0x00},                    //     error_code
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20},  // high_watermark = 32
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20},  // last_stable_offset = 32
      {0xff, 0xff, 0xff, 0xff},        //     aborted_transactions = null
      {0x00, 0x00, 0x00, 0x05}, kBlob, //     records
  });
  auto resp = decode_all<FetchResponse>(bytes, 4);
  const auto& p = resp.responses.at(0).partitions.at(0);
  EXPECT_EQ(p.high_watermark, 32);
  EXPECT_EQ(p.last_stable_offset, 32);
  EXPECT_FALSE(p.aborted_transactions.has_value());
  EXPECT_EQ(p.records->size(), 5u);
  EXPECT_EQ(encode(resp, 4), bytes);
}

TEST(Vectors, FetchResponseV12WithTaggedDivergingEpoch) {
  const Bytes bytes = cat({
      {0x00, 0x00, 0x00, 0x00},        // throttle_time_ms
      {0x00, 0x00},                    // error_code
      {0x00, 0x00, 0x00, 0x07},        // session_id = 7
      {0x02},                          // responses: compact 1+1
      {0x04}, text("foo"),             //   topic
      {0x02},                          //   partitions: compact 1+1
      {0x00, 0x00, 0x00, 0x00},        //     partition_index
      {0x00, 0x00},                    //     error_code
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20},  // high_watermark
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20},  // last_stable_offset
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // log_start_offset
      {0x00},                          //     aborted_transactions = null
      {0xff, 0xff, 0xff, 0xff},        //     preferred_read_replica = -1
      {0x06}, kBlob,                   //     records: compact 5+1
      {0x01},                          //     one tagged field
      {0x00, 0x0d},                    //       tag 0 (DivergingEpoch), 13 bytes
      {0x00, 0x00, 0x00, 0x03},        //         epoch = 3
      {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10},  // end_offset = 16
      {0x00},                          //         no tagged fields
      {0x00},                          //   no tagged fields
      {0x00},                          // no tagged fields
  });
  auto resp = decode_all<FetchResponse>(bytes, 12);
  const auto& p = resp.responses.at(0).partitions.at(0);
  EXPECT_EQ(p.diverging_epoch.epoch, 3);
  EXPECT_EQ(p.diverging_epoch.end_offset, 16);
  EXPECT_EQ(p.current_leader.leader_id, -1);  // absent: default
  EXPECT_EQ(encode(resp, 12), bytes);
}

// ----------------------------------------------------- lies and truncation

TEST(Vectors, LyingArrayCountIsACleanError) {
  const Bytes bytes = {0x7f, 0xff, 0xff, 0xff, 0x00, 0x01};  // topics: 2^31-1 elements
  ByteReader r{ByteView(bytes)};
  MetadataRequest req;
  auto res = req.decode(r, 1);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), make_error_code(WireErrc::kBadLength));
}

TEST(Vectors, LyingStringLengthIsACleanError) {
  const Bytes bytes = {0x00, 0x00, 0x00, 0x01, 0x7f, 0xff, 'f', 'o', 'o'};
  ByteReader r{ByteView(bytes)};
  MetadataRequest req;
  EXPECT_FALSE(req.decode(r, 1).ok());
}

TEST(Vectors, NegativeLengthOtherThanNullIsMalformed) {
  const Bytes bytes = {0xff, 0xff, 0xff, 0xfe};  // topics count -2
  ByteReader r{ByteView(bytes)};
  MetadataRequest req;
  auto res = req.decode(r, 1);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), make_error_code(WireErrc::kBadLength));
}

TEST(Vectors, LyingCompactRecordsLengthIsACleanError) {
  const Bytes bytes = cat({
      {0x00}, {0x00, 0x01}, {0x00, 0x00, 0x03, 0xe8}, {0x02}, {0x02}, text("t"), {0x02},
      {0x00, 0x00, 0x00, 0x00},
      {0xff, 0xff, 0xff, 0xff, 0x0f},  // records: compact length 2^32-2, five bytes follow
      kBlob,
  });
  ByteReader r{ByteView(bytes)};
  ProduceRequest req;
  auto res = req.decode(r, 9);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), make_error_code(WireErrc::kTruncated));
}

TEST(Vectors, OverlongVarintIsMalformed) {
  const Bytes bytes = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};  // a six-byte uvarint
  ByteReader r{ByteView(bytes)};
  ApiVersionsRequest req;
  auto res = req.decode(r, 3);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error(), make_error_code(WireErrc::kMalformedVarint));
}

TEST(Vectors, NullInANonNullableVersionRefusesToEncode) {
  MetadataResponse resp;
  resp.topics.emplace_back().name = std::nullopt;  // nullable only from v12
  ByteWriter w;
  resp.encode(w, 11);
  EXPECT_FALSE(w.ok());
  ByteWriter w12;
  resp.encode(w12, 12);
  EXPECT_TRUE(w12.ok());
}

}  // namespace
}  // namespace keel::protocol
