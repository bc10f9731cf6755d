#include "cluster/follower_fetch_session.h"

#include <gtest/gtest.h>

#include "common/bytes.h"

namespace keel::cluster {
namespace {

using State = FollowerFetchSession::PartitionState;

size_t partitions_in(const protocol::FetchRequest& req) {
  size_t n = 0;
  for (const auto& t : req.topics) n += t.partitions.size();
  return n;
}

size_t encoded_size(const protocol::FetchRequest& req) {
  ByteWriter w;
  req.encode(w, 12);
  return w.buffer().size();
}

FollowerFetchSession::Wanted idle_partitions(int n) {
  FollowerFetchSession::Wanted w;
  for (int i = 0; i < n; ++i) w[{"topic-" + std::to_string(i / 10), i % 10}] = State{1000, 0, 1 << 20, 3, 3};
  return w;
}

// The measure the issue asks for: a follower of 1,000 idle partitions.
TEST(FollowerFetchSession, IdlePartitionsLeaveTheRequestOnceTheSessionIsOpen) {
  FollowerFetchSession s;
  auto wanted = idle_partitions(1000);
  protocol::FetchRequest full;
  s.build(wanted, full);
  EXPECT_EQ(full.session_id, 0);
  EXPECT_EQ(full.session_epoch, 0);
  EXPECT_EQ(partitions_in(full), 1000u);
  s.on_response(0, 77);

  protocol::FetchRequest incremental;
  s.build(wanted, incremental);
  EXPECT_EQ(incremental.session_id, 77);
  EXPECT_EQ(incremental.session_epoch, 1);
  EXPECT_EQ(partitions_in(incremental), 0u);
  EXPECT_TRUE(incremental.forgotten_topics_data.empty());
  const size_t full_bytes = encoded_size(full), incremental_bytes = encoded_size(incremental);
  std::printf("fetch request with 1000 idle partitions: full %zu bytes, incremental %zu bytes\n", full_bytes,
              incremental_bytes);
  EXPECT_GT(full_bytes, 30000u);
  EXPECT_LT(incremental_bytes, 100u);
  s.on_response(0, 77);
  EXPECT_EQ(s.next_epoch(), 2);
}

TEST(FollowerFetchSession, OnlyMovedNewAndDroppedPartitionsAreNamed) {
  FollowerFetchSession s;
  auto wanted = idle_partitions(20);
  protocol::FetchRequest req;
  s.build(wanted, req);
  s.on_response(0, 5);
  wanted[{"topic-0", 3}].fetch_offset = 1200;       // appended
  wanted[{"topic-1", 0}].current_leader_epoch = 4;  // a new leader epoch
  wanted[{"new", 0}] = State{0, 0, 1 << 20, 1, -1};  // joined
  wanted.erase({"topic-1", 7});                       // paused or throttled
  s.build(wanted, req);
  EXPECT_EQ(partitions_in(req), 3u);
  ASSERT_EQ(req.forgotten_topics_data.size(), 1u);
  EXPECT_EQ(req.forgotten_topics_data[0].topic, "topic-1");
  EXPECT_EQ(req.forgotten_topics_data[0].partitions, std::vector<int32_t>{7});
  s.on_response(0, 5);
  // A forgotten partition that comes back is named again.
  wanted[{"topic-1", 7}] = State{1000, 0, 1 << 20, 3, 3};
  s.build(wanted, req);
  EXPECT_EQ(partitions_in(req), 1u);
  EXPECT_EQ(req.session_epoch, 2);
}

TEST(FollowerFetchSession, AnErrorOrAFailureMakesTheNextRequestAFullOne) {
  FollowerFetchSession s;
  auto wanted = idle_partitions(10);
  protocol::FetchRequest req;
  s.build(wanted, req);
  s.on_response(0, 9);
  s.build(wanted, req);
  s.on_response(70, 0);  // FETCH_SESSION_ID_NOT_FOUND
  s.build(wanted, req);
  EXPECT_EQ(req.session_epoch, 0);
  EXPECT_EQ(partitions_in(req), 10u);
  s.on_response(0, 10);
  s.build(wanted, req);
  s.on_failure();
  s.build(wanted, req);
  EXPECT_EQ(req.session_epoch, 0);
  EXPECT_EQ(req.session_id, 10) << "the full request replaces the old session";
  EXPECT_EQ(partitions_in(req), 10u);
}

TEST(FollowerFetchSession, ALeaderThatDeclinesSessionsGetsFullRequests) {
  FollowerFetchSession s;
  auto wanted = idle_partitions(10);
  protocol::FetchRequest req;
  s.build(wanted, req);
  s.on_response(0, 0);
  s.build(wanted, req);
  EXPECT_EQ(req.session_epoch, 0);
  EXPECT_EQ(partitions_in(req), 10u);
}

}  // namespace
}  // namespace keel::cluster
