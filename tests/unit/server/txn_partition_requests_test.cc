// The partition side of transactions through the router, over a real
// ReplicaManager: WriteTxnMarkers (markers appended, replicated with
// acks=all, fenced by coordinator epoch, refused where this broker does not
// lead), Fetch's last stable offset and aborted list by isolation level, a
// waiting read_committed fetch woken by a marker, ListOffsets under
// read_committed, and DescribeProducers.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>

#include "cluster/metadata_cache.h"
#include "cluster/record_validation.h"
#include "cluster/replica_manager.h"
#include "protocol/generated/all.h"
#include "protocol/record_batch.h"
#include "router_call.h"
#include "security/acl.h"
#include "server/router.h"
#include "storage/log_manager.h"
#include "storage/txn_marker.h"

namespace keel::server {
namespace {

using namespace keel::protocol;
namespace fs = std::filesystem;

constexpr int16_t kWriteTxnMarkers = 27, kDescribeProducers = 61, kFetch = 1, kListOffsets = 2;
constexpr int16_t kNone = 0, kUnknownTopicOrPartition = 3, kNotLeaderOrFollower = 6, kTopicAuthFailed = 29,
                  kClusterAuthFailed = 31, kInvalidProducerEpoch = 47, kCoordinatorFenced = 52;
constexpr int64_t kTxnTimestamp = 5000;

// A response the router answered later (acks=all, long polling).
struct Answer {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<net::Response> response;
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return response.has_value(); });
  }
  bool done() {
    std::lock_guard lock(mu);
    return response.has_value();
  }
};

class TxnPartitionRequestsTest : public ::testing::Test {
 protected:
  TxnPartitionRequestsTest() : router_(identity_, config_, services_) {
    dir_ = fs::temp_directory_path() / ("keel-txn-requests-" + std::to_string(std::random_device{}()));
    storage::LogManagerOptions o;
    o.log_dirs = {dir_.string()};
    logs_ = std::move(storage::LogManager::open(o).value());
    replicas_ = std::make_unique<cluster::ReplicaManager>(1, *logs_);
    single_broker_cluster(identity_, metadata_, services_, conn_);
    services_.replicas = replicas_.get();
    // Markers are stamped with this clock: older than every record here.
    services_.now_ms = [] { return int64_t{1000}; };
    // t-0 led here, t-1 followed here (broker 2 leads), r-0 led here with
    // broker 2 in the ISR (markers wait for it).
    host("t", 0, {1, 1, 0, {1, 2}, {1}});
    host("t", 1, {2, 1, 0, {2, 1}, {2, 1}});
    host("r", 0, {1, 1, 0, {1, 2}, {1, 2}});
  }
  ~TxnPartitionRequestsTest() override {
    replicas_->shutdown();
    replicas_.reset();
    logs_.reset();
    fs::remove_all(dir_);
  }

  void host(const std::string& topic, int32_t partition, cluster::LeaderState state) {
    cluster::TopicInfo t;
    if (auto existing = metadata_.snapshot()->topic(topic)) t = *existing;
    t.name = topic;
    if (t.id.is_zero()) t.id = Uuid::random();
    cluster::PartitionInfo p;
    p.partition = partition;
    p.leader = state.leader;
    p.replicas = state.replicas;
    p.isr = state.isr;
    t.partitions.resize(std::max<size_t>(t.partitions.size(), partition + 1));
    t.partitions[partition] = p;
    metadata_.put_topic(t);
    ASSERT_EQ(replicas_->apply_leader_and_isr({topic, partition}, t.id, state, storage::LogConfig{},
                                              std::make_shared<cluster::PartitionConfig>()),
              ErrorCode::kNone);
  }
  std::shared_ptr<cluster::Partition> partition(const std::string& topic, int32_t p) {
    return replicas_->partition({topic, p});
  }

