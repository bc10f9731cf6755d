// Client quota enforcement (server/quota_rate.h, server/quota_throttle.h):
// Kafka's windowed rate and throttle time with an injected clock, the
// quota groups by precedence, taking a throttled fetch back, idle sensors,
// and how a throttle reaches the response and the connection (KIP-219).

#include "server/quota_throttle.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "common/bytes.h"
#include "protocol/generated/api.h"
#include "server/services.h"

namespace keel::server {
namespace {

using Part = security::ClientQuotaEntity::Part;
using security::QuotaKey;

constexpr QuotaWindow kWindow{11, 1000};

TEST(SampledStat, AFirstBurstIsSpreadOverAllButOneWindow) {
  SampledStat s(kWindow);
  s.record(1000, 0);
  EXPECT_EQ(s.span_ms(0), 10000);
  EXPECT_DOUBLE_EQ(s.rate(0), 100.0);
}

TEST(SampledStat, ASteadyRateIsMeasuredAsItIs) {
  SampledStat s(kWindow);
  for (int64_t t = 0; t < 30000; t += 100) s.record(100, t);  // 1000 per second
  EXPECT_NEAR(s.rate(30000), 1000.0, 60.0);
}

TEST(SampledStat, WindowsOlderThanAllOfThemAreForgotten) {
  SampledStat s(kWindow);
  s.record(5000, 0);
  EXPECT_GT(s.rate(5000), 0.0);
  EXPECT_DOUBLE_EQ(s.rate(11000), 0.0);
}

TEST(SampledStat, AverageIsTotalOverCount) {
  SampledStat s(kWindow);
  s.record(10, 0);
  s.record(30, 500);
  EXPECT_DOUBLE_EQ(s.average(600), 20.0);
  EXPECT_DOUBLE_EQ(s.average(20000), 0.0);
}

TEST(ThrottleTime, IsTheExcessOverTheBoundTimesTheWindow) {
  EXPECT_EQ(throttle_time_ms(2000, 1000, 10000), 10000);
  EXPECT_EQ(throttle_time_ms(1100, 1000, 10000), 1000);
  EXPECT_EQ(throttle_time_ms(1000, 1000, 10000), 0);
  EXPECT_EQ(throttle_time_ms(500, 1000, 10000), 0);
}

TEST(TokenBucket, DebtIsWaitedOutAtTheQuotaRate) {
  TokenBucket b(kWindow, 10.0);  // burst 10 * 11 * 1 s = 110
  EXPECT_DOUBLE_EQ(b.tokens(0), 110.0);
  b.record(200, 0);
  EXPECT_DOUBLE_EQ(b.tokens(0), -90.0);
  EXPECT_EQ(b.throttle_time_ms(0), 9000);
  EXPECT_EQ(b.throttle_time_ms(9000), 0);
  EXPECT_DOUBLE_EQ(b.tokens(100000), 110.0);  // never above the burst
}

struct Fixture {
  security::QuotaConfigCache cache;
  int64_t now = 0;
  QuotaThrottler throttler{cache, kWindow, [this] { return now; }, 60000};

