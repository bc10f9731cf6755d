// ProducerIdManager: ids come only from claimed blocks, a failed or malformed
// claim is an error (never an id nobody claimed), and a later call retries.

#include "cluster/producer_id_manager.h"

#include <gtest/gtest.h>

#include <system_error>
#include <utility>
#include <vector>

namespace keel::cluster {
namespace {

TEST(ProducerIdManagerBlocks, IdsRunThroughEachBlockThenClaimTheNext) {
  std::vector<std::pair<int64_t, int64_t>> blocks = {{1000, 1002}, {5000, 5001}};
  size_t claims = 0;
  ProducerIdManager ids([&]() -> Result<std::pair<int64_t, int64_t>> { return blocks.at(claims++); });
  std::vector<int64_t> got;
  for (int i = 0; i < 5; ++i) got.push_back(ids.next_id().value());
  EXPECT_EQ(got, (std::vector<int64_t>{1000, 1001, 1002, 5000, 5001}));
  EXPECT_EQ(claims, 2u) << "a block is claimed only when the previous one is used up";
}

TEST(ProducerIdManagerBlocks, AFailedClaimIsReturnedAndTheNextCallClaimsAgain) {
  int calls = 0;
  ProducerIdManager ids([&]() -> Result<std::pair<int64_t, int64_t>> {
    if (++calls == 1) return std::make_error_code(std::errc::connection_refused);
    return std::make_pair(int64_t{20}, int64_t{29});
  });
  auto first = ids.next_id();
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error(), std::make_error_code(std::errc::connection_refused));
  EXPECT_EQ(ids.next_id().value(), 20);
  EXPECT_EQ(calls, 2);
}

TEST(ProducerIdManagerBlocks, AnEmptyOrNegativeBlockIsAnErrorNotAnId) {
  std::vector<std::pair<int64_t, int64_t>> blocks = {{10, 9}, {-5, 3}, {7, 7}};
  size_t claims = 0;
  ProducerIdManager ids([&]() -> Result<std::pair<int64_t, int64_t>> { return blocks.at(claims++); });
  EXPECT_FALSE(ids.next_id()) << "last < first";
  EXPECT_FALSE(ids.next_id()) << "negative ids";
  EXPECT_EQ(ids.next_id().value(), 7);
}

}  // namespace
}  // namespace keel::cluster
