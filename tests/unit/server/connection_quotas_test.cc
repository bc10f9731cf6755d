// Connection creation rate quotas (server/connection_quotas.h, KIP-612) with
// an injected clock: the acceptor's wait for the broker's and a listener's
// max.connection.creation.rate, the per-IP connection_creation_rate that
// closes connections, and what is exempt.

#include "server/connection_quotas.h"

#include <gtest/gtest.h>

#include "config/config.h"
#include "security/client_quota.h"

namespace keel::server {
namespace {

constexpr QuotaWindow kWindow{2, 1000};  // the rate spans at least one second

struct Fixture {
  int64_t now = 0;
  security::QuotaConfigCache ips;
  std::unique_ptr<ConnectionQuotas> quotas;

  explicit Fixture(ConnectionQuotas::Options o) {
    o.window = kWindow;
    quotas = std::make_unique<ConnectionQuotas>(std::move(o), [this] { return now; });
    quotas->set_ip_quotas(&ips);
  }
  static ConnectionQuotas::Options broker(double rate) {
    ConnectionQuotas::Options o;
    o.broker_rate = rate;
    return o;
  }
};

TEST(ConnectionQuotas, WithoutLimitsNoConnectionWaits) {
  Fixture f(Fixture::broker(ConnectionQuotas::kUnlimited));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(f.quotas->accept_delay_ms("PLAINTEXT"), 0);
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "10.0.0.1"), 0);
  EXPECT_FALSE(f.quotas->ip_rate("10.0.0.1"));  // no quota: not measured
}

TEST(ConnectionQuotas, TheAcceptorWaitsOnceTheBrokerRateIsExceeded) {
  Fixture f(Fixture::broker(10));
  // Ten connections in the first instant are 10/s over the one-second span.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(f.quotas->accept_delay_ms("PLAINTEXT"), 0) << i;
  // The eleventh is 11/s: (11 - 10) / 10 x 1000 ms.
  EXPECT_EQ(f.quotas->accept_delay_ms("PLAINTEXT"), 100);
  auto view = f.quotas->listener("PLAINTEXT");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->delayed, 1u);
  EXPECT_DOUBLE_EQ(view->throttle_time_ms, 100.0);
}

TEST(ConnectionQuotas, TheWaitIsBoundedByOneWindow) {
  Fixture f(Fixture::broker(1));
  int64_t longest = 0;
  for (int i = 0; i < 100; ++i) longest = std::max(longest, f.quotas->accept_delay_ms("PLAINTEXT"));
  EXPECT_EQ(longest, 1000);
}

TEST(ConnectionQuotas, ASteadyStreamIsHeldToTheRate) {
  Fixture f(Fixture::broker(20));
  // Connections arrive as fast as the acceptor takes them: each waits what
  // it is told. Over 10 s the acceptor takes about 20 a second.
  int accepted = 0;
  while (f.now < 10000) {
    f.now += f.quotas->accept_delay_ms("PLAINTEXT");
    ++accepted;
  }
  EXPECT_GE(accepted, 180);
  EXPECT_LE(accepted, 20 * 11 + 1);  // the rate, plus the first span's burst
}

TEST(ConnectionQuotas, AListenerOverrideLimitsOnlyThatListener) {
  ConnectionQuotas::Options o;
  o.listener_rates["EXTERNAL"] = 5;
  o.listener_count = 2;
  Fixture f(o);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(f.quotas->accept_delay_ms("INTERNAL"), 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.quotas->accept_delay_ms("EXTERNAL"), 0);
  EXPECT_GT(f.quotas->accept_delay_ms("EXTERNAL"), 0);
}

TEST(ConnectionQuotas, TheInterBrokerListenerIsExemptFromTheBrokerRateAmongOthers) {
  ConnectionQuotas::Options o = Fixture::broker(5);
  o.inter_broker_listener = "REPLICATION";
  o.listener_rates["REPLICATION"] = ConnectionQuotas::kUnlimited;  // its own limit, lifted
  o.listener_count = 2;
  Fixture f(o);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(f.quotas->accept_delay_ms("REPLICATION"), 0);
  // The brokers' connections did not use the clients' budget.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(f.quotas->accept_delay_ms("PLAINTEXT"), 0);
  EXPECT_GT(f.quotas->accept_delay_ms("PLAINTEXT"), 0);
}

TEST(ConnectionQuotas, AnIpOverItsRateIsThrottledAndNotCounted) {
  Fixture f(Fixture::broker(ConnectionQuotas::kUnlimited));
  f.ips.set_ip(std::string("127.0.0.1"), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(f.quotas->accept_delay_ms("PLAINTEXT"), 0);
    EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 0) << i;
  }
  EXPECT_EQ(f.quotas->accept_delay_ms("PLAINTEXT"), 0);
  // 4/s against 3/s: (4 - 3) / 3 x 1000 ms.
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 333);
  // Taken back out of the IP's rate and the listener's.
  EXPECT_DOUBLE_EQ(*f.quotas->ip_rate("127.0.0.1"), 3.0);
  auto view = f.quotas->listener("PLAINTEXT");
  ASSERT_TRUE(view);
  EXPECT_DOUBLE_EQ(view->accept_rate, 3.0);
  EXPECT_EQ(view->ip_throttled, 1u);
  // The throttle time counts once the acceptor closes the connection.
  EXPECT_DOUBLE_EQ(view->ip_throttle_time_ms, 0.0);
  f.now += 333;
  f.quotas->ip_throttle_ended("PLAINTEXT", 333);
  EXPECT_DOUBLE_EQ(f.quotas->listener("PLAINTEXT")->ip_throttle_time_ms, 333.0);
}

