// The coordinator's marker channel (server/txn_marker_channel.h) over a
// TxnBrokerLink whose own-broker requests go to a fake WriteTxnMarkers
// handler: grouping by leader, one request for markers queued together,
// deleted topics, unknown and unreachable leaders, the leader's per-partition
// errors, and stop() dropping answers still to come. With a local writer (the
// broker's), the partitions this broker leads are written on the caller's
// thread with no request.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "cluster/metadata_cache.h"
#include "net/client.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"
#include "protocol/generated/write_txn_markers_request.h"
#include "protocol/generated/write_txn_markers_response.h"
#include "server/txn_broker_link.h"
#include "server/txn_marker_channel.h"

namespace keel::server {
namespace {

using protocol::ErrorCode;

txn::TopicPartition tp(const std::string& topic, int32_t partition) { return {topic, partition}; }

// Broker 1 (this one) leads "t" 0 and 1; broker 2 leads "u" 0 but listens
// nowhere (connections refused); "v" 0 has no leader.
void cluster(cluster::MetadataCache& metadata) {
  cluster::BrokerInfo b1{1, {{"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"}}, std::nullopt};
  cluster::BrokerInfo b2{2, {{"PLAINTEXT", "127.0.0.1", 1, "PLAINTEXT"}}, std::nullopt};
  std::vector<cluster::TopicInfo> topics;
  auto topic = [&](const std::string& name, std::vector<int32_t> leaders) {
    cluster::TopicInfo t;
    t.name = name;
    for (size_t i = 0; i < leaders.size(); ++i) {
      cluster::PartitionInfo p;
      p.partition = static_cast<int32_t>(i);
      p.leader = leaders[i];
      t.partitions.push_back(p);
    }
    topics.push_back(t);
  };
  topic("t", {1, 1});
  topic("u", {2});
  topic("v", {-1});
  // As the controller's UpdateMetadata fills it.
  metadata.apply_update({{1, b1}, {2, b2}}, 1, topics);
}

// Answers WriteTxnMarkers in process: NONE, or the error set for a partition.
struct FakeLeader {
  std::mutex mu;
  std::vector<protocol::WriteTxnMarkersRequest> seen;
  std::map<std::pair<std::string, int32_t>, ErrorCode> errors;
  bool answer = true;

  // Records the request; nullopt when set not to answer.
  std::optional<protocol::WriteTxnMarkersResponse> respond(const protocol::WriteTxnMarkersRequest& req) {
    protocol::WriteTxnMarkersResponse resp;
    std::lock_guard lock(mu);
    seen.push_back(req);
    if (!answer) return std::nullopt;  // never answered: stop() must not wait for it
    for (const auto& m : req.markers) {
      auto& rm = resp.markers.emplace_back();
      rm.producer_id = m.producer_id;
      for (const auto& t : m.topics) {
        auto& rt = rm.topics.emplace_back();
        rt.name = t.name;
        for (int32_t p : t.partition_indexes) {
          auto it = errors.find({t.name, p});
          rt.partitions.push_back({p, static_cast<int16_t>(it == errors.end() ? ErrorCode::kNone : it->second), {}});
        }
      }
    }
    return resp;
  }

  void handle(Bytes frame, std::function<void(Result<Bytes>)> done) {
    ByteReader r{ByteView(frame)};
    protocol::RequestHeader h;
    ASSERT_TRUE(h.decode(r, 2).ok());
    protocol::WriteTxnMarkersRequest req;
    ASSERT_TRUE(req.decode(r, h.request_api_version).ok());
    auto resp = respond(req);
    if (!resp) return;
    ByteWriter w;
    protocol::ResponseHeader rh;
    rh.correlation_id = h.correlation_id;
    rh.encode(w, 1);
    resp->encode(w, h.request_api_version);
    done(Bytes(w.buffer().begin(), w.buffer().end()));
  }
};

// The one request written for marker(42, {t-0, t-1}, abort).
void expect_abort_of_42_on_t01(const std::vector<protocol::WriteTxnMarkersRequest>& seen) {
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].markers.size(), 1u);
  const auto& m = seen[0].markers[0];
  EXPECT_EQ(m.producer_id, 42);
  EXPECT_EQ(m.producer_epoch, 3);
  EXPECT_FALSE(m.transaction_result);
  EXPECT_EQ(m.coordinator_epoch, 7);
  ASSERT_EQ(m.topics.size(), 1u);
  EXPECT_EQ(m.topics[0].partition_indexes, (std::vector<int32_t>{0, 1}));
}

