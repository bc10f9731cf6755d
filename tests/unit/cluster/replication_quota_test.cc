#include "cluster/replication_quota.h"

#include <gtest/gtest.h>

namespace keel::cluster {
namespace {

TEST(ThrottledReplicas, ParsesKafkasSyntax) {
  auto t = ThrottledReplicas::parse("0:101, 1:102,2:101");
  EXPECT_FALSE(t.all);
  EXPECT_TRUE(t.contains(0, 101));
  EXPECT_TRUE(t.contains(1, 102));
  EXPECT_TRUE(t.contains(2, 101));
  EXPECT_FALSE(t.contains(0, 102));
  EXPECT_FALSE(t.contains(3, 101));
  EXPECT_TRUE(ThrottledReplicas::parse(" * ").contains(7, 9));
  EXPECT_TRUE(ThrottledReplicas::parse("").empty());
}

TEST(ReplicationQuota, UnlimitedIsNeverExceeded) {
  ReplicationQuota q;
  q.record(int64_t{1} << 40, 0);
  EXPECT_FALSE(q.exceeded(1));
}

// Kafka's Rate counts at least samples - 1 full windows, so a fresh quota
// lets (samples - 1) * window * rate bytes through before it holds.
TEST(ReplicationQuota, FirstBurstIsSamplesMinusOneWindowsOfTheRate) {
  ReplicationQuota q(11, 1000);
  q.set_rate(1000);
  q.record(10'000, 0);  // 10000 bytes over an assumed 10 s: exactly the rate
  EXPECT_DOUBLE_EQ(q.measured_rate(0), 1000.0);
  EXPECT_FALSE(q.exceeded(0));
  q.record(1, 0);
  EXPECT_TRUE(q.exceeded(0));
}

TEST(ReplicationQuota, RateDecaysAsWindowsPass) {
  ReplicationQuota q(2, 1000);
  q.set_rate(100);
  q.record(500, 0);
  EXPECT_DOUBLE_EQ(q.measured_rate(0), 500.0);  // 500 bytes over the minimum 1 s
  EXPECT_TRUE(q.exceeded(0));
  EXPECT_TRUE(q.exceeded(1999));  // still within the two windows
  EXPECT_FALSE(q.exceeded(2000));  // the window expired: starts afresh
}

TEST(ReplicationQuota, SteadyTrafficIsHeldToTheRate) {
  // A sender that sends 100 bytes whenever the quota allows, every 10 ms for
  // 60 s, moves about rate * time bytes: never more than the rate over the
  // time plus the first burst, and not much less (the oldest window of the
  // eleven is only partly counted, so a little under the rate in the long run).
  ReplicationQuota q(11, 1000);
  q.set_rate(10'000);
  int64_t sent = 0;
  for (int64_t now = 0; now < 60'000; now += 10) {
    if (q.exceeded(now)) continue;
    q.record(100, now);
    sent += 100;
  }
  EXPECT_GE(sent, 60 * 10'000 * 9 / 10);
  EXPECT_LE(sent, 60 * 10'000 + 10 * 10'000 + 1000);
}

TEST(ReplicationQuota, ZeroRateStopsEverythingAfterTheFirstByte) {
  ReplicationQuota q;
  q.set_rate(0);
  EXPECT_FALSE(q.exceeded(0));
  q.record(1, 0);
  EXPECT_TRUE(q.exceeded(5));
}

}  // namespace
}  // namespace keel::cluster
