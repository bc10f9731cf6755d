// StartupRetry: a start-up step rides out a store outage (a lost connection,
// an expired session) up to its budget, and answers a real error at once.

#include "coord/startup_retry.h"

#include <gtest/gtest.h>

#include <chrono>

#include "coord/errors.h"

namespace keel::coord {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(StartupRetry, AConnectionLossIsRetriedUntilTheStoreAnswers) {
  const StartupRetry retry(5000ms);
  int calls = 0;
  auto r = retry.run("step", [&]() -> Result<int> {
    if (++calls < 3) return CoordErrc::kConnectionLoss;
    return 42;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(calls, 3);
}

TEST(StartupRetry, ARealErrorIsAnsweredAtOnce) {
  const StartupRetry retry(5000ms);
  int calls = 0;
  auto r = retry.run("step", [&]() -> Result<void> {
    ++calls;
    return CoordErrc::kNoAuth;
  });
  EXPECT_EQ(r.error(), make_error_code(CoordErrc::kNoAuth));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(retry.explain(r.error()), r.error().message()) << "no outage to explain";
}

TEST(StartupRetry, AnOutageLongerThanTheBudgetFailsSayingSo) {
  const StartupRetry retry(400ms);
  int calls = 0;
  const auto start = Clock::now();
  auto r = retry.run("step", [&]() -> Result<void> {
    ++calls;
    return CoordErrc::kConnectionLoss;
  });
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.error(), make_error_code(CoordErrc::kConnectionLoss));
  EXPECT_GE(took, 400ms);
  EXPECT_LT(took, 3s);
  EXPECT_GE(calls, 3);
  EXPECT_NE(retry.explain(r.error()).find("unreachable for 400 ms"), std::string::npos) << retry.explain(r.error());
}

TEST(StartupRetry, AnExpiredSessionIsRenewedBeforeTheNextAttempt) {
  int renewals = 0;
  bool renewed = false;
  const StartupRetry retry(5000ms, [&]() -> Result<void> {
    ++renewals;
    renewed = true;
    return {};
  });
  auto r = retry.run("step", [&]() -> Result<void> {
    if (!renewed) return CoordErrc::kSessionExpired;
    return {};
  });
  EXPECT_TRUE(r);
  EXPECT_EQ(renewals, 1);
}

TEST(StartupRetry, WithoutABudgetNothingIsRetried) {
  const StartupRetry retry;  // the embedded store
  int calls = 0;
  auto r = retry.run("step", [&]() -> Result<void> {
    ++calls;
    return CoordErrc::kConnectionLoss;
  });
  EXPECT_FALSE(r);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace keel::coord
