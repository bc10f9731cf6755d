#pragma once
// Test doubles for the transaction coordinator: __transaction_state in memory
// (a test decides when the ISR "has" a write, and which writes fail), a
// counting producer id source, a marker channel that records what it is asked
// to send and answers when told, and a clock the test moves.

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "txn/coordinator.h"
#include "txn/log_codec.h"

namespace keel::txn::testing {

using protocol::ErrorCode;

class MemoryTxnLog : public TxnStateLog {
 public:
  struct Held {
    int32_t partition;
    AppendDone done;
  };

  // This broker leads `partition` at `epoch` from now on, a new leadership
  // (it was not the leader before).
  void lead(int32_t partition, int32_t epoch) { leaderships[partition] = Leadership{epoch, epoch}; }
  // The same leadership of `partition` goes on at a newer `epoch` (an ISR
  // change): writes of a coordinator epoch since its start still go in.
  void bump(int32_t partition, int32_t epoch) { leaderships[partition].epoch = epoch; }

  void append(int32_t partition, int32_t coordinator_epoch, std::vector<TxnRecordBytes> records, int64_t timeout_ms,
              AppendDone done) override {
    ++appends;
    last_timeout_ms = timeout_ms;
    // As the replica log (server::ReplicaTxnStateLog): led without a break
    // since the coordinator epoch.
    auto led = leaderships.find(partition);
    if (led == leaderships.end() || coordinator_epoch < led->second.since || coordinator_epoch > led->second.epoch) {
      done(ErrorCode::kNotLeaderOrFollower);
      return;
    }
    if (fail_next != ErrorCode::kNone) {
      const ErrorCode e = fail_next;
      fail_next = ErrorCode::kNone;
      done(e);
      return;
    }
    auto& log = data[partition];
    for (auto& r : records) log.push_back(std::move(r));
    if (hold) {
      held.push_back(Held{partition, std::move(done)});
    } else {
      done(ErrorCode::kNone);
    }
  }

  ErrorCode read_all(int32_t partition, const RecordFn& fn) override {
    if (on_read) on_read();
    if (read_error != ErrorCode::kNone) return read_error;
    for (const auto& r : data[partition]) {
      std::optional<ByteView> value;
      if (r.value) value = ByteView(*r.value);
      fn(ByteView(r.key), value);
    }
    return ErrorCode::kNone;
  }

  // Answers the oldest held append.
  void release_one(ErrorCode e = ErrorCode::kNone) {
    ASSERT_FALSE(held.empty());
    Held h = std::move(held.front());
    held.erase(held.begin());
    h.done(e);
  }
  void release_all(ErrorCode e = ErrorCode::kNone) {
    while (!held.empty()) release_one(e);
  }

  // Puts a record in the log as if an earlier coordinator had written it.
  void seed(int32_t partition, const std::string& id, std::optional<TxnLogValue> value) {
    data[partition].push_back(TxnRecordBytes{
        encode_txn_key(id), value ? std::optional<Bytes>(encode_txn_value(*value)) : std::nullopt});
  }

  // The decoded records of a partition, in order.
  std::vector<TxnLogRecord> records(int32_t partition) {
    std::vector<TxnLogRecord> out;
    for (const auto& r : data[partition]) {
      std::optional<ByteView> value;
      if (r.value) value = ByteView(*r.value);
      auto rec = decode_txn_record(ByteView(r.key), value);
      EXPECT_TRUE(rec.ok()) << rec.error().message();
      if (rec) out.push_back(std::move(*rec));
    }
    return out;
  }

