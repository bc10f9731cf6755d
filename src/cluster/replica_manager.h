#pragma once
// The partitions this broker hosts, as the controller assigned them
// (LeaderAndIsr / StopReplica), over the LogManager's logs; and the fetch
// purgatory that wakes long-polling fetches when a partition gets data.
//
// Thread-safe: the map is under a mutex; each Partition guards itself.
// Handlers hold a shared_ptr<Partition>, so a partition being stopped stays
// valid until the last request using it is done.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "cluster/delayed_fetch.h"
#include "cluster/high_watermark_checkpoint.h"
#include "cluster/alter_partition_manager.h"
#include "cluster/partition.h"
#include "cluster/replica_fetcher.h"
#include "cluster/replica_selector.h"
#include "cluster/replication_quota.h"
#include "protocol/error_code.h"
#include "storage/log_manager.h"

namespace keel::cluster {

class ReplicaManager {
 public:
  ReplicaManager(int32_t broker_id, storage::LogManager& logs);
  // The broker's data directories were created at this start (no
  // meta.properties): a wiped disk. Such a broker refuses to lead a partition
  // it has no log for when others are in the ISR, where leading would make
  // them truncate to nothing (refuses_leadership).
  void set_log_dirs_new(bool fresh) { log_dirs_new_ = fresh; }
  ~ReplicaManager();

  // LeaderAndIsr for one partition: opens or creates the log (with the
  // topic's log config) and applies the leader state. Errors:
  // KAFKA_STORAGE_ERROR when the log cannot be opened, STALE_CONTROLLER_EPOCH
  // when the state is older than the partition's.
  protocol::ErrorCode apply_leader_and_isr(const TopicPartition& tp, const protocol::Uuid& topic_id,
                                           const LeaderState& state, const storage::LogConfig& log_config,
                                           std::shared_ptr<const PartitionConfig> config);
  // Applies a topic's changed config to each of its partitions and their logs.
  void update_topic_config(const std::string& topic, const storage::LogConfig& log_config,
                           std::shared_ptr<const PartitionConfig> config);
  // StopReplica: forgets the partition; with delete_log, deletes its log
  // (LogManager::remove: renamed and removed in the background).
  protocol::ErrorCode stop_replica(const TopicPartition& tp, bool delete_log);

  // The controller epoch fence of LeaderAndIsr, UpdateMetadata and StopReplica:
  // false (STALE_CONTROLLER_EPOCH) when `epoch` is older than the newest this
  // broker has accepted; otherwise it becomes the newest. Thread-safe.
  bool accept_controller_epoch(int32_t epoch);
  int32_t controller_epoch() const { return controller_epoch_.load(); }

  // How a replica's log and partition config come from its topic's config
  // (the broker's defaults, dynamic configs and the topic's overrides, read
  // from the store): set by the broker before the first LeaderAndIsr.
  using TopicConfigSource =
      std::function<std::pair<storage::LogConfig, std::shared_ptr<const PartitionConfig>>(const std::string& topic)>;
  void set_topic_config_source(TopicConfigSource fn) { topic_config_source_ = std::move(fn); }

  // One partition of a LeaderAndIsr request.
  struct ReplicaState {
    TopicPartition tp;
    protocol::Uuid topic_id;
    LeaderState state;
    bool is_new = false;
    LeaderEndpoint leader;  // where a follower fetches from (LeaderAndIsr's live leaders)
  };
  // Starts the replica fetchers (followers fetch from their leaders); before
  // the first LeaderAndIsr. Without it followers do not fetch (unit tests).
  void start_fetchers(ReplicaFetcherOptions options);
  // Starts the leaders' ISR management: ISR changes go to the controller
  // (AlterPartition) through `runtime`, and every lag_ms / 2 each led
  // partition drops followers not caught up for lag_ms
  // (replica.lag.time.max.ms). Without it the ISR changes only by the
  // controller's own decisions (unit tests).
  void start_isr_management(net::ClientRuntime& runtime, AlterPartitionOptions options,
                            const MetadataCache& metadata, int64_t lag_ms);
  // ISR changes of led partitions the controller accepted since start, that
  // made the ISR smaller or larger (Kafka's IsrShrinksPerSec / IsrExpandsPerSec).
  uint64_t isr_shrinks() const { return isr_shrinks_.load(std::memory_order_relaxed); }
  uint64_t isr_expands() const { return isr_expands_.load(std::memory_order_relaxed); }
  // LeaderAndIsr (Kafka's becomeLeaderOrFollower): hosts each partition (its
  // log opened or created with its topic's config) as leader or follower by
  // the state's leader; a follower fetches from its leader, a leader stops
  // fetching. Per partition: NONE, STALE_CONTROLLER_EPOCH (a leader epoch
  // not newer than the hosted partition's: as in Kafka's ZooKeeper mode, an
  // equal one changes nothing), KAFKA_STORAGE_ERROR; in order.
  std::vector<protocol::ErrorCode> become_leader_or_follower(const std::vector<ReplicaState>& partitions);

