// The GSSAPI client of inter-broker SASL (server/sasl_gssapi_client.h)
// without a KDC: what happens when Kerberos cannot give the broker a
// credential, both in the mechanism and in Kafka's framing around it. The
// whole exchange with a real KDC runs in
// tests/integration/test_interbroker_sasl.py (three brokers over GSSAPI).

#include "server/sasl_gssapi_client.h"

#include "server/kerberos_tgt.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <chrono>

#include "common/bytes.h"
#include "net/sasl_client.h"
#include "security/errors.h"

namespace keel::server {
namespace {

// Kerberos reads this test's own krb5.conf (never the machine's, which names
// outside KDCs), whose realm's KDC is a closed local port.
class GssapiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("keel-gssapi-client-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "krb5.conf") << "[libdefaults]\n default_realm = EXAMPLE.TEST\n dns_lookup_kdc = false\n"
                                         " dns_lookup_realm = false\n rdns = false\n"
                                         "[realms]\n EXAMPLE.TEST = {\n  kdc = 127.0.0.1:1\n }\n";
    if (const char* old = getenv("KRB5_CONFIG")) old_config_ = old;
    setenv("KRB5_CONFIG", (dir_ / "krb5.conf").c_str(), 1);
  }
  void TearDown() override {
    if (old_config_) setenv("KRB5_CONFIG", old_config_->c_str(), 1);
    else unsetenv("KRB5_CONFIG");
    std::filesystem::remove_all(dir_);
  }

  GssapiClientLogin login() const {
    return {(dir_ / "missing.keytab").string(), "kafka/127.0.0.1@EXAMPLE.TEST", "kafka", ""};
  }

  std::filesystem::path dir_;
  std::optional<std::string> old_config_;
};

TEST_F(GssapiClientTest, NoKeyInTheKeytabFailsTheFirstTokenNamingPrincipalAndKeytab) {
  auto m = make_gssapi_client(login());
  m->set_server_host("127.0.0.1");
  EXPECT_EQ(m->name(), "GSSAPI");
  auto first = m->respond({});
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error(), GssapiClientErrc::kKerberos);
  EXPECT_NE(m->detail().find("kafka/127.0.0.1@EXAMPLE.TEST"), std::string::npos) << m->detail();
  EXPECT_NE(m->detail().find("missing.keytab"), std::string::npos) << m->detail();
  EXPECT_FALSE(m->complete());
  // A failed exchange stays failed.
  const uint8_t token[] = {1, 2, 3};
  auto again = m->respond(ByteView(token, sizeof token));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), security::SaslClientErrc::kUnexpectedToken);
}

TEST_F(GssapiClientTest, WithoutAHostTheExchangeFailsAtOnce) {
  auto m = make_gssapi_client(login());
  auto first = m->respond({});
  ASSERT_FALSE(first);
  EXPECT_NE(m->detail().find("no broker host"), std::string::npos) << m->detail();
}

// Kafka's framing carries Kerberos' words into the failure the connection logs.
TEST_F(GssapiClientTest, TheExchangeFailsAfterTheHandshakeWithKerberosWords) {
  int32_t next_id = 7;
  auto mechanism = make_gssapi_client(login());
  mechanism->set_server_host("127.0.0.1");
  net::SaslClientExchange exchange(std::move(mechanism), "broker-1",
                                   [&next_id]() { return next_id++; });
  auto handshake = exchange.start();
  ASSERT_EQ(handshake.kind, net::SaslClientExchange::Step::Kind::kSend);
  // SaslHandshake v1 asks for GSSAPI: api key 17, version 1, then the body's mechanism.
  ByteReader r(handshake.frame);
  EXPECT_EQ(r.read_i16(), net::kSaslHandshakeApiKey);
  EXPECT_EQ(r.read_i16(), 1);
  EXPECT_EQ(r.read_i32(), handshake.correlation_id);
  const std::string frame(handshake.frame.begin(), handshake.frame.end());
  EXPECT_EQ(frame.substr(frame.size() - 6), "GSSAPI");

  ByteWriter answer;
  answer.write_i32(handshake.correlation_id);
  answer.write_i16(0);  // no error
  answer.write_i32(1);  // enabled mechanisms: GSSAPI
  answer.write_i16(6);
  answer.write_bytes(std::string_view("GSSAPI"));
  auto step = exchange.on_response(answer.buffer());
  ASSERT_EQ(step.kind, net::SaslClientExchange::Step::Kind::kFailed);
  EXPECT_NE(step.error.find("GSSAPI: Kerberos failed on this broker's side"), std::string::npos)
      << step.error;
  EXPECT_NE(step.error.find("kafka/127.0.0.1@EXAMPLE.TEST"), std::string::npos)
      << step.error;
}

