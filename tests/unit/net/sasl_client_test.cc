// Kafka's SASL framing on a broker's own connections (net/sasl_client.h):
// SaslHandshake v1, then SaslAuthenticate v1 per token, the session lifetime
// of KIP-368, and the broker's refusals in words a log line can carry. The
// "broker" here answers with hand-built response frames around Keel's own
// SCRAM server.

#include "net/sasl_client.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "security/scram.h"

namespace keel::net {
namespace {

struct Request {
  int16_t api_key, api_version;
  int32_t correlation_id;
  std::string client_id;
  ByteView body;
};

Request parse_request(const Bytes& frame) {
  ByteReader r(frame);
  Request q{};
  q.api_key = r.read_i16();
  q.api_version = r.read_i16();
  q.correlation_id = r.read_i32();
  const int16_t n = r.read_i16();
  const ByteView id = r.read_view(static_cast<size_t>(n));
  q.client_id.assign(id.begin(), id.end());
  q.body = r.read_view(r.remaining());
  EXPECT_TRUE(r.ok());
  return q;
}

void write_string(ByteWriter& w, std::string_view s) {
  w.write_i16(static_cast<int16_t>(s.size()));
  w.write_bytes(s);
}

Bytes handshake_response(int32_t correlation_id, int16_t error, const std::vector<std::string>& enabled) {
  ByteWriter w;
  w.write_i32(correlation_id);
  w.write_i16(error);
  w.write_i32(static_cast<int32_t>(enabled.size()));
  for (const auto& m : enabled) write_string(w, m);
  return w.take();
}

Bytes authenticate_response(int32_t correlation_id, int16_t error, std::optional<std::string> message,
                            std::string_view token, int64_t lifetime_ms) {
  ByteWriter w;
  w.write_i32(correlation_id);
  w.write_i16(error);
  if (message) {
    write_string(w, *message);
  } else {
    w.write_i16(-1);
  }
  w.write_i32(static_cast<int32_t>(token.size()));
  w.write_bytes(token);
  w.write_i64(lifetime_ms);
  return w.take();
}

std::string token_of(const Request& q) {
  ByteReader r(q.body);
  const int32_t n = r.read_i32();
  const ByteView t = r.read_view(static_cast<size_t>(n));
  EXPECT_TRUE(r.ok() && r.at_end());
  return std::string(t.begin(), t.end());
}

SaslClientExchange exchange(std::unique_ptr<security::SaslClientMechanism> m) {
  auto next = std::make_shared<int32_t>(100);
  return SaslClientExchange(std::move(m), "broker-1", [next] { return (*next)++; });
}

TEST(SaslClientExchange, ScramRunsHandshakeThenAuthenticateAndEndsWithTheSessionLifetime) {
  using security::ScramMechanism;
  auto credential = security::derive(ScramMechanism::kSha512, "pw", security::random_salt(), 4096);
  ASSERT_TRUE(credential);
  security::ScramServer server(ScramMechanism::kSha512,
                               [&](std::string_view) -> std::optional<security::ScramCredential> { return *credential; });
  auto x = exchange(security::make_scram_client(ScramMechanism::kSha512, "broker", "pw"));

  auto step = x.start();
  ASSERT_EQ(step.kind, SaslClientExchange::Step::Kind::kSend);
  Request q = parse_request(step.frame);
  EXPECT_EQ(q.api_key, kSaslHandshakeApiKey);
  EXPECT_EQ(q.api_version, 1);
  EXPECT_EQ(q.correlation_id, step.correlation_id);
  EXPECT_EQ(q.client_id, "broker-1");
  EXPECT_EQ(std::string(q.body.begin(), q.body.end()), std::string("\0\x0dSCRAM-SHA-512", 15));

  step = x.on_response(handshake_response(step.correlation_id, 0, {"PLAIN", "SCRAM-SHA-512"}));
  int authenticates = 0;
  while (step.kind == SaslClientExchange::Step::Kind::kSend) {
    q = parse_request(step.frame);
    EXPECT_EQ(q.api_key, kSaslAuthenticateApiKey);
    EXPECT_EQ(q.api_version, 1);
    ++authenticates;
    auto answer = server.step(token_of(q));
    ASSERT_TRUE(answer) << answer.error().message();
    step = x.on_response(authenticate_response(q.correlation_id, 0, std::nullopt, *answer,
                                               server.complete() ? 3'600'000 : 0));
  }
  ASSERT_EQ(step.kind, SaslClientExchange::Step::Kind::kDone) << step.error;
  EXPECT_EQ(authenticates, 2) << "client-first and client-final";
  EXPECT_EQ(step.session_lifetime_ms, 3'600'000);
  EXPECT_TRUE(x.mechanism().complete());
}

TEST(SaslClientExchange, PlainEndsAfterOneTokenWithoutALifetime) {
  auto x = exchange(security::make_plain_client("broker", "pw"));
  auto step = x.start();
  step = x.on_response(handshake_response(step.correlation_id, 0, {"PLAIN"}));
  ASSERT_EQ(step.kind, SaslClientExchange::Step::Kind::kSend);
  EXPECT_EQ(token_of(parse_request(step.frame)), std::string("\0broker\0pw", 10));
  step = x.on_response(authenticate_response(step.correlation_id, 0, std::nullopt, "", 0));
  ASSERT_EQ(step.kind, SaslClientExchange::Step::Kind::kDone) << step.error;
  EXPECT_EQ(step.session_lifetime_ms, 0);
}

TEST(SaslClientExchange, AMechanismTheBrokerDoesNotEnableFailsNamingTheOnesItDoes) {
  auto x = exchange(security::make_plain_client("broker", "pw"));
  auto step = x.start();
  step = x.on_response(handshake_response(step.correlation_id, 33, {"SCRAM-SHA-256", "GSSAPI"}));
  ASSERT_EQ(step.kind, SaslClientExchange::Step::Kind::kFailed);
  EXPECT_EQ(step.error,
            "the broker refused SASL mechanism PLAIN (UNSUPPORTED_SASL_MECHANISM); it enables: SCRAM-SHA-256, GSSAPI");
}

TEST(SaslClientExchange, AFailedAuthenticationCarriesTheBrokersMessage) {
  auto x = exchange(security::make_plain_client("broker", "wrong"));
  auto step = x.start();
  step = x.on_response(handshake_response(step.correlation_id, 0, {"PLAIN"}));
  step = x.on_response(authenticate_response(step.correlation_id, 58,
                                             "Authentication failed: Invalid username or password", "", 0));
  ASSERT_EQ(step.kind, SaslClientExchange::Step::Kind::kFailed);
  EXPECT_EQ(step.error, "PLAIN authentication failed (SASL_AUTHENTICATION_FAILED): Authentication failed: Invalid "
                        "username or password");
  // Nothing more is accepted after a failure.
  EXPECT_EQ(x.on_response(handshake_response(0, 0, {})).kind, SaslClientExchange::Step::Kind::kFailed);
}

TEST(SaslClientExchange, AWrongCorrelationIdOrATruncatedResponseFails) {
  auto x = exchange(security::make_plain_client("broker", "pw"));
  auto step = x.start();
  auto bad = x.on_response(handshake_response(step.correlation_id + 1, 0, {"PLAIN"}));
  EXPECT_EQ(bad.kind, SaslClientExchange::Step::Kind::kFailed);
  EXPECT_NE(bad.error.find("correlation id"), std::string::npos) << bad.error;

  auto y = exchange(security::make_plain_client("broker", "pw"));
  step = y.start();
  Bytes cut = handshake_response(step.correlation_id, 0, {"PLAIN"});
  cut.resize(cut.size() - 2);
  auto truncated = y.on_response(cut);
  EXPECT_EQ(truncated.kind, SaslClientExchange::Step::Kind::kFailed);
  EXPECT_EQ(truncated.error, "a malformed SaslHandshake response");
}

}  // namespace
}  // namespace keel::net