  // One batch of `count` records from producer `pid` (epoch 0), appended as
  // the leader would a produce.
  int64_t produce(const std::string& topic, int64_t pid, bool transactional, int count = 1) {
    RecordBatchBuilder b;
    b.producer(pid, 0, seq_[pid]).transactional(transactional);
    seq_[pid] += count;
    const Bytes v(100, 'v');
    for (int i = 0; i < count; ++i) b.add(kTxnTimestamp + pid, std::nullopt, ByteView(v));
    buffers_.push_back(b.build().value());
    auto records = cluster::validate_produce_records(buffers_.back(), {});
    EXPECT_TRUE(records.ok()) << records.message;
    auto out = partition(topic, 0)->append_as_leader(records, 1, 1000);
    EXPECT_EQ(out.error, ErrorCode::kNone) << out.message;
    return out.base_offset;
  }

  using Marker = WriteTxnMarkersRequest::WritableTxnMarker;
  static Marker marker(int64_t pid, bool commit, int32_t coordinator_epoch,
                       std::vector<std::pair<std::string, std::vector<int32_t>>> topics, int16_t epoch = 0) {
    Marker m;
    m.producer_id = pid;
    m.producer_epoch = epoch;
    m.transaction_result = commit;
    m.coordinator_epoch = coordinator_epoch;
    for (auto& [name, parts] : topics) {
      auto& t = m.topics.emplace_back();
      t.name = name;
      t.partition_indexes = parts;
    }
    return m;
  }
  WriteTxnMarkersResponse write_markers(std::vector<Marker> markers, int16_t version = 1) {
    WriteTxnMarkersRequest req;
    req.markers = std::move(markers);
    return call_router<WriteTxnMarkersResponse>(router_, conn_, kWriteTxnMarkers, version, req);
  }
  int16_t marker_error(const WriteTxnMarkersResponse& resp, int64_t pid, const std::string& topic, int32_t p) {
    for (const auto& m : resp.markers) {
      if (m.producer_id != pid) continue;
      for (const auto& t : m.topics) {
        if (t.name != topic) continue;
        for (const auto& r : t.partitions) {
          if (r.partition_index == p) return r.error_code;
        }
      }
    }
    ADD_FAILURE() << "no answer for producer " << pid << " on " << topic << "-" << p;
    return -1;
  }

  // Sends a request; the router answers into the returned Answer.
  template <typename Req>
  std::shared_ptr<Answer> send(int16_t api_key, int16_t version, const Req& request) {
    RequestHeader header;
    header.request_api_key = api_key;
    header.request_api_version = version;
    header.correlation_id = 9;
    header.client_id = "test";
    ByteWriter w;
    header.encode(w, request_header_version(api_key, version));
    request.encode(w, version);
    auto answer = std::make_shared<Answer>();
    router_.handle(conn_, net::Frame(w.buffer().begin(), w.buffer().end()), [answer](net::Response r) {
      std::lock_guard lock(answer->mu);
      answer->response = std::move(r);
      answer->cv.notify_all();
    });
    return answer;
  }
  // The answer's body with the file ranges read in (as sendfile would send them).
  template <typename Resp>
  Resp decode(const net::Response& r, int16_t api_key, int16_t version) {
    Bytes& all = bodies_.emplace_back();
    for (size_t i = 0; i < r.chunks.size(); ++i) {
      all.insert(all.end(), r.chunks[i].begin(), r.chunks[i].end());
      if (i < r.files.size() && r.files[i].length > 0) {
        Bytes part(static_cast<size_t>(r.files[i].length));
        EXPECT_EQ(::pread(r.files[i].fd, part.data(), part.size(), r.files[i].offset), r.files[i].length);
        all.insert(all.end(), part.begin(), part.end());
      }
    }
    ByteReader reader{ByteView(all)};
    EXPECT_EQ(static_cast<size_t>(reader.read_i32()), all.size() - 4);
    ResponseHeader rh;
    EXPECT_TRUE(rh.decode(reader, response_header_version(api_key, version)).ok());
    Resp resp;
    EXPECT_TRUE(resp.decode(reader, version).ok());
    EXPECT_TRUE(reader.at_end());
    return resp;
  }

