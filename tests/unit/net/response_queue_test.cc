#include "net/response_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "net/frame.h"

namespace keel::net {
namespace {

Response tagged(uint8_t tag) {
  Response r;
  r.chunks.push_back(Bytes{tag});
  return r;
}

TEST(ResponseQueue, HoldsLaterResponsesUntilEarlierOnesComplete) {
  ResponseQueue q;
  const auto a = q.reserve(), b = q.reserve(), c = q.reserve();
  q.complete(c, tagged(3));
  q.complete(b, tagged(2));
  EXPECT_TRUE(q.take_ready().empty());
  q.complete(a, tagged(1));
  auto ready = q.take_ready();
  ASSERT_EQ(ready.size(), 3u);
  EXPECT_EQ(ready[0].chunks[0], Bytes{1});
  EXPECT_EQ(ready[1].chunks[0], Bytes{2});
  EXPECT_EQ(ready[2].chunks[0], Bytes{3});
  EXPECT_EQ(q.in_flight(), 0u);
}

TEST(ResponseQueue, RandomCompletionOrderAlwaysLeavesInRequestOrder) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    ResponseQueue q;
    std::vector<uint64_t> seqs;
    for (int i = 0; i < 40; ++i) seqs.push_back(q.reserve());
    std::shuffle(seqs.begin(), seqs.end(), rng);
    std::vector<uint8_t> sent;
    for (auto s : seqs) {
      q.complete(s, tagged(static_cast<uint8_t>(s)));
      for (auto& r : q.take_ready()) sent.push_back(r.chunks[0][0]);
    }
    ASSERT_EQ(sent.size(), 40u);
    for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(sent[i], i);
  }
}

TEST(ResponseQueue, NoResponseStillKeepsItsPlace) {
  ResponseQueue q;
  const auto a = q.reserve(), b = q.reserve();
  q.complete(b, tagged(2));
  q.complete(a, Response{});  // e.g. acks=0 produce: nothing to send
  auto ready = q.take_ready();
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_TRUE(ready[0].chunks.empty());
  EXPECT_EQ(ready[1].chunks[0], Bytes{2});
}

TEST(FrameSize, RefusedBeforeAllocationWhenNegativeTinyOrTooLarge) {
  const uint8_t negative[4] = {0xff, 0xff, 0xff, 0xfb};
  const uint8_t tiny[4] = {0, 0, 0, 7};
  const uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
  const uint8_t fine[4] = {0, 0, 0x10, 0};
  EXPECT_EQ(check_frame_size(negative, 1 << 20).error(), make_error_code(NetErrc::kNegativeSize));
  EXPECT_EQ(check_frame_size(tiny, 1 << 20).error(), make_error_code(NetErrc::kFrameTooSmall));
  EXPECT_EQ(check_frame_size(huge, 1 << 20).error(), make_error_code(NetErrc::kFrameTooLarge));
  ASSERT_TRUE(check_frame_size(fine, 1 << 20).ok());
  EXPECT_EQ(*check_frame_size(fine, 1 << 20), 4096u);
  EXPECT_EQ(check_frame_size(fine, 4095).error(), make_error_code(NetErrc::kFrameTooLarge));
}

}  // namespace
}  // namespace keel::net
