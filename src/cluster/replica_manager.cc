#include "cluster/replica_manager.h"

#include <chrono>

#include "common/log.h"

namespace keel::cluster {

namespace {
std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("replica");
  return l;
}
}  // namespace

ReplicaManager::ReplicaManager(int32_t broker_id, storage::LogManager& logs) : broker_id_(broker_id), logs_(logs) {}

ReplicaManager::~ReplicaManager() { shutdown(); }

protocol::ErrorCode ReplicaManager::apply_leader_and_isr(const TopicPartition& tp, const protocol::Uuid& topic_id,
                                                         const LeaderState& state,
                                                         const storage::LogConfig& log_config,
                                                         std::shared_ptr<const PartitionConfig> config) {
  std::shared_ptr<Partition> partition;
  {
    std::lock_guard lock(mu_);
    auto it = partitions_.find(tp);
    if (it != partitions_.end() && it->second->topic_id() == topic_id) partition = it->second;
  }
  if (!partition) {
    auto opened = logs_.get_or_create(tp, log_config, topic_id.is_zero() ? "" : topic_id.to_string());
    if (!opened) {
      log()->error("cannot open the log of {}: {}", tp.dir_name(), opened.error().message());
      return protocol::ErrorCode::kKafkaStorageError;
    }
    partition = std::make_shared<Partition>(tp, topic_id, *opened, broker_id_);
    partition->set_on_append([this](const TopicPartition& p) { purgatory_.notify(p); });
    if (isr_sender_) partition->set_isr_sender(isr_sender_);
    std::lock_guard lock(mu_);
    partitions_[tp] = partition;
  }
  partition->set_config(std::move(config));
  partition->log().set_config(log_config);
  if (!partition->apply_leader_state(state)) return protocol::ErrorCode::kStaleControllerEpoch;
  // Waiting fetches may have to answer NOT_LEADER_OR_FOLLOWER now.
  purgatory_.notify(tp);
  if (leadership_listener_) leadership_listener_(tp, state.leader == broker_id_, state.leader_epoch);
  return protocol::ErrorCode::kNone;
}

bool ReplicaManager::accept_controller_epoch(int32_t epoch) {
  int32_t seen = controller_epoch_.load();
  while (epoch > seen) {
    if (controller_epoch_.compare_exchange_weak(seen, epoch)) return true;
  }
  return epoch >= seen;
}

std::vector<protocol::ErrorCode> ReplicaManager::become_leader_or_follower(
    const std::vector<ReplicaState>& partitions) {
  std::vector<protocol::ErrorCode> errors;
  errors.reserve(partitions.size());
  for (const ReplicaState& r : partitions) {
    std::pair<storage::LogConfig, std::shared_ptr<const PartitionConfig>> config;
    if (topic_config_source_) {
      config = topic_config_source_(r.tp.topic);
    } else {
      config = {storage::LogConfig{}, std::make_shared<PartitionConfig>()};
    }
    const protocol::ErrorCode error =
        apply_leader_and_isr(r.tp, r.topic_id, r.state, config.first, std::move(config.second));
    errors.push_back(error);
    if (!fetchers_ || error != protocol::ErrorCode::kNone) continue;
    if (r.state.leader >= 0 && r.state.leader != broker_id_ && r.leader.id == r.state.leader) {
      fetchers_->follow(r.tp, r.leader);
    } else {
      fetchers_->unfollow(r.tp);
    }
  }
  return errors;
}

void ReplicaManager::start_isr_management(net::ClientRuntime& runtime, AlterPartitionOptions options,
                                          const MetadataCache& metadata, int64_t lag_ms) {
  isr_changes_ = std::make_unique<AlterPartitionManager>(runtime, std::move(options), metadata);
  isr_sender_ = [m = isr_changes_.get()](const Partition::IsrChange& change,
                                         std::function<void(const Partition::IsrChangeResult&)> done) {
    m->submit(change, std::move(done));
  };
  for (const auto& p : partitions()) p->set_isr_sender(isr_sender_);
  isr_thread_ = std::thread([this, lag_ms] {
    const auto period = std::chrono::milliseconds(std::max<int64_t>(1, lag_ms / 2));
    std::unique_lock lock(isr_mu_);
    while (!isr_wake_.wait_for(lock, period, [this] { return isr_stop_; })) {
      lock.unlock();
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      for (const auto& p : partitions()) p->maybe_shrink_isr(now, lag_ms);
      lock.lock();
    }
  });
}

void ReplicaManager::start_fetchers(ReplicaFetcherOptions options) {
  options.broker_id = broker_id_;
  fetchers_ = std::make_unique<ReplicaFetcherManager>(std::move(options), *this);
}

void ReplicaManager::update_topic_config(const std::string& topic, const storage::LogConfig& log_config,
                                         std::shared_ptr<const PartitionConfig> config) {
  std::lock_guard lock(mu_);
  for (auto it = partitions_.lower_bound({topic, 0}); it != partitions_.end() && it->first.topic == topic; ++it) {
    it->second->set_config(config);
    it->second->log().set_config(log_config);
  }
}

protocol::ErrorCode ReplicaManager::stop_replica(const TopicPartition& tp, bool delete_log) {
  if (fetchers_) fetchers_->unfollow(tp);
  std::shared_ptr<Partition> partition;
  {
    std::lock_guard lock(mu_);
    auto it = partitions_.find(tp);
    if (it != partitions_.end()) {
      partition = std::move(it->second);
      partitions_.erase(it);
    }
  }
  purgatory_.notify(tp);
  if (partition && leadership_listener_) leadership_listener_(tp, false, -1);
  if (delete_log && deletion_listener_) deletion_listener_(tp);
  if (delete_log) {
    if (auto removed = logs_.remove(tp); !removed) {
      log()->error("cannot delete the log of {}: {}", tp.dir_name(), removed.error().message());
      return protocol::ErrorCode::kKafkaStorageError;
    }
  }
  return protocol::ErrorCode::kNone;
}

std::shared_ptr<Partition> ReplicaManager::partition(const TopicPartition& tp) const {
  std::lock_guard lock(mu_);
  auto it = partitions_.find(tp);
  return it == partitions_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Partition>> ReplicaManager::partitions() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Partition>> out;
  out.reserve(partitions_.size());
  for (const auto& [tp, p] : partitions_) out.push_back(p);
  return out;
}

void ReplicaManager::shutdown() {
  {
    std::lock_guard lock(isr_mu_);
    isr_stop_ = true;
  }
  isr_wake_.notify_all();
  if (isr_thread_.joinable()) isr_thread_.join();
  if (fetchers_) fetchers_->shutdown();
  purgatory_.shutdown();
  // Producer state at the log end, so a clean restart replays nothing.
  for (const auto& p : partitions()) p->snapshot_producer_state();
}

void ReplicaManager::set_quota_window(int32_t samples, int64_t window_ms) {
  const int64_t leader_rate = leader_quota_ptr_->rate(), follower_rate = follower_quota_ptr_->rate();
  leader_quota_ptr_ = std::make_unique<ReplicationQuota>(samples, window_ms);
  follower_quota_ptr_ = std::make_unique<ReplicationQuota>(samples, window_ms);
  leader_quota_ptr_->set_rate(leader_rate);
  follower_quota_ptr_->set_rate(follower_rate);
}

}  // namespace keel::cluster