class MarkerChannelTest : public ::testing::Test {
 protected:
  MarkerChannelTest() {
    cluster(metadata);
    TxnBrokerLink::Options o;
    o.broker_id = 1;
    o.listener_name = "PLAINTEXT";
    o.request_timeout_ms = 2000;
    o.local = [this](Bytes frame, std::function<void(Result<Bytes>)> done) {
      leader.handle(std::move(frame), std::move(done));
    };
    link = std::make_unique<TxnBrokerLink>(runtime, metadata, o);
    channel = std::make_unique<ReplicaMarkerChannel>(*link, metadata);
  }
  ~MarkerChannelTest() override {
    channel->stop();
    link->close();
  }

  static txn::TxnMarker marker(int64_t producer_id, std::vector<txn::TopicPartition> partitions, bool commit = true) {
    txn::TxnMarker m;
    m.transactional_id = "tx-" + std::to_string(producer_id);
    m.producer_id = producer_id;
    m.producer_epoch = 3;
    m.commit = commit;
    m.coordinator_epoch = 7;
    m.partitions = std::move(partitions);
    return m;
  }

  // Sends and waits for the results, by partition.
  std::map<txn::TopicPartition, txn::MarkerResult> send(txn::TxnMarker m, int64_t delay_ms = 0) {
    auto promise = std::make_shared<std::promise<std::vector<txn::MarkerResult>>>();
    auto future = promise->get_future();
    channel->send(std::move(m), delay_ms, [promise](std::vector<txn::MarkerResult> r) { promise->set_value(r); });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    std::map<txn::TopicPartition, txn::MarkerResult> out;
    for (const auto& r : future.get()) out[r.partition] = r;
    return out;
  }

  net::ClientRuntime runtime{"test-txn"};
  cluster::MetadataCache metadata;
  FakeLeader leader;
  std::unique_ptr<TxnBrokerLink> link;
  std::unique_ptr<ReplicaMarkerChannel> channel;
};

TEST_F(MarkerChannelTest, WritesTheMarkerToTheLeaderAndReportsEachPartition) {
  auto results = send(marker(42, {{"t", 0}, {"t", 1}}, /*commit=*/false));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[tp("t", 0)].error, ErrorCode::kNone);
  EXPECT_FALSE(results[tp("t", 1)].deleted);
  expect_abort_of_42_on_t01(leader.seen);
}

TEST_F(MarkerChannelTest, DeletedTopicsAreDoneWithoutARequest) {
  auto results = send(marker(1, {{"gone", 0}, {"t", 5}}));
  EXPECT_TRUE(results[tp("gone", 0)].deleted);
  EXPECT_TRUE(results[tp("t", 5)].deleted);
  EXPECT_TRUE(leader.seen.empty());
  EXPECT_EQ(channel->requests_sent(), 0u);
}

// The chaos run that found it: a broker restarted after kill -9 aborted a
// timed-out transaction before the controller's first UpdateMetadata, and
// the marker for a partition it had not heard of yet was dropped as if its
// topic were deleted: the aborted records then read as committed.
TEST_F(MarkerChannelTest, ATopicUnknownBeforeTheFirstUpdateMetadataIsRetriedNotDropped) {
  cluster::MetadataCache starting;  // LeaderAndIsr seen, no UpdateMetadata yet
  ReplicaMarkerChannel early(*link, starting);
  auto promise = std::make_shared<std::promise<std::vector<txn::MarkerResult>>>();
  auto future = promise->get_future();
  early.send(marker(5, {{"t", 0}}, /*commit=*/false), 0,
             [promise](std::vector<txn::MarkerResult> r) { promise->set_value(r); });
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const auto results = future.get();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].deleted);
  EXPECT_EQ(results[0].error, ErrorCode::kNotLeaderOrFollower);  // judged retriable by the coordinator
  EXPECT_TRUE(leader.seen.empty());
  early.stop();
}