  static FetchRequest fetch_request(const std::string& topic, int64_t offset, int8_t isolation, int32_t max_wait = 0) {
    FetchRequest req;
    req.max_wait_ms = max_wait;
    req.min_bytes = 1;
    req.isolation_level = isolation;
    auto& t = req.topics.emplace_back();
    t.topic = topic;
    auto& p = t.partitions.emplace_back();
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    return req;
  }
  FetchResponse::PartitionData fetch(const std::string& topic, int64_t offset, int8_t isolation,
                                     int16_t version = 11) {
    auto answer = send(kFetch, version, fetch_request(topic, offset, isolation));
    EXPECT_TRUE(answer->wait(std::chrono::seconds(5)));
    auto resp = decode<FetchResponse>(*answer->response, kFetch, version);
    EXPECT_EQ(resp.responses.size(), 1u);
    EXPECT_EQ(resp.responses.at(0).partitions.size(), 1u);
    return resp.responses.at(0).partitions.at(0);
  }
  // (data records, control batches) in fetched bytes.
  static std::pair<int, int> count(const FetchResponse::PartitionData& p) {
    std::pair<int, int> out{0, 0};
    if (!p.records) return out;
    BatchIterator it{p.records->bytes()};
    while (true) {
      auto b = it.next();
      if (!b || !*b) break;
      if ((**b).is_control()) {
        ++out.second;
      } else {
        out.first += (**b).records_count();
      }
    }
    return out;
  }

  ListOffsetsResponse::ListOffsetsPartitionResponse list_offset(const std::string& topic, int64_t timestamp,
                                                                int8_t isolation, int16_t version = 5) {
    ListOffsetsRequest req;
    req.replica_id = -1;
    req.isolation_level = isolation;
    auto& t = req.topics.emplace_back();
    t.name = topic;
    t.partitions.emplace_back().timestamp = timestamp;
    auto resp = call_router<ListOffsetsResponse>(router_, conn_, kListOffsets, version, req);
    EXPECT_EQ(resp.topics.size(), 1u);
    return resp.topics.at(0).partitions.at(0);
  }

  DescribeProducersResponse describe_producers(std::vector<std::pair<std::string, std::vector<int32_t>>> topics) {
    DescribeProducersRequest req;
    for (auto& [name, parts] : topics) {
      auto& t = req.topics.emplace_back();
      t.name = name;
      t.partition_indexes = parts;
    }
    return call_router<DescribeProducersResponse>(router_, conn_, kDescribeProducers, 0, req);
  }

  fs::path dir_;
  BrokerIdentity identity_;
  config::BrokerConfig config_;
  cluster::MetadataCache metadata_;
  Services services_;
  net::ConnectionInfo conn_;
  Router router_;
  std::unique_ptr<storage::LogManager> logs_;
  std::unique_ptr<cluster::ReplicaManager> replicas_;
  std::map<int64_t, int32_t> seq_;
  std::vector<Bytes> buffers_;
  std::deque<Bytes> bodies_;
};

TEST_F(TxnPartitionRequestsTest, ACommitMarkerClosesTheTransactionAndMovesTheStableOffset) {
  produce("t", 7, true, 3);  // offsets 0-2
  auto p = partition("t", 0);
  EXPECT_EQ(p->last_stable_offset(), 0);
  EXPECT_EQ(p->high_watermark(), 3);

  auto resp = write_markers({marker(7, true, 4, {{"t", {0}}})});
  ASSERT_EQ(resp.markers.size(), 1u);
  EXPECT_EQ(resp.markers[0].producer_id, 7);
  EXPECT_EQ(marker_error(resp, 7, "t", 0), kNone);
  EXPECT_EQ(p->log_end_offset(), 4);
  EXPECT_EQ(p->last_stable_offset(), 4);

  // The control batch is Kafka's COMMIT marker with the coordinator epoch.
  auto read = p->log().read(3, 1 << 20, true);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->ranges.size(), 1u);
  Bytes raw(static_cast<size_t>(read->ranges[0].length));
  ASSERT_EQ(::pread(read->ranges[0].file->fd(), raw.data(), raw.size(), read->ranges[0].position),
            static_cast<ssize_t>(raw.size()));
  BatchIterator it{ByteView(raw)};
  auto batch = it.next();
  ASSERT_TRUE(batch && *batch);
  auto parsed = storage::parse_marker(**batch);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->commit);
  EXPECT_EQ(parsed->producer_id, 7);
  EXPECT_EQ(parsed->coordinator_epoch, 4);
}