// A throttle can last a whole window: counted at accept, a refusal near the
// end of a window had aged out of both windows by the time its client saw
// the close, and the average read 0 right after it.
TEST(ConnectionQuotas, TheIpThrottleTimeIsStillCountedRightAfterAWholeWindowThrottle) {
  Fixture f(Fixture::broker(ConnectionQuotas::kUnlimited));
  f.ips.set_ip(std::string("10.0.0.1"), 1);
  f.ips.set_ip(std::string("10.0.0.2"), 1);
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "10.0.0.1"), 0);
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "10.0.0.1"), 1000);  // 2/s against 1/s: a window's wait
  f.now = 999;  // the end of the listener's first window
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "10.0.0.2"), 0);
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "10.0.0.2"), 1000);
  f.now = 1000;  // the first one's close
  f.quotas->ip_throttle_ended("PLAINTEXT", 1000);
  f.now = 1999;  // the second one's
  f.quotas->ip_throttle_ended("PLAINTEXT", 1000);
  f.now = 2005;  // its client scrapes the metrics
  auto view = f.quotas->listener("PLAINTEXT");
  ASSERT_TRUE(view);
  EXPECT_DOUBLE_EQ(view->ip_throttle_time_ms, 1000.0);
  EXPECT_EQ(view->ip_throttled, 2u);
}

TEST(ConnectionQuotas, OtherIpsAreUnaffected) {
  Fixture f(Fixture::broker(ConnectionQuotas::kUnlimited));
  f.ips.set_ip(std::string("127.0.0.1"), 1);
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 0);
  EXPECT_GT(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.2"), 0);
}

TEST(ConnectionQuotas, TheDefaultIpEntityAppliesToEachIpSeparately) {
  Fixture f(Fixture::broker(ConnectionQuotas::kUnlimited));
  f.ips.set_ip(std::nullopt, 2);
  for (const char* ip : {"10.0.0.1", "10.0.0.2"}) {
    EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", ip), 0);
    EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", ip), 0);
    EXPECT_GT(f.quotas->ip_throttle_ms("PLAINTEXT", ip), 0) << ip;
  }
  // An IP's own quota beats the default.
  f.ips.set_ip(std::string("10.0.0.3"), 1000);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "10.0.0.3"), 0);
}

TEST(ConnectionQuotas, AMappedIpv4PeerMatchesItsIpv4Quota) {
  Fixture f(Fixture::broker(ConnectionQuotas::kUnlimited));
  f.ips.set_ip(std::string("127.0.0.1"), 1);
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "::ffff:127.0.0.1"), 0);
  EXPECT_GT(f.quotas->ip_throttle_ms("PLAINTEXT", "::ffff:127.0.0.1"), 0);
}

TEST(ConnectionQuotas, TheRateRecoversAsTimePasses) {
  Fixture f(Fixture::broker(ConnectionQuotas::kUnlimited));
  f.ips.set_ip(std::string("127.0.0.1"), 2);
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 0);
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 0);
  EXPECT_GT(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 0);
  f.now = 5000;  // older than both windows: forgotten
  EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 0);
}

TEST(ConnectionQuotas, WithoutTheQuotaCacheNoIpIsThrottled) {
  Fixture f(Fixture::broker(ConnectionQuotas::kUnlimited));
  f.ips.set_ip(std::string("127.0.0.1"), 1);
  f.quotas->set_ip_quotas(nullptr);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(f.quotas->ip_throttle_ms("PLAINTEXT", "127.0.0.1"), 0);
}

TEST(ConnectionQuotas, TheConfigurationGivesTheBrokerAndListenerRates) {
  config::BrokerConfig c;
  c.listeners = {{"PLAINTEXT", "127.0.0.1", 0, "PLAINTEXT"}, {"EXTERNAL", "127.0.0.1", 0, "PLAINTEXT"}};
  c.max_connection_creation_rate = 100;
  c.listener_overrides["EXTERNAL"]["max.connection.creation.rate"] = "2";
  c.quota_window_num = 2;
  auto quotas = make_connection_quotas(c);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(quotas->accept_delay_ms("EXTERNAL"), 0);
  EXPECT_GT(quotas->accept_delay_ms("EXTERNAL"), 0);
  EXPECT_EQ(quotas->accept_delay_ms("PLAINTEXT"), 0);
}

TEST(ConnectionQuotas, TheConfigurationGivesTheConnectionLimits) {
  config::BrokerConfig c;
  c.listeners = {{"PLAINTEXT", "127.0.0.1", 0, "PLAINTEXT"}, {"EXTERNAL", "127.0.0.1", 0, "PLAINTEXT"},
                 {"OTHER", "127.0.0.1", 0, "PLAINTEXT"}};
  c.inter_broker_listener_name = "PLAINTEXT";
  c.max_connections = 100;
  c.max_connections_per_ip = 10;
  c.listener_overrides["EXTERNAL"]["max.connections"] = "3";
  c.listener_overrides["OTHER"]["max.connections"] = "many";
  net::ServerOptions o;
  apply_connection_limits(c, o);
  EXPECT_EQ(o.max_connections, 100);
  EXPECT_EQ(o.max_connections_per_ip, 10);
  EXPECT_EQ(o.listener_max_connections, (std::map<std::string, int32_t>{{"EXTERNAL", 3}}));
  EXPECT_EQ(o.protected_listener, "PLAINTEXT");
  // With one listener, the inter-broker one is not exempt (Kafka's protectedListener).
  c.listeners.resize(1);
  apply_connection_limits(c, o);
  EXPECT_EQ(o.protected_listener, "");
  EXPECT_TRUE(o.listener_max_connections.empty());
}

}  // namespace
}  // namespace keel::server
