// The REST API's route table against its OpenAPI document, its body reading,
// its error mapping, and the bridge's requests as the Router receives them.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include <boost/json.hpp>

#include "common/json_util.h"
#include "protocol/generated/metadata_request.h"
#include "protocol/generated/metadata_response.h"
#include "protocol/generated/request_header.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"
#include "server/router.h"

namespace keel::server::rest {
namespace {

using Kind = boost::json::kind;

TEST(RestOpenApi, DocumentAndRouteTableHaveTheSameRoutes) {
  RestOptions o;
  o.listener_name = "PLAINTEXT";
  auto api = std::make_shared<RestApi>(o);
  http::Routes routes;
  api->register_routes(routes);
  std::set<std::string> served;
  for (const auto& [method, path] : routes.list()) served.insert(method + " " + path);

  auto doc = json::parse(RestApi::openapi_document());
  ASSERT_TRUE(doc.ok());
  const boost::json::value* paths = json::find(*doc, "paths");
  ASSERT_TRUE(paths && paths->is_object());
  std::set<std::string> documented;
  for (const auto& [path_view, ops] : paths->as_object()) {
    const std::string path(path_view);
    ASSERT_TRUE(ops.is_object()) << path;
    for (const auto& [method_view, op] : ops.as_object()) {
      const std::string method(method_view);
      std::string upper = method;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(upper + " " + path);
      EXPECT_TRUE(json::find(op, "responses")) << method << " " << path << " documents no responses";
    }
  }
  for (const auto& r : served) EXPECT_TRUE(documented.count(r)) << r << " is served but not in /openapi.json";
  for (const auto& r : documented) EXPECT_TRUE(served.count(r)) << r << " is in /openapi.json but not served";
  EXPECT_GE(served.size(), 28u);
  api->stop();
}

TEST(RestBody, RefusesWhatIsNotTheSchema) {
  const std::vector<Field> fields = {{"topic_name", Kind::string, true}, {"partitions_count", Kind::int64}};
  http::Response why;
  EXPECT_TRUE(parse_body(R"({"topic_name":"t","partitions_count":3})", fields, &why));
  EXPECT_TRUE(parse_body(R"({"topic_name":"t","partitions_count":null})", fields, &why));
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : {Case{R"({"topic_name":"t",)", "malformed JSON"},
                        Case{R"({"topic_name":"t","x":1})", "unknown field 'x'"},
                        Case{R"({"topic_name":5})", "must be a string, not an integer"},
                        Case{R"({"partitions_count":1})", "'topic_name' is required"},
                        Case{R"("t")", "must be a JSON object"}, Case{"", "'topic_name' is required"}}) {
    EXPECT_FALSE(parse_body(c.body, fields, &why)) << c.body;
    EXPECT_EQ(why.status, 400) << c.body;
    EXPECT_NE(why.body.find(c.message), std::string::npos) << c.body << " -> " << why.body;
    EXPECT_NE(why.body.find("\"error_code\":400"), std::string::npos) << why.body;
  }
}

TEST(RestErrors, KafkaCodesMapToConfluentAnswers) {
  EXPECT_EQ(kafka_error(29, "").status, 403);
  EXPECT_NE(kafka_error(29, "").body.find("\"error_code\":40301"), std::string::npos);
  EXPECT_NE(kafka_error(29, "").body.find("\"kafka_error_code\":29"), std::string::npos);
  EXPECT_EQ(kafka_error(3, "").status, 404);
  EXPECT_NE(kafka_error(3, "").body.find("\"error_code\":40403"), std::string::npos);
  EXPECT_EQ(kafka_error(36, "exists").status, 400);
  EXPECT_NE(kafka_error(36, "exists").body.find("TOPIC_ALREADY_EXISTS: exists"), std::string::npos);
  EXPECT_EQ(kafka_error(7, "").status, 503);  // REQUEST_TIMED_OUT: retriable
  EXPECT_EQ(kafka_error(-1, "").status, 500);
}

// The bridge's frame is what a Kafka client would send; the caller's
// principal reaches the Router through the connection.
TEST(RestBridge, SendsAKafkaRequestAsTheCaller) {
  net::ConnectionInfo seen;
  protocol::RequestHeader header;
  protocol::MetadataRequest request;
  KafkaBridge bridge("EXTERNAL", [&](const net::ConnectionInfo& conn, Bytes frame,
                                     std::function<void(net::Response)> done) {
    seen = conn;
    ByteReader r{ByteView(frame)};
    EXPECT_TRUE(header.decode(r, protocol::request_header_version(3, 12)));
    EXPECT_TRUE(request.decode(r, 12));
    // Answer as the Router frames it: size, response header v1 (flexible), body.
    protocol::MetadataResponse resp;
    resp.cluster_id = "abc";
    resp.controller_id = 4;
    ByteWriter w;
    w.write_i32(0);
    w.write_i32(header.correlation_id);
    w.write_u8(0);  // no tagged fields
    resp.encode(w, 12);
    net::Response out;
    out.chunks.push_back(w.take());
    done(std::move(out));
    return true;
  });
  Caller who{"User:alice", "10.0.0.1:5555"};
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<protocol::MetadataResponse>> got;
  protocol::MetadataRequest req;
  req.topics = std::nullopt;
  bridge.call<protocol::MetadataResponse>(who, req, 12, [&](Result<protocol::MetadataResponse> r) {
    std::lock_guard lock(mu);
    got = std::move(r);
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait_for(lock, std::chrono::seconds(5), [&] { return got.has_value(); });
  ASSERT_TRUE(got && got->ok());
  EXPECT_EQ((*got)->controller_id, 4);
  EXPECT_EQ((*got)->cluster_id, std::optional<std::string>("abc"));
  EXPECT_EQ(header.request_api_key, 3);
  EXPECT_EQ(header.client_id, std::optional<std::string>("keel-rest"));
  EXPECT_FALSE(request.topics.has_value());
  EXPECT_EQ(seen.listener_name, "EXTERNAL");
  EXPECT_EQ(seen.peer, "10.0.0.1:5555");
  EXPECT_EQ(seen.tls_principal, "alice");
  EXPECT_FALSE(seen.in_process);  // ACLs apply
}

TEST(RestBridge, RefusedWhenTheBrokerIsNotServing) {
  KafkaBridge bridge("PLAINTEXT", [](const net::ConnectionInfo&, Bytes, std::function<void(net::Response)>) {
    return false;
  });
  std::optional<std::error_code> ec;
  bridge.call<protocol::MetadataResponse>(Caller{}, protocol::MetadataRequest{}, 12,
                                          [&](Result<protocol::MetadataResponse> r) { ec = r.error(); });
  ASSERT_TRUE(ec);
  EXPECT_EQ(*ec, make_error_code(BridgeErrc::kUnavailable));
  EXPECT_EQ(bridge_error(*ec).status, 503);
}

}  // namespace
}  // namespace keel::server::rest