TEST_F(TxnPartitionRequestsTest, AnOlderCoordinatorOrProducerEpochIsFenced) {
  produce("t", 7, true);
  EXPECT_EQ(marker_error(write_markers({marker(7, false, 5, {{"t", {0}}})}), 7, "t", 0), kNone);
  const int64_t end = partition("t", 0)->log_end_offset();
  EXPECT_EQ(marker_error(write_markers({marker(7, false, 4, {{"t", {0}}})}), 7, "t", 0), kCoordinatorFenced);
  // A fencing abort moves the producer to epoch 1; epoch 0 is then too old.
  EXPECT_EQ(marker_error(write_markers({marker(7, false, 5, {{"t", {0}}}, 1)}), 7, "t", 0), kNone);
  EXPECT_EQ(marker_error(write_markers({marker(7, false, 5, {{"t", {0}}}, 0)}), 7, "t", 0), kInvalidProducerEpoch);
  EXPECT_EQ(partition("t", 0)->log_end_offset(), end + 1) << "refused markers append nothing";
}

TEST_F(TxnPartitionRequestsTest, PartitionsNotLedHereAreRefusedAndAnswersAreByProducer) {
  produce("t", 7, true);
  // A producer with no transaction open gets its marker all the same.
  auto resp = write_markers({marker(7, true, 1, {{"t", {0, 1}}}), marker(8, true, 1, {{"t", {0}}}),
                             marker(7, true, 1, {{"missing", {0}}})},
                            0);
  ASSERT_EQ(resp.markers.size(), 2u) << "one entry per producer id";
  EXPECT_EQ(resp.markers[0].producer_id, 7);
  EXPECT_EQ(resp.markers[0].topics.size(), 2u);
  EXPECT_EQ(marker_error(resp, 7, "t", 0), kNone);
  EXPECT_EQ(marker_error(resp, 7, "t", 1), kNotLeaderOrFollower);
  EXPECT_EQ(marker_error(resp, 7, "missing", 0), kUnknownTopicOrPartition);
  EXPECT_EQ(marker_error(resp, 8, "t", 0), kNone);
  EXPECT_EQ(partition("t", 0)->log_end_offset(), 3) << "the data batch and two markers";
  EXPECT_EQ(partition("t", 1)->log_end_offset(), 0);
}

TEST_F(TxnPartitionRequestsTest, AMarkerIsAnsweredOnceTheIsrHasIt) {
  auto p = partition("r", 0);
  produce("r", 7, true);
  WriteTxnMarkersRequest req;
  req.markers = {marker(7, true, 1, {{"r", {0}}})};
  auto answer = send(kWriteTxnMarkers, 1, req);
  EXPECT_FALSE(answer->wait(std::chrono::milliseconds(200))) << "broker 2 has not fetched the marker";
  EXPECT_EQ(p->log_end_offset(), 2);
  EXPECT_EQ(p->last_stable_offset(), 0) << "an unreplicated marker holds the stable offset";
  p->update_follower(2, 2, 1000);
  ASSERT_TRUE(answer->wait(std::chrono::seconds(5)));
  auto resp = decode<WriteTxnMarkersResponse>(*answer->response, kWriteTxnMarkers, 1);
  EXPECT_EQ(marker_error(resp, 7, "r", 0), kNone);
  EXPECT_EQ(p->last_stable_offset(), 2);
}