  std::shared_ptr<Partition> partition(const TopicPartition& tp) const;
  std::vector<std::shared_ptr<Partition>> partitions() const;

  int32_t broker_id() const { return broker_id_; }

  // Replication throttles (replication_quota.h): this broker as leader and as
  // follower. The broker sets their rates from the dynamic configs.
  ReplicationQuota& leader_quota() { return *leader_quota_ptr_; }
  ReplicationQuota& follower_quota() { return *follower_quota_ptr_; }
  // The replica fetchers' MaxLag (0 without fetchers).
  int64_t fetcher_max_lag() const { return fetchers_ ? fetchers_->max_lag() : 0; }
  // Sets both quotas' measuring windows (before any traffic; not thread-safe with it).
  void set_quota_window(int32_t samples, int64_t window_ms);
  // KIP-392: which replica leaders name to consumers (replica.selector.class).
  void set_replica_selector(ReplicaSelectorKind kind) { selector_ = kind; }
  ReplicaSelectorKind replica_selector() const { return selector_; }
  storage::LogManager& logs() { return logs_; }
  DelayedFetchPurgatory& fetch_purgatory() { return purgatory_; }

  // The replication-offset checkpoint (high_watermark_checkpoint.h): reads
  // what the previous run wrote, then writes every interval_ms and at
  // shutdown. Before the first LeaderAndIsr; without it nothing is written
  // and no leadership is refused (unit tests).
  void start_high_watermark_checkpoints(int64_t interval_ms);

  // Completes waiting fetches and writes the producer snapshots; the logs are
  // the LogManager's to close. A LeaderAndIsr being applied makes no more
  // replicas from here on (BROKER_NOT_AVAILABLE for the rest). Once: later
  // calls do nothing.
  void shutdown();

  // Told after each change of a partition's leadership on this broker:
  // (partition, this broker leads it now, leader epoch). StopReplica tells
  // (tp, false, -1). The group coordinator loads and unloads its
  // __consumer_offsets partitions from this. Set before the first
  // LeaderAndIsr; called on the caller's thread, outside the map's lock.
  using LeadershipListener = std::function<void(const TopicPartition&, bool, int32_t)>;
  void set_leadership_listener(LeadershipListener fn) { leadership_listener_ = std::move(fn); }

 private:
  // apply_leader_and_isr without telling the leadership listener (any thread).
  protocol::ErrorCode host_with_state(const TopicPartition& tp, const protocol::Uuid& topic_id,
                                      const LeaderState& state, const storage::LogConfig& log_config,
                                      std::shared_ptr<const PartitionConfig> config);
  const int32_t broker_id_;
  storage::LogManager& logs_;
  mutable std::mutex mu_;
  std::map<TopicPartition, std::shared_ptr<Partition>> partitions_;
  DelayedFetchPurgatory purgatory_;
  std::unique_ptr<ReplicaFetcherManager> fetchers_;
  std::unique_ptr<AlterPartitionManager> isr_changes_;
  Partition::IsrSender isr_sender_;
  std::atomic<uint64_t> isr_shrinks_{0};
  std::atomic<uint64_t> isr_expands_{0};
  std::unique_ptr<HighWatermarkCheckpoints> hw_checkpoints_;
  // KAFKA_STORAGE_ERROR instead of leading (the controller then elects
  // another ISR member, or keeps the partition offline): a replica that lost
  // acknowledged records and is the partition's only ISR member, or one on a
  // broker whose data directories are new that has no log for a partition
  // that is not new (LeaderAndIsr's IsNew: the controller sets it only when it
  // creates the partition) while other replicas are in the ISR. The leader
  // epoch does not tell: a partition never re-elected is at epoch 0 with all
  // its records.
  bool refuses_leadership(const ReplicaState& r);
  bool lost_everything(const ReplicaState& r) const;
  std::atomic<bool> log_dirs_new_{false};
  std::atomic<bool> shut_down_{false};  // shutdown() ran
  std::set<TopicPartition> refused_;  // under mu_
  std::thread isr_thread_;
  std::mutex isr_mu_;
  std::condition_variable isr_wake_;
  bool isr_stop_ = false;
  std::atomic<int32_t> controller_epoch_{-1};
  TopicConfigSource topic_config_source_;
  // unique_ptr so set_quota_window can replace them before traffic starts.
  std::unique_ptr<ReplicationQuota> leader_quota_ptr_ = std::make_unique<ReplicationQuota>();
  std::unique_ptr<ReplicationQuota> follower_quota_ptr_ = std::make_unique<ReplicationQuota>();
  std::atomic<ReplicaSelectorKind> selector_{ReplicaSelectorKind::kNone};
  LeadershipListener leadership_listener_;
};

}  // namespace keel::cluster
