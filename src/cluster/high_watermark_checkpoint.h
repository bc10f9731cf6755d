#pragma once
// The replication-offset checkpoint (Kafka's replication-offset-checkpoint
// file, one per log dir, written every
// replica.high.watermark.checkpoint.interval.ms and at shutdown): each hosted
// partition's high watermark, the offset below which records were
// acknowledged to producers with acks=all.
//
// Keel reads it back at start-up for one purpose Kafka's ZooKeeper mode does
// not have: a replica whose recovered log ends below the high watermark it
// had checkpointed has lost acknowledged records (an unflushed tail gone with
// the machine). If it is then the only ISR member of a replicated partition,
// leading would make the other replicas truncate to its shorter log, so it
// refuses the leadership instead (ReplicaManager::become_leader_or_follower);
// docs/replication.md says what happens next.
//
// Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/checkpoint.h"

namespace keel::cluster {

class HighWatermarkCheckpoints {
 public:
  struct Entry {
    std::string log_dir;
    storage::TopicPartition tp;
    int64_t high_watermark;  // -1: not hosted yet (what is on record stays)
  };
  using Source = std::function<std::vector<Entry>()>;

  // Reads the checkpoint file of each of `log_dirs` (an unreadable one is
  // logged and treated as empty).
  explicit HighWatermarkCheckpoints(const std::vector<std::string>& log_dirs);
  ~HighWatermarkCheckpoints();

  // The high watermark checkpointed for tp by the previous run, if any and
  // not yet forgotten.
  std::optional<int64_t> recorded(const storage::TopicPartition& tp) const;
  // Forgets it (the loss has been reported; this replica may lead now).
  void forget(const storage::TopicPartition& tp);

  // Writes every log dir's file from `source` now (every dir named at
  // construction gets one, empty when it hosts nothing).
  void write(const Source& source);
  // Writes every interval_ms on a thread of its own until stop().
  void start(Source source, int64_t interval_ms);
  // Stops the thread and writes once more.
  void stop();

 private:
  const std::vector<std::string> log_dirs_;
  mutable std::mutex mu_;
  std::map<storage::TopicPartition, int64_t> recorded_;
  Source source_;
  std::thread thread_;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stop_ = false;
};

}  // namespace keel::cluster