TEST_F(TxnPartitionRequestsTest, AMarkerWhoseLeadershipMovesIsNotLeader) {
  produce("r", 7, true);
  WriteTxnMarkersRequest req;
  req.markers = {marker(7, true, 1, {{"r", {0}}})};
  auto answer = send(kWriteTxnMarkers, 1, req);
  EXPECT_FALSE(answer->wait(std::chrono::milliseconds(100)));
  host("r", 0, {2, 2, 1, {1, 2}, {2, 1}});
  ASSERT_TRUE(answer->wait(std::chrono::seconds(5)));
  auto resp = decode<WriteTxnMarkersResponse>(*answer->response, kWriteTxnMarkers, 1);
  EXPECT_EQ(marker_error(resp, 7, "r", 0), kNotLeaderOrFollower);
}

TEST_F(TxnPartitionRequestsTest, MarkersNeedClusterActionOrAlter) {
  security::AclAuthorizer authorizer;
  services_.authorizer = &authorizer;
  produce("t", 7, true);
  EXPECT_EQ(marker_error(write_markers({marker(7, true, 1, {{"t", {0}}})}), 7, "t", 0), kClusterAuthFailed);
  EXPECT_EQ(partition("t", 0)->log_end_offset(), 1);
  using namespace security;
  authorizer.add({{ResourceType::kCluster, std::string(kClusterResourceName), PatternType::kLiteral},
                  {"User:ANONYMOUS", "*", AclOperation::kClusterAction, AclPermissionType::kAllow}});
  EXPECT_EQ(marker_error(write_markers({marker(7, true, 1, {{"t", {0}}})}), 7, "t", 0), kNone);
  services_.authorizer = nullptr;
}

// Offsets: 0 pid 7 (aborted), 1 pid 8 (committed), 2 abort 7, 3 commit 8,
// 4 pid 9 (aborted), 5 abort 9, 6 a plain batch (pid 6), 7 pid 10 (open).
// Each batch's timestamp is kTxnTimestamp + its producer id.
class TxnFetchTest : public TxnPartitionRequestsTest {
 protected:
  TxnFetchTest() {
    produce("t", 7, true);
    produce("t", 8, true);
    write_markers({marker(7, false, 1, {{"t", {0}}})});
    write_markers({marker(8, true, 1, {{"t", {0}}})});
    produce("t", 9, true);
    write_markers({marker(9, false, 1, {{"t", {0}}})});
    produce("t", 6, false);
    produce("t", 10, true);
  }
};

TEST_F(TxnFetchTest, ReadCommittedGetsTheAbortedListAndStopsAtTheStableOffset) {
  auto p = fetch("t", 0, 1);
  EXPECT_EQ(p.error_code, kNone);
  EXPECT_EQ(p.high_watermark, 8);
  EXPECT_EQ(p.last_stable_offset, 7);
  ASSERT_TRUE(p.aborted_transactions);
  ASSERT_EQ(p.aborted_transactions->size(), 2u);
  EXPECT_EQ((*p.aborted_transactions)[0].producer_id, 7);
  EXPECT_EQ((*p.aborted_transactions)[0].first_offset, 0);
  EXPECT_EQ((*p.aborted_transactions)[1].producer_id, 9);
  EXPECT_EQ((*p.aborted_transactions)[1].first_offset, 4);
  EXPECT_EQ(count(p), std::make_pair(4, 3)) << "the open transaction's batch is not returned";

  // From the commit on: pid 7's abort ended before the fetch offset.
  p = fetch("t", 3, 1);
  ASSERT_TRUE(p.aborted_transactions);
  ASSERT_EQ(p.aborted_transactions->size(), 1u);
  EXPECT_EQ((*p.aborted_transactions)[0].producer_id, 9);

  // At the stable offset: nothing yet, an empty (not null) list.
  p = fetch("t", 7, 1);
  EXPECT_EQ(p.error_code, kNone);
  EXPECT_EQ(p.last_stable_offset, 7);
  ASSERT_TRUE(p.aborted_transactions);
  EXPECT_TRUE(p.aborted_transactions->empty());
  EXPECT_EQ(count(p), std::make_pair(0, 0));
}