// With the broker's TGT keeper (GssapiClientLogin::ccache), an exchange only
// reads the cache: before any login succeeded it fails at once, saying so,
// instead of logging in (and waiting on the KDC) itself.
TEST_F(GssapiClientTest, WithAKeepersEmptyCacheTheFirstTokenFailsAtOnceNamingTheCache) {
  GssapiClientLogin l = login();
  l.ccache = "MEMORY:keel-test-empty-" + std::to_string(getpid());
  auto m = make_gssapi_client(l);
  m->set_server_host("127.0.0.1");
  EXPECT_TRUE(m->may_block()) << "a service ticket may still need the KDC";
  auto first = m->respond({});
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error(), GssapiClientErrc::kKerberos);
  EXPECT_NE(m->detail().find(l.ccache), std::string::npos) << m->detail();
  EXPECT_NE(m->detail().find("has not succeeded yet"), std::string::npos) << m->detail();
  EXPECT_FALSE(m->may_block());
}

TEST_F(GssapiClientTest, AKeeperWhoseKeytabHasNoKeyHoldsNoTicketAndStops) {
  KerberosTgtOptions o;
  o.principal = "kafka/127.0.0.1@EXAMPLE.TEST";
  o.keytab = (dir_ / "missing.keytab").string();
  o.ccache = "MEMORY:keel-test-keeper-" + std::to_string(getpid());
  o.retry_ms = 50;
  {
    KerberosTgtKeeper keeper(o);
    keeper.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(keeper.has_ticket());
  }  // destroyed while retrying: the thread ends on its own
}

// Kafka's KerberosLogin schedule: 80% of the ticket's life plus up to 5%
// jitter, not before a minute after it started, never past its end.
TEST(KerberosRenewDelay, EightyToEightyFivePercentOfTheLifeWithAFloorAndACeiling) {
  const int64_t start = 1'000'000, ten_hours = 36'000;
  EXPECT_EQ(kerberos_renew_delay_s(start, start, start + ten_hours, 0.8, 0.05, 0.0, 60), 28'800);
  EXPECT_EQ(kerberos_renew_delay_s(start, start, start + ten_hours, 0.8, 0.05, 1.0, 60), 30'600);
  EXPECT_EQ(kerberos_renew_delay_s(start + 100, start, start + ten_hours, 0.8, 0.05, 0.0, 60), 28'700)
      << "counted from the ticket's start";
  EXPECT_EQ(kerberos_renew_delay_s(start, start, start + 180, 0.8, 0.05, 0.0, 60), 144);
  EXPECT_EQ(kerberos_renew_delay_s(start, start, start + 40, 0.8, 0.05, 0.0, 60), 35)
      << "the minute's floor yields to a ticket shorter than that";
  EXPECT_EQ(kerberos_renew_delay_s(start + 50, start, start + 40, 0.8, 0.05, 0.0, 60), 1) << "overdue: at once";
}

// MIT's kdc_timesync counts a late answer as our clock being behind by the
// delay; the keeper keeps only what the answer proves.
TEST(KerberosClockOffset, ALateAnswerIsNoSkewAndARealSkewIsKept) {
  const int64_t asked = 1'000'000;
  EXPECT_EQ(kerberos_clock_offset_s(asked + 7, asked, asked + 7, 7), 0)
      << "asked, the KDC stopped for 7 s, answered: the ticket was stamped while we waited";
  EXPECT_EQ(kerberos_clock_offset_s(asked, asked, asked, 0), 0);
  EXPECT_EQ(kerberos_clock_offset_s(asked + 600, asked, asked, 600), 600) << "a KDC ten minutes ahead, answering at once";
  EXPECT_EQ(kerberos_clock_offset_s(asked - 600, asked, asked + 1, -600), -600) << "a KDC ten minutes behind";
  EXPECT_EQ(kerberos_clock_offset_s(asked + 615, asked, asked + 30, 615), 615)
      << "ahead, answering late: the library's offset, which the answer allows";
  EXPECT_EQ(kerberos_clock_offset_s(asked + 600, asked, asked + 30, 700), 601) << "brought into what the answer allows";
}

}  // namespace
}  // namespace keel::server