TEST_F(MarkerChannelTest, NoLeaderOrAnUnreachableOneIsNotLeader) {
  auto results = send(marker(1, {{"u", 0}, {"v", 0}, {"t", 0}}));
  EXPECT_EQ(results[tp("u", 0)].error, ErrorCode::kNotLeaderOrFollower);  // broker 2 refuses connections
  EXPECT_EQ(results[tp("v", 0)].error, ErrorCode::kNotLeaderOrFollower);
  EXPECT_EQ(results[tp("t", 0)].error, ErrorCode::kNone);
}

TEST_F(MarkerChannelTest, TheLeadersPartitionErrorsArePassedOn) {
  leader.errors[{"t", 1}] = ErrorCode::kTransactionCoordinatorFenced;
  auto results = send(marker(9, {{"t", 0}, {"t", 1}}));
  EXPECT_EQ(results[tp("t", 0)].error, ErrorCode::kNone);
  EXPECT_EQ(results[tp("t", 1)].error, ErrorCode::kTransactionCoordinatorFenced);
}

TEST_F(MarkerChannelTest, MarkersQueuedTogetherLeaveInOneRequest) {
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  // Holds the runtime thread so both sends are queued before either is routed.
  runtime.post([opened] { opened.wait(); });
  std::vector<std::future<std::vector<txn::MarkerResult>>> futures;
  for (int64_t pid : {100, 200}) {
    auto p = std::make_shared<std::promise<std::vector<txn::MarkerResult>>>();
    futures.push_back(p->get_future());
    channel->send(marker(pid, {{"t", 0}}), 0, [p](std::vector<txn::MarkerResult> r) { p->set_value(r); });
  }
  gate.set_value();
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    auto r = f.get();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].error, ErrorCode::kNone);
  }
  ASSERT_EQ(leader.seen.size(), 1u);
  ASSERT_EQ(leader.seen[0].markers.size(), 2u);
  EXPECT_EQ(leader.seen[0].markers[0].producer_id, 100);
  EXPECT_EQ(leader.seen[0].markers[1].producer_id, 200);
  EXPECT_EQ(channel->requests_sent(), 1u);
}

TEST_F(MarkerChannelTest, ADelayedSendWaits) {
  const auto start = std::chrono::steady_clock::now();
  auto results = send(marker(5, {{"t", 0}}), /*delay_ms=*/150);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  EXPECT_EQ(results[tp("t", 0)].error, ErrorCode::kNone);
}

