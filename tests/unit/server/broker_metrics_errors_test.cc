// RequestMetrics ErrorsPerSec reads a response's top-level error code from
// its encoded bytes (server/broker_metrics_errors.cc): where it sits per API
// and version, and which responses it leaves alone.

#include <gtest/gtest.h>

#include "protocol/generated/api.h"
#include "server/broker_metrics.h"

namespace keel::server {
namespace {

// A response as the router hands it to the connection: size prefix,
// correlation id, the flexible header's empty tagged fields, then `body`.
net::Response response(int16_t api_key, int16_t version, std::vector<uint8_t> body) {
  Bytes b = {0, 0, 0, 0, 0, 0, 0, 7};
  if (protocol::response_header_version(api_key, version) >= 1) b.push_back(0);
  b.insert(b.end(), body.begin(), body.end());
  net::Response r;
  r.chunks.push_back(std::move(b));
  return r;
}

TEST(TopLevelError, IsTheFirstFieldWithoutAThrottleTime) {
  // ApiVersions (header v0 always): error_code first.
  EXPECT_EQ(top_level_error(18, 3, response(18, 3, {0, 35})), 35);
  EXPECT_EQ(top_level_error(17, 1, response(17, 1, {0, 0})), 0);
}

TEST(TopLevelError, FollowsTheThrottleTimeWhereTheVersionHasOne) {
  // Heartbeat v0 has no throttle_time_ms; v1+ has it first.
  EXPECT_EQ(top_level_error(12, 0, response(12, 0, {0, 27})), 27);
  EXPECT_EQ(top_level_error(12, 4, response(12, 4, {0, 0, 0, 9, 0, 27})), 27);
  // Fetch has a top-level error only from v7.
  EXPECT_EQ(top_level_error(1, 11, response(1, 11, {0, 0, 0, 0, 0, 1})), 1);
  EXPECT_FALSE(top_level_error(1, 6, response(1, 6, {0, 0, 0, 0, 0, 1})));
}

TEST(TopLevelError, ResponsesWithErrorsPerPartitionAreNotRead) {
  EXPECT_FALSE(top_level_error(0, 9, response(0, 9, {0, 0, 0, 0, 0, 1})));  // Produce
  EXPECT_FALSE(top_level_error(3, 12, response(3, 12, {0, 0, 0, 0, 0, 1})));  // Metadata
}

TEST(TopLevelError, ATruncatedResponseGivesNothing) {
  EXPECT_FALSE(top_level_error(12, 4, response(12, 4, {0, 0, 0})));
}

TEST(TopLevelError, ReadsAcrossChunks) {
  net::Response r = response(18, 3, {0});
  r.chunks.push_back(Bytes{42});
  EXPECT_EQ(top_level_error(18, 3, r), 42);
}

}  // namespace
}  // namespace keel::server
