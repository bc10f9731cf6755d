#pragma once
// What the group unit tests share: __consumer_offsets kept in memory
// (replayed by read_all exactly as appended, so a second coordinator or
// manager "restarts" on it, and with failures to inject), and a coordinator
// driven by hand: a fixed clock, tick() instead of the timer thread,
// run_loads() instead of the loader thread.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "group/coordinator.h"
#include "group/offsets_codec.h"

namespace keel::group {
namespace {

// One partition of an offset commit: leader epoch and metadata default to
// none, the timestamp to now.
CommitPartition at(TopicPartition tp, int64_t offset, int32_t leader_epoch = -1,
                   std::optional<std::string> metadata = std::nullopt) {
  CommitPartition p;
  p.tp = std::move(tp);
  p.offset = offset;
  p.leader_epoch = leader_epoch;
  p.metadata = std::move(metadata);
  return p;
}

using protocol::ErrorCode;

// With `hold` set, appends are not replicated at once: each waits until the
// test calls replicate() (or fails them with another error), as a follower
// behind would make it wait. Each append is one batch; a transactional one
// (TxnOffsetCommit) is kept with its producer, and mark() appends a
// transaction marker as WriteTxnMarkers would.
class MemoryOffsetsLog : public OffsetsLog {
 public:
  struct Batch {
    int64_t base_offset = 0;
    std::optional<TxnProducer> txn;
    std::optional<bool> marker_commit;  // a control batch
    std::vector<OffsetsRecordBytes> records;
  };
  OffsetsAppend append(int32_t partition, const std::vector<OffsetsRecordBytes>& records, int64_t,
                       std::optional<TxnProducer> txn = std::nullopt) override {
    OffsetsAppend out;
    if (fail_next != ErrorCode::kNone) {
      out.error = fail_next;
      fail_next = ErrorCode::kNone;
      return out;
    }
    if (txn) last_txn = txn;
    auto& log = logs[partition];
    out.base_offset = end_offset(partition);
    log.push_back(Batch{out.base_offset, txn, std::nullopt, records});
    ++appends;
    out.last_offset = out.base_offset + static_cast<int64_t>(records.size()) - 1;
    out.replicated = !hold;
    return out;
  }
  // A COMMIT or ABORT marker of `producer_id` on `partition`.
  void mark(int32_t partition, int64_t producer_id, bool commit) {
    logs[partition].push_back(Batch{end_offset(partition), TxnProducer{producer_id, 0}, commit, {}});
  }
  void await_replication(int32_t, const OffsetsAppend&, int64_t timeout_ms, ReplicatedFn done) override {
    last_timeout_ms = timeout_ms;
    waiting.push_back(std::move(done));
  }
  ErrorCode read_all(int32_t partition, const RecordFn& fn) override {
    if (fail_reads != ErrorCode::kNone) return fail_reads;
    for (const auto& b : logs[partition]) {
      OffsetsLogEntry e;
      e.batch_offset = b.base_offset;
      e.producer_id = b.txn ? b.txn->producer_id : -1;
      e.transactional = b.txn.has_value();
      if (b.marker_commit) {
        e.marker_commit = b.marker_commit;
        fn(e);
        continue;
      }
      for (const auto& r : b.records) {
        e.key = ByteView(r.key);
        e.value = r.value ? std::optional<ByteView>(ByteView(*r.value)) : std::nullopt;
        fn(e);
      }
    }
    return ErrorCode::kNone;
  }
  // Ends every wait with `e` (NONE: the ISR has the records).
  void replicate(ErrorCode e = ErrorCode::kNone) {
    auto done = std::move(waiting);
    waiting.clear();
    for (auto& d : done) d(e);
  }
  int64_t end_offset(int32_t partition) {
    const auto& log = logs[partition];
    if (log.empty()) return 0;
    const Batch& last = log.back();
    return last.base_offset + std::max<int64_t>(1, static_cast<int64_t>(last.records.size()));
  }
  std::map<int32_t, std::vector<Batch>> logs;
  ErrorCode fail_next = ErrorCode::kNone;   // the next append fails with it
  ErrorCode fail_reads = ErrorCode::kNone;  // every read_all fails with it
  bool hold = false;                        // appends wait for replicate()
  std::vector<ReplicatedFn> waiting;
  int64_t last_timeout_ms = -1;
  int appends = 0;
  std::optional<TxnProducer> last_txn;  // the producer of the last transactional append
};

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

struct Fixture {
  explicit Fixture(CoordinatorConfig c = config()) : coord(c, log, [this] { return now; }) {
    for (int32_t p = 0; p < c.num_partitions; ++p) coord.on_elected(p, 0);
    coord.run_loads();
  }
  static CoordinatorConfig config() {
    CoordinatorConfig c;
    c.num_partitions = 4;
    c.initial_rebalance_delay_ms = 0;
    c.min_session_timeout_ms = 1000;
    return c;
  }

  JoinRequest join_req(const std::string& group, const std::string& member = "",
                       std::optional<std::string> instance = std::nullopt, std::string protocol = "range") {
    JoinRequest r;
    r.group_id = group;
    r.member_id = member;
    r.group_instance_id = std::move(instance);
    r.protocol_type = "consumer";
    r.protocols = {{protocol, bytes("meta-" + protocol)}};
    r.session_timeout_ms = 10000;
    r.rebalance_timeout_ms = 20000;
    r.client_id = "client";
    r.client_host = "/127.0.0.1";
    r.require_known_member_id = true;
    return r;
  }

  // Starts a JoinGroup; the answer lands in the returned slot.
  std::shared_ptr<std::optional<JoinResult>> join(JoinRequest r) {
    auto slot = std::make_shared<std::optional<JoinResult>>();
    coord.join_group(std::move(r), [slot](JoinResult res) { *slot = std::move(res); });
    return slot;
  }
  std::shared_ptr<std::optional<SyncResult>> sync(const std::string& group, int32_t generation,
                                                  const std::string& member,
                                                  std::vector<std::pair<std::string, Bytes>> assignment = {},
                                                  std::optional<std::string> instance = std::nullopt) {
    auto slot = std::make_shared<std::optional<SyncResult>>();
    SyncRequest r;
    r.group_id = group;
    r.generation = generation;
    r.member_id = member;
    r.group_instance_id = std::move(instance);
    r.assignments = std::move(assignment);
    coord.sync_group(std::move(r), [slot](SyncResult res) { *slot = std::move(res); });
    return slot;
  }
  // A new dynamic member through MEMBER_ID_REQUIRED; returns the pending join.
  std::pair<std::string, std::shared_ptr<std::optional<JoinResult>>> new_member(const std::string& group) {
    auto first = join(join_req(group));
    EXPECT_TRUE(first->has_value());
    EXPECT_EQ((*first)->error, ErrorCode::kMemberIdRequired);
    std::string id = (*first)->member_id;
    return {id, join(join_req(group, id))};
  }

  std::string describe_state(const std::string& group) { return coord.describe_group(group).state; }

  int64_t now = 1'000'000;
  MemoryOffsetsLog log;
  GroupCoordinator coord;
};

}  // namespace
}  // namespace keel::group
