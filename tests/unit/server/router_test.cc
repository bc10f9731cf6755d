#include "server/router.h"

#include <gtest/gtest.h>

#include "cluster/metadata_cache.h"
#include "protocol/generated/all.h"

namespace keel::server {
namespace {

using namespace keel::protocol;

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : router_(identity_, config_, services_) {
    identity_.broker_id = 7;
    identity_.cluster_id = "AAAAAAAAAAAAAAAAAAAAAA";
    identity_.advertised_listeners = {{"PLAINTEXT", "broker7.example", 9093, "PLAINTEXT"},
                                      {"INTERNAL", "10.0.0.7", 9094, "PLAINTEXT"}};
    // What the controller would have published for this one broker.
    cluster::BrokerInfo self;
    self.id = 7;
    self.endpoints = {{"PLAINTEXT", "broker7.example", 9093, "PLAINTEXT"},
                      {"INTERNAL", "10.0.0.7", 9094, "PLAINTEXT"}};
    metadata_.set_brokers({{7, self}}, 7);
    services_.metadata = &metadata_;
    conn_.peer = "127.0.0.1:5000";
    conn_.listener_name = "PLAINTEXT";
  }

  // Sends `request` (header + body at `version`), returns the response body
  // after checking the correlation id; empty optional if the router closes.
  template <typename Req>
  std::optional<Bytes> call(int16_t api_key, int16_t version, const Req& request,
                            int32_t correlation_id = 99) {
    RequestHeader header;
    header.request_api_key = api_key;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = "test";
    ByteWriter w;
    header.encode(w, request_header_version(api_key, version));
    request.encode(w, version);
    auto resp = router_.handle_frame(conn_, ByteView(w.buffer()));
    if (resp.close_after) return std::nullopt;
    EXPECT_EQ(resp.chunks.size(), 1u);
    const Bytes& frame = resp.chunks[0];
    ByteReader r{ByteView(frame)};
    EXPECT_EQ(static_cast<size_t>(r.read_i32()), frame.size() - 4);
    ResponseHeader rh;
    EXPECT_TRUE(rh.decode(r, response_header_version(api_key, version)).ok());
    EXPECT_EQ(rh.correlation_id, correlation_id);
    auto rest = r.read_view(r.remaining());
    return Bytes(rest.begin(), rest.end());
  }

  template <typename Resp>
  Resp decode_body(const Bytes& body, int16_t version) {
    ByteReader r{ByteView(body)};
    Resp resp;
    EXPECT_TRUE(resp.decode(r, version).ok());
    EXPECT_TRUE(r.at_end());
    return resp;
  }