TEST_F(MarkerChannelTest, StopDropsAnswersStillToCome) {
  leader.answer = false;
  std::atomic<bool> called{false};
  channel->send(marker(5, {{"t", 0}}), 0, [&](std::vector<txn::MarkerResult>) { called = true; });
  for (int i = 0; i < 200 && leader.seen.empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  channel->stop();
  std::atomic<bool> later{false};
  channel->send(marker(6, {{"t", 0}}), 0, [&](std::vector<txn::MarkerResult>) { later = true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(called);
  EXPECT_FALSE(later);
  EXPECT_EQ(leader.seen.size(), 1u);
}

// The broker's channel: markers for the partitions this broker leads go to
// the local writer, on the thread that sends them, with no request.
class LocalMarkerChannelTest : public MarkerChannelTest {
 protected:
  LocalMarkerChannelTest() {
    channel->stop();
    channel = std::make_unique<ReplicaMarkerChannel>(
        *link, metadata,
        [this](const protocol::WriteTxnMarkersRequest& req,
               std::function<void(protocol::WriteTxnMarkersResponse)> answer) {
          writer_threads.push_back(std::this_thread::get_id());
          if (hold) {
            held = std::move(answer);  // answered later, as a marker waiting for its ISR
            local.respond(req);
            return;
          }
          if (auto resp = local.respond(req)) answer(std::move(*resp));
        });
  }

  FakeLeader local;  // what the local writer wrote
  std::vector<std::thread::id> writer_threads;
  bool hold = false;
  std::function<void(protocol::WriteTxnMarkersResponse)> held;
};

TEST_F(LocalMarkerChannelTest, PartitionsLedHereAreWrittenOnTheSendersThreadWithoutARequest) {
  std::optional<std::vector<txn::MarkerResult>> results;
  channel->send(marker(42, {{"t", 0}, {"t", 1}}, /*commit=*/false), 0,
                [&](std::vector<txn::MarkerResult> r) { results = std::move(r); });
  // Answered before send returned: no hand-off to the link's thread.
  ASSERT_TRUE(results.has_value());
  ASSERT_EQ(results->size(), 2u);
  for (const auto& r : *results) EXPECT_EQ(r.error, ErrorCode::kNone);
  ASSERT_EQ(writer_threads.size(), 1u);
  EXPECT_EQ(writer_threads[0], std::this_thread::get_id());
  EXPECT_TRUE(leader.seen.empty());
  EXPECT_EQ(channel->requests_sent(), 0u);
  EXPECT_EQ(channel->local_writes(), 1u);
  expect_abort_of_42_on_t01(local.seen);
}

TEST_F(LocalMarkerChannelTest, LocalErrorsAndOtherLeadersAreReportedTogether) {
  local.errors[{"t", 1}] = ErrorCode::kNotLeaderOrFollower;  // the metadata was behind
  auto results = send(marker(9, {{"t", 0}, {"t", 1}, {"u", 0}, {"gone", 0}}));
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[tp("t", 0)].error, ErrorCode::kNone);
  EXPECT_EQ(results[tp("t", 1)].error, ErrorCode::kNotLeaderOrFollower);
  EXPECT_EQ(results[tp("u", 0)].error, ErrorCode::kNotLeaderOrFollower);  // broker 2, through the link
  EXPECT_TRUE(results[tp("gone", 0)].deleted);
  EXPECT_TRUE(leader.seen.empty());
  EXPECT_EQ(local.seen.size(), 1u);
}

TEST_F(LocalMarkerChannelTest, AnAnswerWithoutTheMarkerIsAnUnknownServerError) {
  channel->stop();
  channel = std::make_unique<ReplicaMarkerChannel>(
      *link, metadata,
      [](const protocol::WriteTxnMarkersRequest&, std::function<void(protocol::WriteTxnMarkersResponse)> answer) {
        answer({});
      });
  auto results = send(marker(9, {{"t", 0}}));
  EXPECT_EQ(results[tp("t", 0)].error, ErrorCode::kUnknownServerError);  // judged retriable
}

TEST_F(LocalMarkerChannelTest, ADelayedSendIsWrittenLaterOnTheLinksThread) {
  std::atomic<bool> called{false};
  auto promise = std::make_shared<std::promise<std::vector<txn::MarkerResult>>>();
  auto future = promise->get_future();
  channel->send(marker(5, {{"t", 0}}), /*delay_ms=*/100, [&, promise](std::vector<txn::MarkerResult> r) {
    called = true;
    promise->set_value(r);
  });
  EXPECT_FALSE(called);  // not on this thread
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(writer_threads.size(), 1u);
  EXPECT_NE(writer_threads[0], std::this_thread::get_id());
  EXPECT_EQ(future.get()[0].error, ErrorCode::kNone);
}

TEST_F(LocalMarkerChannelTest, ALocalAnswerAfterStopIsDropped) {
  hold = true;
  std::atomic<bool> called{false};
  channel->send(marker(5, {{"t", 0}}), 0, [&](std::vector<txn::MarkerResult>) { called = true; });
  ASSERT_TRUE(held);
  channel->stop();
  FakeLeader answerer;
  held(*answerer.respond(local.seen[0]));  // the replication wait ends after the coordinator went
  EXPECT_FALSE(called);
  channel->send(marker(6, {{"t", 0}}), 0, [&](std::vector<txn::MarkerResult>) { called = true; });
  EXPECT_FALSE(called);
  EXPECT_EQ(local.seen.size(), 1u);  // nothing written after stop
}

}  // namespace
}  // namespace keel::server