  struct Leadership {
    int32_t since = -1;  // the epoch the leadership began at
    int32_t epoch = -1;  // its epoch now
  };
  std::map<int32_t, Leadership> leaderships;
  std::map<int32_t, std::vector<TxnRecordBytes>> data;
  bool hold = false;
  std::vector<Held> held;
  ErrorCode fail_next = ErrorCode::kNone;
  ErrorCode read_error = ErrorCode::kNone;
  std::function<void()> on_read;  // runs while a partition loads
  int appends = 0;
  int64_t last_timeout_ms = -1;
};

class CountingProducerIds : public ProducerIdSource {
 public:
  Result<int64_t> next_id() override {
    if (fail) return std::make_error_code(std::errc::connection_refused);
    return next++;
  }
  int64_t next = 1000;
  bool fail = false;
};

class RecordingMarkerChannel : public MarkerChannel {
 public:
  struct Sent {
    TxnMarker marker;
    int64_t delay_ms;
    Done done;
  };
  void send(TxnMarker marker, int64_t delay_ms, Done done) override {
    if (auto_ack) {
      std::vector<MarkerResult> results;
      for (const auto& tp : marker.partitions) results.push_back(MarkerResult{tp, ErrorCode::kNone, false});
      acked.push_back(marker);
      done(std::move(results));
      return;
    }
    sent.push_back(Sent{std::move(marker), delay_ms, std::move(done)});
  }
  // Answers the oldest unanswered send: every partition with `e`, except
  // those named in `overrides`.
  void answer(ErrorCode e = ErrorCode::kNone, std::map<TopicPartition, ErrorCode> overrides = {}) {
    ASSERT_FALSE(sent.empty());
    Sent s = std::move(sent.front());
    sent.erase(sent.begin());
    std::vector<MarkerResult> results;
    for (const auto& tp : s.marker.partitions) {
      auto o = overrides.find(tp);
      results.push_back(MarkerResult{tp, o == overrides.end() ? e : o->second, false});
    }
    s.done(std::move(results));
  }
  bool auto_ack = true;
  std::vector<TxnMarker> acked;  // markers answered NONE by auto_ack
  std::vector<Sent> sent;        // markers waiting for answer()
};

inline const TopicPartition kT0{"t", 0};
inline const TopicPartition kT1{"t", 1};
inline const TopicPartition kU0{"u", 0};

class TxnTest : public ::testing::Test {
 protected:
  TxnTest() { make_coordinator(); }

  void make_coordinator() {
    coordinator.reset();
    coordinator.emplace(config, log, pids, markers, [this] { return now; });
  }

  // Makes this broker the leader (and coordinator) of the partition of `id`.
  int32_t elect(const std::string& id, int32_t epoch = 1) {
    const int32_t p = coordinator->partition_for(id);
    log.lead(p, epoch);
    coordinator->on_elected(p, epoch);
    return p;
  }

  std::optional<InitProducerIdResult> init(const std::string& id, int32_t timeout_ms = 60000,
                                           int64_t pid = kNoProducerId, int16_t epoch = kNoProducerEpoch,
                                           int16_t version = 4) {
    std::optional<InitProducerIdResult> out;
    coordinator->init_producer_id(
        InitProducerIdRequest{.transactional_id = id, .transaction_timeout_ms = timeout_ms, .producer_id = pid,
                              .producer_epoch = epoch, .api_version = version},
        [&out](InitProducerIdResult r) { out = r; });
    return out;
  }
  // InitProducerId answered at once without an error.
  InitProducerIdResult init_ok(const std::string& id, int32_t timeout_ms = 60000) {
    auto r = init(id, timeout_ms);
    EXPECT_TRUE(r.has_value());
    if (!r) return {};
    EXPECT_EQ(r->error, ErrorCode::kNone);
    return *r;
  }

  // Callback answers land here; nullopt until answered.
  struct Answer {
    std::optional<ErrorCode> error;
    ErrorCallback cb() {
      return [this](ErrorCode e) { error = e; };
    }
  };

  std::optional<ErrorCode> add(const std::string& id, int64_t pid, int16_t epoch, std::set<TopicPartition> parts,
                               int16_t version = 3) {
    Answer a;
    coordinator->add_partitions_to_txn(id, pid, epoch, parts, version, a.cb());
    return a.error;
  }
  std::optional<ErrorCode> end(const std::string& id, int64_t pid, int16_t epoch, bool commit, int16_t version = 3) {
    Answer a;
    coordinator->end_txn(id, pid, epoch, commit, version, a.cb());
    return a.error;
  }

  TxnState state_of(const std::string& id) {
    auto md = coordinator->metadata(id);
    EXPECT_TRUE(md.has_value()) << id;
    return md ? md->state : TxnState::kDead;
  }

  TxnCoordinatorConfig config;
  MemoryTxnLog log;
  CountingProducerIds pids;
  RecordingMarkerChannel markers;
  int64_t now = 1'700'000'000'000;
  std::optional<TransactionCoordinator> coordinator;
};

// A coordinator that owns "my-txn", which a producer has initialised.
class ProducerTest : public TxnTest {
 protected:
  explicit ProducerTest(int32_t timeout_ms = 60000) : timeout_ms_(timeout_ms) {}
  void SetUp() override {
    p = elect("my-txn");
    r = init_ok("my-txn", timeout_ms_);
  }
  int32_t p = -1;         // the partition of "my-txn"
  InitProducerIdResult r;  // its producer id, epoch 0

 private:
  int32_t timeout_ms_;
};

}  // namespace keel::txn::testing