  void set(Part user, Part client, QuotaKey key, double value) {
    security::QuotaValues v;
    v[key] = value;
    cache.set(security::ClientQuotaEntity{std::move(user), std::move(client)}, v);
  }
  static std::unique_ptr<RequestQuota> request(std::string user, std::string client, int64_t bytes = 0) {
    auto q = std::make_unique<RequestQuota>();
    q->user = std::move(user);
    q->client_id = std::move(client);
    q->request_bytes = bytes;
    return q;
  }
};

TEST(QuotaThrottler, AProducerOverItsByteRateIsThrottledByKafkasFormula) {
  Fixture f;
  f.set(Part{}, Part::named("p1"), QuotaKey::kProducerByteRate, 1000);
  auto q = Fixture::request("ANONYMOUS", "p1", 20000);
  // 20000 bytes over the 10 s minimum span: 2000 B/s, twice the bound.
  EXPECT_EQ(f.throttler.record_produce(*q), 10000);
  EXPECT_EQ(q->throttle_ms.load(), 10000);
  auto view = f.throttler.sensor(QuotaKey::kProducerByteRate, "", "p1");
  ASSERT_TRUE(view);
  EXPECT_DOUBLE_EQ(view->rate, 2000.0);
  EXPECT_DOUBLE_EQ(view->throttle_time_ms, 10000.0);
}

TEST(QuotaThrottler, WithinTheQuotaNothingIsThrottled) {
  Fixture f;
  f.set(Part{}, Part::named("p1"), QuotaKey::kProducerByteRate, 1000);
  auto q = Fixture::request("ANONYMOUS", "p1", 500);
  for (int i = 0; i < 20; ++i, f.now += 1000) EXPECT_EQ(f.throttler.record_produce(*q), 0);
  EXPECT_EQ(q->throttle_ms.load(), 0);
}

TEST(QuotaThrottler, AClientWithoutAQuotaIsMeasuredButNeverThrottled) {
  Fixture f;
  f.set(Part{}, Part::named("other"), QuotaKey::kProducerByteRate, 1);
  auto q = Fixture::request("ANONYMOUS", "free", 1 << 30);
  EXPECT_EQ(f.throttler.record_produce(*q), 0);
  EXPECT_TRUE(f.throttler.sensor(QuotaKey::kProducerByteRate, "", "free"));
}

TEST(QuotaThrottler, GroupsFollowThePrecedenceLevelThatSetTheQuota) {
  Fixture f;
  f.set(Part::named("alice"), Part{}, QuotaKey::kProducerByteRate, 1000);
  f.set(Part::named("bob"), Part::named("app"), QuotaKey::kProducerByteRate, 1000);
  f.set(Part{}, Part::default_entity(), QuotaKey::kProducerByteRate, 1000);
  auto a1 = Fixture::request("alice", "app-1", 100);
  auto a2 = Fixture::request("alice", "app-2", 100);
  auto b = Fixture::request("bob", "app", 100);
  auto c = Fixture::request("carol", "x", 100);
  f.throttler.record_produce(*a1);
  f.throttler.record_produce(*a2);
  f.throttler.record_produce(*b);
  f.throttler.record_produce(*c);
  // alice's two clients share the user-level quota: one sensor, both counted.
  auto alice = f.throttler.sensor(QuotaKey::kProducerByteRate, "alice", "");
  ASSERT_TRUE(alice);
  EXPECT_DOUBLE_EQ(alice->rate, 20.0);
  EXPECT_TRUE(f.throttler.sensor(QuotaKey::kProducerByteRate, "bob", "app"));
  EXPECT_TRUE(f.throttler.sensor(QuotaKey::kProducerByteRate, "", "x"));  // <default> client-id level
  EXPECT_EQ(f.throttler.sensor_count(), 3u);
}

TEST(QuotaThrottler, AThrottledFetchIsTakenBack) {
  Fixture f;
  f.set(Part{}, Part::named("c"), QuotaKey::kConsumerByteRate, 1000);
  auto q = Fixture::request("ANONYMOUS", "c");
  EXPECT_EQ(f.throttler.record_fetch(*q, 5000), 0);  // 500 B/s
  EXPECT_EQ(f.throttler.record_fetch(*q, 10000), 5000);  // would be 1500 B/s
  auto view = f.throttler.sensor(QuotaKey::kConsumerByteRate, "", "c");
  ASSERT_TRUE(view);
  EXPECT_DOUBLE_EQ(view->rate, 500.0);  // the empty answer sent nothing
}

TEST(QuotaThrottler, AQuotaChangeAppliesToTheNextRequest) {
  Fixture f;
  f.set(Part{}, Part::named("p"), QuotaKey::kProducerByteRate, 100);
  auto q = Fixture::request("ANONYMOUS", "p", 2000);
  EXPECT_GT(f.throttler.record_produce(*q), 0);
  f.set(Part{}, Part::named("p"), QuotaKey::kProducerByteRate, 1e9);
  EXPECT_EQ(f.throttler.record_produce(*q), 0);
  f.cache.clear();
  EXPECT_FALSE(f.throttler.active());
}

TEST(QuotaThrottler, RequestTimeThrottleIsBoundedByOneWindow) {
  Fixture f;
  f.set(Part{}, Part::named("busy"), QuotaKey::kRequestPercentage, 1);
  auto q = Fixture::request("ANONYMOUS", "busy");
  // 5 s of handler time: 50 % over 10 s against 1 %: Kafka caps at a window.
  EXPECT_EQ(f.throttler.record_request_time(*q, 5'000'000'000), 1000);
  auto view = f.throttler.sensor(QuotaKey::kRequestPercentage, "", "busy");
  ASSERT_TRUE(view);
  EXPECT_DOUBLE_EQ(view->rate, 50.0);
}

TEST(QuotaThrottler, IdleSensorsAreDropped) {
  Fixture f;  // sensors idle for 60 s go
  f.set(Part{}, Part::default_entity(), QuotaKey::kProducerByteRate, 1e9);
  auto a = Fixture::request("ANONYMOUS", "a", 10);
  auto b = Fixture::request("ANONYMOUS", "b", 10);
  f.throttler.record_produce(*a);
  f.now = 59000;
  f.throttler.record_produce(*b);
  EXPECT_EQ(f.throttler.sensor_count(), 2u);
  f.now = 70000;
  f.throttler.record_produce(*b);
  EXPECT_FALSE(f.throttler.sensor(QuotaKey::kProducerByteRate, "", "a"));
  EXPECT_TRUE(f.throttler.sensor(QuotaKey::kProducerByteRate, "", "b"));
}

TEST(QuotaThrottler, MutationsTakeTokensAndADebtRefusesTheNext) {
  Fixture f;
  f.set(Part{}, Part::named("admin"), QuotaKey::kControllerMutationRate, 2);  // burst 2 * 11 s = 22
  auto q = Fixture::request("ANONYMOUS", "admin");
  EXPECT_FALSE(f.throttler.mutations_exceeded(*q));
  EXPECT_EQ(f.throttler.record_mutations(*q, 20), 0);  // 2 tokens left
  EXPECT_FALSE(f.throttler.mutations_exceeded(*q));
  EXPECT_EQ(f.throttler.record_mutations(*q, 10), 4000);  // 8 in debt at 2/s
  EXPECT_TRUE(f.throttler.mutations_exceeded(*q));
  EXPECT_EQ(q->throttle_ms.load(), 4000);
  f.now = 4000;
  EXPECT_FALSE(f.throttler.mutations_exceeded(*q));
}

TEST(QuotaThrottler, AFetchMayReturnWhatTheQuotaAllowsInAllButOneWindow) {
  Fixture f;
  f.set(Part{}, Part::named("c"), QuotaKey::kConsumerByteRate, 1000);
  auto q = Fixture::request("ANONYMOUS", "c");
  EXPECT_EQ(f.throttler.max_value_in_window(QuotaKey::kConsumerByteRate, *q), 10000.0);
  auto other = Fixture::request("ANONYMOUS", "d");
  EXPECT_FALSE(f.throttler.max_value_in_window(QuotaKey::kConsumerByteRate, *other));
}

TEST(Kip219, NewVersionsThrottleOnTheClientOldOnesAreDelayed) {
  using protocol::ApiKey;
  EXPECT_FALSE(client_throttles(static_cast<int16_t>(ApiKey::kProduce), 5));
  EXPECT_TRUE(client_throttles(static_cast<int16_t>(ApiKey::kProduce), 6));
  EXPECT_FALSE(client_throttles(static_cast<int16_t>(ApiKey::kFetch), 7));
  EXPECT_TRUE(client_throttles(static_cast<int16_t>(ApiKey::kFetch), 8));
  EXPECT_TRUE(client_throttles(static_cast<int16_t>(ApiKey::kDescribeClientQuotas), 0));
  EXPECT_FALSE(request_quota_applies(static_cast<int16_t>(ApiKey::kLeaderAndIsr)));
  EXPECT_TRUE(request_quota_applies(static_cast<int16_t>(ApiKey::kMetadata)));
}

// A Fetch response frame as the router frames it: size, correlation id
// (header v0 below v12), then throttle_time_ms.
net::Response fetch_frame() {
  Bytes b(16, 0);
  store_be<int32_t>(b.data(), 12);
  store_be<int32_t>(b.data() + 4, 77);
  net::Response r;
  r.chunks.push_back(std::move(b));
  return r;
}

TEST(Kip219, TheThrottleReachesTheResponseAndMutesTheConnection) {
  security::QuotaConfigCache cache;
  security::QuotaValues v;
  v[QuotaKey::kConsumerByteRate] = 1000;
  cache.set(security::ClientQuotaEntity{Part{}, Part::named("c")}, v);
  QuotaThrottler throttler(cache, kWindow);
  net::ConnectionInfo conn;
  const int16_t fetch = static_cast<int16_t>(protocol::ApiKey::kFetch);

  for (int16_t version : {int16_t{8}, int16_t{7}}) {
    net::Response sent;
    std::function<void(net::Response)> done = [&](net::Response r) { sent = std::move(r); };
    auto q = begin_request_quota(&throttler, conn, "User:ANONYMOUS", "c", fetch, version, 100, done);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->user, "ANONYMOUS");
    const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch()).count();
    const int64_t t = throttler.record_fetch(*q, 100000);
    ASSERT_GT(t, 0);
    EXPECT_GE(conn.state->mute_until_ms.load(), before + t);
    done(fetch_frame());
    EXPECT_EQ(load_be<int32_t>(sent.chunks[0].data() + 8), t);
    // v8 clients wait by themselves; a v7 answer waits in the broker.
    EXPECT_EQ(sent.delay_ms, version >= 8 ? 0 : t);
  }
  conn.in_process = true;
  std::function<void(net::Response)> done = [](net::Response) {};
  EXPECT_FALSE(begin_request_quota(&throttler, conn, "User:ANONYMOUS", "c", fetch, 8, 100, done));
}


// Produce: Kafka writes max(byte-rate throttle, request throttle) into the
// response, and leaves acks=0 requests out of request_percentage.
struct ProduceFixture : Fixture {
  Services services;
  ProduceFixture() { services.throttler = &throttler; }
  // A produce request whose handler has run for `handler_ms` so far.
  static std::unique_ptr<RequestQuota> produce(int64_t bytes, int64_t handler_ms) {
    auto q = request("ANONYMOUS", "p", bytes);
    q->started_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch()).count() -
                    handler_ms * 1'000'000;
    return q;
  }
};

TEST(ThrottleProduce, TheRequestPercentageThrottleIsWrittenWhenItIsTheLarger) {
  ProduceFixture f;
  f.set(Part{}, Part::named("p"), QuotaKey::kRequestPercentage, 1);
  auto q = ProduceFixture::produce(100, 5000);  // 50 % of a thread over 10 s, against 1 %
  EXPECT_EQ(throttle_produce(f.services, q.get(), 1), 1000);  // bounded by one window
  EXPECT_EQ(q->throttle_ms.load(), 1000);
  // The router's end_request_quota does not count the produce a second time.
  end_request_quota(&f.throttler, q.get(), static_cast<int16_t>(protocol::ApiKey::kProduce));
  auto view = f.throttler.sensor(QuotaKey::kRequestPercentage, "", "p");
  ASSERT_TRUE(view);
  EXPECT_NEAR(view->rate, 50.0, 0.5);
}

TEST(ThrottleProduce, TheByteRateThrottleIsWrittenWhenItIsTheLarger) {
  ProduceFixture f;
  f.set(Part{}, Part::named("p"), QuotaKey::kRequestPercentage, 1);
  f.set(Part{}, Part::named("p"), QuotaKey::kProducerByteRate, 1000);
  auto q = ProduceFixture::produce(20000, 5000);  // bytes: 10000 ms; request time: 1000 ms
  EXPECT_EQ(throttle_produce(f.services, q.get(), -1), 10000);
}

TEST(ThrottleProduce, AcksZeroIsLeftOutOfRequestPercentage) {
  ProduceFixture f;
  f.set(Part{}, Part::named("p"), QuotaKey::kRequestPercentage, 1);
  auto q = ProduceFixture::produce(100, 5000);
  EXPECT_EQ(throttle_produce(f.services, q.get(), 0), 0);
  EXPECT_EQ(q->throttle_ms.load(), 0);
  EXPECT_FALSE(f.throttler.sensor(QuotaKey::kRequestPercentage, "", "p"));
}

TEST(ThrottleProduce, OtherRequestsStillCountTheirHandlerTime) {
  ProduceFixture f;
  f.set(Part{}, Part::named("p"), QuotaKey::kRequestPercentage, 1);
  auto q = ProduceFixture::produce(0, 5000);
  end_request_quota(&f.throttler, q.get(), static_cast<int16_t>(protocol::ApiKey::kMetadata));
  auto view = f.throttler.sensor(QuotaKey::kRequestPercentage, "", "p");
  ASSERT_TRUE(view);
  EXPECT_NEAR(view->rate, 50.0, 0.5);
}

}  // namespace
}  // namespace keel::server