TEST_F(TxnFetchTest, ReadUncommittedGetsEverythingAndANullList) {
  for (int16_t version : {4, 11, 12}) {
    auto p = fetch("t", 0, 0, version);
    EXPECT_EQ(p.last_stable_offset, 7) << "v" << version;
    EXPECT_EQ(p.high_watermark, 8);
    EXPECT_FALSE(p.aborted_transactions) << "v" << version;
    EXPECT_EQ(count(p), std::make_pair(5, 3));
  }
  // An error answer carries a null list too.
  auto p = fetch("t", 99, 1);
  EXPECT_EQ(p.error_code, 1);
  EXPECT_FALSE(p.aborted_transactions);
}

TEST_F(TxnFetchTest, AWaitingReadCommittedFetchWakesWhenAMarkerMovesTheStableOffset) {
  auto answer = send(kFetch, 11, fetch_request("t", 7, 1, 10000));
  EXPECT_FALSE(answer->wait(std::chrono::milliseconds(200))) << "nothing is stable past offset 7 yet";
  const auto start = std::chrono::steady_clock::now();
  write_markers({marker(10, true, 1, {{"t", {0}}})});
  ASSERT_TRUE(answer->wait(std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto resp = decode<FetchResponse>(*answer->response, kFetch, 11);
  const auto& p = resp.responses.at(0).partitions.at(0);
  EXPECT_EQ(p.last_stable_offset, 9);
  EXPECT_EQ(count(p), std::make_pair(1, 1));
}

TEST_F(TxnFetchTest, ListOffsetsUnderReadCommittedStopsAtTheStableOffset) {
  EXPECT_EQ(list_offset("t", -1, 1).offset, 7);
  EXPECT_EQ(list_offset("t", -1, 0).offset, 8);
  EXPECT_EQ(list_offset("t", -1, 1, 1).offset, 8) << "v1 has no isolation level";
  // pid 10's batch (offset 7) carries the latest timestamp.
  EXPECT_EQ(list_offset("t", kTxnTimestamp + 10, 0).offset, 7);
  EXPECT_EQ(list_offset("t", kTxnTimestamp + 10, 1).offset, -1);
  EXPECT_EQ(list_offset("t", kTxnTimestamp + 11, 0).offset, -1);
  EXPECT_EQ(list_offset("t", kTxnTimestamp + 9, 1).offset, 4);
}

TEST_F(TxnFetchTest, DescribeProducersShowsOpenTransactions) {
  auto resp = describe_producers({{"t", {0, 1, 5}}, {"missing", {0}}});
  ASSERT_EQ(resp.topics.size(), 2u);
  const auto& parts = resp.topics[0].partitions;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].error_code, kNone);
  std::map<int64_t, DescribeProducersResponse::ProducerState> by_id;
  for (const auto& s : parts[0].active_producers) by_id[s.producer_id] = s;
  ASSERT_EQ(by_id.size(), 5u);
  EXPECT_EQ(by_id[10].current_txn_start_offset, 7);
  EXPECT_EQ(by_id[10].producer_epoch, 0);
  EXPECT_EQ(by_id[10].last_sequence, 0);
  EXPECT_GE(by_id[10].last_timestamp, 1000);
  EXPECT_EQ(by_id[7].current_txn_start_offset, -1);
  EXPECT_EQ(by_id[7].coordinator_epoch, 1);
  EXPECT_EQ(by_id[6].coordinator_epoch, -1);
  EXPECT_EQ(parts[1].error_code, kNotLeaderOrFollower);
  EXPECT_EQ(parts[2].error_code, kUnknownTopicOrPartition);
  EXPECT_EQ(resp.topics[1].partitions.at(0).error_code, kUnknownTopicOrPartition);

  security::AclAuthorizer authorizer;
  services_.authorizer = &authorizer;
  resp = describe_producers({{"t", {0}}});
  EXPECT_EQ(resp.topics.at(0).partitions.at(0).error_code, kTopicAuthFailed);
  EXPECT_TRUE(resp.topics.at(0).partitions.at(0).active_producers.empty());
  services_.authorizer = nullptr;
}

}  // namespace
}  // namespace keel::server