  BrokerIdentity identity_;
  config::BrokerConfig config_;
  cluster::MetadataCache metadata_;
  Services services_;
  net::ConnectionInfo conn_;
  Router router_;
};

TEST_F(RouterTest, ApiVersionsListsExactlyTheServedTable) {
  for (int16_t v = 0; v <= 3; ++v) {
    ApiVersionsRequest req;
    req.client_software_name = "keel-test";
    req.client_software_version = "1.0";
    auto body = call(18, v, req);
    ASSERT_TRUE(body) << "v" << v;
    auto resp = decode_body<ApiVersionsResponse>(*body, v);
    EXPECT_EQ(resp.error_code, 0);
    ASSERT_EQ(resp.api_keys.size(), served_apis().size());
    for (const auto& k : resp.api_keys) {
      const ApiEntry* e = find_served_api(k.api_key);
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(k.min_version, e->min_version);
      EXPECT_EQ(k.max_version, e->max_version);
      // Nothing is advertised beyond what the schemas define.
      ASSERT_NE(find_api(k.api_key), nullptr);
      EXPECT_LE(k.max_version, find_api(k.api_key)->max_version);
    }
  }
}

// Only the data path's requests that never wait may skip the handler
// threads; anything that may reach the store (topic admin, Metadata with
// auto-creation, FindCoordinator creating __consumer_offsets) may not.
TEST_F(RouterTest, OnlyRequestsThatNeverWaitMayRunOnTheNetworkThread) {
  auto frame_for = [](int16_t api_key) {
    net::Frame f(8, 0);
    store_be<int16_t>(f.data(), api_key);
    return f;
  };
  for (int16_t k : {0, 1, 2, 12, 18}) EXPECT_TRUE(router_.runs_on_network_thread(frame_for(k))) << k;
  for (int16_t k : {3, 8, 10, 11, 19, 20, 21, 22, 32, 33, 37, 44, 999}) {
    EXPECT_FALSE(router_.runs_on_network_thread(frame_for(k))) << k;
  }
  EXPECT_FALSE(router_.runs_on_network_thread(net::Frame{0})) << "a frame too short for an api key";
}

// A large request of an API that may run on the network thread still goes to
// the handler threads, so the network thread receives the next one meanwhile.
TEST_F(RouterTest, LargeRequestsGoToTheHandlerThreadsWhateverTheirApi) {
  auto frame_of = [](int16_t api_key, size_t size) {
    net::Frame f(size, 0);
    store_be<int16_t>(f.data(), api_key);
    return f;
  };
  EXPECT_TRUE(router_.runs_on_network_thread(frame_of(0, kNetworkThreadMaxFrameBytes - 1)));
  EXPECT_FALSE(router_.runs_on_network_thread(frame_of(0, kNetworkThreadMaxFrameBytes)));
  EXPECT_FALSE(router_.runs_on_network_thread(frame_of(1, 1 << 20)));
}

TEST_F(RouterTest, ApiVersionsTooNewIsAnsweredInV0WithUnsupportedVersion) {
  ApiVersionsRequest req;
  auto body = call(18, 4, req);  // 4 exists in the schema, Keel serves up to 3
  ASSERT_TRUE(body);
  auto resp = decode_body<ApiVersionsResponse>(*body, 0);
  EXPECT_EQ(resp.error_code, 35);
  EXPECT_EQ(resp.api_keys.size(), served_apis().size());
}

TEST_F(RouterTest, ApiVersionsWithAnInvalidSoftwareNameIsInvalidRequest) {
  ApiVersionsRequest req;
  req.client_software_name = "bad name!";
  req.client_software_version = "1";
  auto resp = decode_body<ApiVersionsResponse>(*call(18, 3, req), 3);
  EXPECT_EQ(resp.error_code, 42);
}

TEST_F(RouterTest, MetadataAdvertisesTheListenerTheClientUsed) {
  for (int16_t v : {0, 1, 9, 12}) {
    MetadataRequest req;
    req.topics.emplace();
    if (v == 0) req.topics->emplace_back().name = "missing";
    auto resp = decode_body<MetadataResponse>(*call(3, v, req), v);
    ASSERT_EQ(resp.brokers.size(), 1u) << "v" << v;
    EXPECT_EQ(resp.brokers[0].node_id, 7);
    EXPECT_EQ(resp.brokers[0].host, "broker7.example");
    EXPECT_EQ(resp.brokers[0].port, 9093);
    if (v >= 1) {
      EXPECT_EQ(resp.controller_id, 7);
    }
    if (v >= 2) {
      EXPECT_EQ(resp.cluster_id, std::optional<std::string>("AAAAAAAAAAAAAAAAAAAAAA"));
    }
  }
  conn_.listener_name = "INTERNAL";
  MetadataRequest req;
  auto resp = decode_body<MetadataResponse>(*call(3, 9, req), 9);
  EXPECT_EQ(resp.brokers.at(0).host, "10.0.0.7");
}

TEST_F(RouterTest, MetadataForUnknownTopicsByNameAndById) {
  MetadataRequest req;
  req.topics.emplace();
  req.topics->emplace_back().name = "orders";
  auto& by_id = req.topics->emplace_back();
  by_id.name = std::nullopt;
  by_id.topic_id.bytes[0] = 1;
  auto resp = decode_body<MetadataResponse>(*call(3, 12, req), 12);
  ASSERT_EQ(resp.topics.size(), 2u);
  EXPECT_EQ(resp.topics[0].name, std::optional<std::string>("orders"));
  EXPECT_EQ(resp.topics[0].error_code, 3);
  EXPECT_EQ(resp.topics[1].error_code, 100);
  EXPECT_EQ(resp.topics[1].topic_id.bytes[0], 1);
}

TEST_F(RouterTest, UnservedApisAndVersionsClose) {
  ProduceRequest produce;
  EXPECT_FALSE(call(0, 12, produce).has_value());
  FetchRequest fetch;
  EXPECT_FALSE(call(1, 18, fetch).has_value());
  MetadataRequest md;
  EXPECT_FALSE(call(3, 13, md).has_value());
  const Bytes unknown_key = {0x10, 0x00, 0, 0, 0, 0, 0, 1, 0, 0};
  EXPECT_TRUE(router_.handle_frame(conn_, ByteView(unknown_key)).close_after);
}

TEST_F(RouterTest, BodiesTooShortForTheirVersionClose) {
  // Metadata v1 header, then a topic count of 5 with nothing behind it.
  const Bytes lying = {0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 5};
  EXPECT_TRUE(router_.handle_frame(conn_, ByteView(lying)).close_after);
  // Metadata v4 stops before allow_auto_topic_creation.
  const Bytes cut = {0, 3, 0, 4, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_TRUE(router_.handle_frame(conn_, ByteView(cut)).close_after);
  const Bytes short_header = {0, 18, 0};
  EXPECT_TRUE(router_.handle_frame(conn_, ByteView(short_header)).close_after);
}

// Kafka reads the fields a version has and ignores what follows them.
TEST_F(RouterTest, BytesAfterTheLastFieldAreIgnored) {
  // A valid ApiVersions v0 with junk after it.
  const Bytes trailing = {0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xab};
  auto resp = router_.handle_frame(conn_, ByteView(trailing));
  EXPECT_FALSE(resp.close_after);
  ASSERT_EQ(resp.chunks.size(), 1u);

  // librdkafka 2.15's Metadata v12 for all topics: a 4-byte placeholder where
  // the compact array count goes. Kafka reads 00 as a null array (all topics),
  // the next two as the booleans and the tag count, and ignores the rest.
  const Bytes rdkafka = {0, 3, 0, 12, 0, 0, 0, 42, 0, 9, 'r', 'd', 'k', 'a', 'f', 'k', 'a', '2', '5', 0,
                         0, 0, 0, 0, 1, 0, 0};
  resp = router_.handle_frame(conn_, ByteView(rdkafka));
  ASSERT_FALSE(resp.close_after);
  ASSERT_EQ(resp.chunks.size(), 1u);
  ByteReader r{ByteView(resp.chunks[0])};
  EXPECT_EQ(static_cast<size_t>(r.read_i32()), resp.chunks[0].size() - 4);
  ResponseHeader rh;
  ASSERT_TRUE(rh.decode(r, response_header_version(3, 12)).ok());
  EXPECT_EQ(rh.correlation_id, 42);
  MetadataResponse md;
  ASSERT_TRUE(md.decode(r, 12).ok());
  EXPECT_TRUE(r.at_end());
  ASSERT_EQ(md.brokers.size(), 1u);
  EXPECT_EQ(md.brokers[0].node_id, 7);

  // The same through a handler that answers later (Produce v3, acks 0, no
  // topics) with junk after it: no answer for acks 0, and the connection stays.
  const Bytes produce = {0, 0, 0, 3, 0, 0, 0, 7, 0xff, 0xff,  // header, null client id
                         0xff, 0xff,                           // transactional id: null
                         0, 0,                                 // acks 0
                         0, 0, 0x10, 0,                        // timeout
                         0, 0, 0, 0,                           // no topics
                         0xde, 0xad};
  resp = router_.handle_frame(conn_, ByteView(produce));
  EXPECT_FALSE(resp.close_after);
}

// A SASL_PLAINTEXT listener, before authentication, with Kafka's rules:
// ApiVersions is answered (and advertises the SASL APIs), anything but
// SaslHandshake closes the connection.
TEST_F(RouterTest, BeforeSaslAuthenticationOnlyApiVersionsAndTheHandshakeAreAnswered) {
  config_.listeners = {{"PLAINTEXT", "", 9093, "PLAINTEXT"}, {"SASL", "", 9095, "SASL_PLAINTEXT"}};
  conn_.listener_name = "SASL";
  ApiVersionsRequest av;
  av.client_software_name = "keel-test";
  av.client_software_version = "1.0";
  auto resp = decode_body<ApiVersionsResponse>(*call(18, 3, av), 3);
  EXPECT_EQ(resp.error_code, 0);
  bool handshake = false, authenticate = false;
  for (const auto& k : resp.api_keys) {
    handshake |= k.api_key == 17 && k.max_version == 1;
    authenticate |= k.api_key == 36 && k.max_version == 2;
  }
  EXPECT_TRUE(handshake && authenticate);

  // Each refusal closes; a new connection comes for the next request.
  auto fresh = [&] { conn_.state = std::make_shared<net::ConnectionState>(); };
  MetadataRequest md;
  EXPECT_FALSE(call(3, 12, md).has_value());
  fresh();
  ProduceRequest produce;
  EXPECT_FALSE(call(0, 9, produce).has_value());
  fresh();
  SaslAuthenticateRequest auth;
  EXPECT_FALSE(call(36, 2, auth).has_value()) << "SaslAuthenticate before the handshake";
  fresh();
  const Bytes unknown_key = {0x10, 0x00, 0, 0, 0, 0, 0, 1, 0, 0};
  EXPECT_TRUE(router_.handle_frame(conn_, ByteView(unknown_key)).close_after);

  // The PLAINTEXT listener of the same broker is not gated.
  fresh();
  conn_.listener_name = "PLAINTEXT";
  EXPECT_TRUE(call(3, 12, md).has_value());
}

// A mechanism that is not enabled: the handshake is answered
// UNSUPPORTED_SASL_MECHANISM with the list of those enabled, and the
// connection closes after it.
TEST_F(RouterTest, SaslHandshakeOnASaslListenerIsUnsupportedAndClosesAfterTheAnswer) {
  config_.listeners = {{"SASL", "", 9095, "SASL_PLAINTEXT"}};
  config_.sasl_enabled_mechanisms = {"SCRAM-SHA-256"};
  conn_.listener_name = "SASL";
  for (int16_t v = 0; v <= 1; ++v) {
    conn_.state = std::make_shared<net::ConnectionState>();
    RequestHeader header;
    header.request_api_key = 17;
    header.request_api_version = v;
    header.correlation_id = 5;
    header.client_id = "test";
    ByteWriter w;
    header.encode(w, request_header_version(17, v));
    SaslHandshakeRequest req;
    req.mechanism = "GSSAPI";
    req.encode(w, v);
    auto out = router_.handle_frame(conn_, ByteView(w.buffer()));
    EXPECT_TRUE(out.close_after) << "v" << v;
    ASSERT_EQ(out.chunks.size(), 1u);
    ByteReader r{ByteView(out.chunks[0])};
    r.read_i32();
    ResponseHeader rh;
    ASSERT_TRUE(rh.decode(r, response_header_version(17, v)).ok());
    EXPECT_EQ(rh.correlation_id, 5);
    SaslHandshakeResponse resp;
    ASSERT_TRUE(resp.decode(r, v).ok());
    EXPECT_EQ(resp.error_code, 33);  // UNSUPPORTED_SASL_MECHANISM
    EXPECT_EQ(resp.mechanisms, std::vector<std::string>{"SCRAM-SHA-256"});  // the enabled ones
  }
}

// Where no SASL exchange is under way (a PLAINTEXT listener), Kafka answers
// both SASL APIs ILLEGAL_SASL_STATE and keeps the connection.
TEST_F(RouterTest, SaslRequestsOnAPlaintextListenerAreIllegalSaslState) {
  for (int16_t v = 0; v <= 1; ++v) {
    SaslHandshakeRequest req;
    req.mechanism = "PLAIN";
    auto body = call(17, v, req);
    ASSERT_TRUE(body) << "v" << v;
    EXPECT_EQ(decode_body<SaslHandshakeResponse>(*body, v).error_code, 34);
  }
  for (int16_t v = 0; v <= 2; ++v) {
    SaslAuthenticateRequest req;
    auto body = call(36, v, req);
    ASSERT_TRUE(body) << "v" << v;
    EXPECT_EQ(decode_body<SaslAuthenticateResponse>(*body, v).error_code, 34);
  }
}

}  // namespace
}  // namespace keel::server
