#include "cluster/replica_manager.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "common/thread_name.h"
#include "storage/parallel.h"

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
  const protocol::ErrorCode error = host_with_state(tp, topic_id, state, log_config, std::move(config));
  if (error == protocol::ErrorCode::kNone && leadership_listener_) {
    leadership_listener_(tp, state.leader == broker_id_, state.leader_epoch);
  }
  return error;
}

protocol::ErrorCode ReplicaManager::host_with_state(const TopicPartition& tp, const protocol::Uuid& topic_id,
                                                    const LeaderState& state, const storage::LogConfig& log_config,
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
    // Appends and high-watermark moves complete what they satisfy on the
    // notifying thread (produce handler, follower fetch handler, fetcher).
    partition->set_on_append([this](const TopicPartition& p) { purgatory_.try_complete(p); });
    if (isr_sender_) partition->set_isr_sender(isr_sender_);
    std::lock_guard lock(mu_);
    partitions_[tp] = partition;
  }
  partition->set_config(std::move(config));
  partition->log().set_config(log_config);
  if (!partition->apply_leader_state(state)) return protocol::ErrorCode::kStaleControllerEpoch;
  // Waiting fetches may have to answer NOT_LEADER_OR_FOLLOWER now.
  purgatory_.notify(tp);
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
  std::vector<protocol::ErrorCode> errors(partitions.size(), protocol::ErrorCode::kNone);
  // A topic's config is read (from the store) once per request, not once
  // per partition: a request may carry thousands of one topic's partitions.
  using Configs = std::pair<storage::LogConfig, std::shared_ptr<const PartitionConfig>>;
  std::map<std::string, Configs> configs;
  // The partitions whose state is applied, with their topic's configs.
  std::vector<std::pair<size_t, const Configs*>> to_apply;
  std::vector<TopicPartition> offline_elsewhere;  // offline here, led by another broker now
  for (size_t i = 0; i < partitions.size(); ++i) {
    const ReplicaState& r = partitions[i];
    // A replica whose log dir is offline (Kafka's HostedPartition.Offline)
    // answers KAFKA_STORAGE_ERROR, whatever the epoch: that is how the
    // controller learns which replicas a failed log dir took (it asks after
    // the broker's /log_dir_event_notification). Once another broker is to
    // lead, this one stops hosting it, so clients with old metadata are sent
    // on (NOT_LEADER_OR_FOLLOWER) instead of reading a log that no longer
    // grows; an only replica, left the leader, keeps serving reads.
    if (const storage::Log* l = logs_.get(r.tp); l && l->offline()) {
      errors[i] = protocol::ErrorCode::kKafkaStorageError;
      if (r.state.leader != broker_id_) offline_elsewhere.push_back(r.tp);
      continue;
    }
    // Kafka's ZooKeeper-mode rule: a leader epoch this replica already has
    // (or an older one) changes nothing and is answered STALE_CONTROLLER_EPOCH,
    // so a new controller re-sending every partition's state restarts no
    // fetcher and tells no listener (the group coordinator) again. A hosted
    // partition always has a state: it is applied as the partition is added,
    // and the controller's requests to a broker come one at a time.
    if (auto hosted = partition(r.tp); hosted && (r.topic_id.is_zero() || hosted->topic_id() == r.topic_id)) {
      if (const int32_t current = hosted->leader_state().leader_epoch; r.state.leader_epoch <= current) {
        if (r.state.leader_epoch < current) {
          log()->warn("{}: ignoring LeaderAndIsr with leader epoch {}, older than ours ({})", r.tp.dir_name(),
                      r.state.leader_epoch, current);
        } else {
          log()->debug("{}: ignoring LeaderAndIsr with the leader epoch {} it already has", r.tp.dir_name(),
                       r.state.leader_epoch);
        }
        errors[i] = protocol::ErrorCode::kStaleControllerEpoch;
        continue;
      }
    }
    if (refuses_leadership(r)) {
      errors[i] = protocol::ErrorCode::kKafkaStorageError;
      continue;
    }
    auto cached = configs.find(r.tp.topic);
    if (cached == configs.end()) {
      cached = configs
                   .emplace(r.tp.topic, topic_config_source_
                                            ? topic_config_source_(r.tp.topic)
                                            : std::make_pair(storage::LogConfig{}, std::make_shared<PartitionConfig>()))
                   .first;
    }
    to_apply.emplace_back(i, &cached->second);
  }
  for (const auto& tp : offline_elsewhere) {
    if (!partition(tp)) continue;
    log()->warn("{}: its log dir is offline and another replica leads it now; no longer hosting it here",
                tp.dir_name());
    (void)stop_replica(tp, /*delete_log=*/false);
  }
  // A partition that becomes leader writes its leader-epoch checkpoint (two
  // fsyncs): one after another, 2,000 partitions took the controller's
  // broker about 6 s, during which a controlled shutdown waited. On several
  // threads the fsyncs share journal commits. Each partition takes its own
  // lock; a request names a partition once.
  //
  // A stop that begins meanwhile ends it: a broker that is going makes no
  // more logs for it (2,000 new ones took 9-14 s on a loaded machine, and the
  // stop waited for the request). The rest is answered BROKER_NOT_AVAILABLE,
  // which the controller passes over (KAFKA_STORAGE_ERROR would mark the
  // replicas offline); the next start gets every state from the controller.
  storage::for_each_parallel(to_apply.size(), 16, [&](size_t k) {
    const auto& [i, config] = to_apply[k];
    const ReplicaState& r = partitions[i];
    if (shut_down_.load()) {
      errors[i] = protocol::ErrorCode::kBrokerNotAvailable;
      return;
    }
    errors[i] = host_with_state(r.tp, r.topic_id, r.state, config->first, config->second);
  });
  // In request order, on this thread: the listeners (the group and
  // transaction coordinators load or unload), the checkpoints, the fetchers.
  for (const auto& [i, config] : to_apply) {
    const ReplicaState& r = partitions[i];
    if (errors[i] != protocol::ErrorCode::kNone) continue;
    if (leadership_listener_) leadership_listener_(r.tp, r.state.leader == broker_id_, r.state.leader_epoch);
    // Hosted now: its high watermark is the partition's own from here on.
    if (hw_checkpoints_) hw_checkpoints_->forget(r.tp);
    if (!fetchers_) continue;
    if (r.state.leader >= 0 && r.state.leader != broker_id_ && r.leader.id == r.state.leader) {
      fetchers_->follow(r.tp, r.leader);
    } else {
      fetchers_->unfollow(r.tp);
    }
  }
  return errors;
}

bool ReplicaManager::lost_everything(const ReplicaState& r) const {
  if (!log_dirs_new_ || r.is_new || r.state.leader != broker_id_) return false;
  const bool others_in_sync =
      std::any_of(r.state.isr.begin(), r.state.isr.end(), [&](int32_t b) { return b != broker_id_; });
  return others_in_sync && !partition(r.tp) && logs_.get(r.tp) == nullptr;
}

bool ReplicaManager::refuses_leadership(const ReplicaState& r) {
  if (lost_everything(r)) {
    // Every time, not once: another ISR member can always be elected, and
    // this replica is taken back into the ISR once it has caught up.
    log()->error("{}: refusing to lead at leader epoch {}: this broker's data directories are new (a wiped or "
                 "replaced disk) and hold no log of it, and other replicas are in the ISR; leading would make "
                 "them truncate every record. It follows instead once another replica leads",
                 r.tp.dir_name(), r.state.leader_epoch);
    return true;
  }
  if (!hw_checkpoints_ || r.state.leader != broker_id_) return false;
  const auto recorded = hw_checkpoints_->recorded(r.tp);
  if (!recorded) return false;
  const storage::Log* replica_log = logs_.get(r.tp);
  const int64_t end = replica_log ? replica_log->log_end_offset() : 0;
  const bool sole = r.state.isr.size() == 1 && r.state.replicas.size() > 1;
  // Nothing lost, or other ISR members hold every acknowledged record (a
  // replica that lost a tail left the ISR when it went down, so it cannot be
  // one of several): the check is done.
  if (end >= *recorded || !sole) {
    hw_checkpoints_->forget(r.tp);
    return false;
  }
  {
    std::lock_guard lock(mu_);
    // Refused once per run: a second election of this replica is the
    // operator's unclean election with no better replica live.
    if (!refused_.insert(r.tp).second) {
      log()->warn("{}: leading with {} records fewer than the high watermark {} it had acknowledged, as elected",
                  r.tp.dir_name(), *recorded - end, *recorded);
      hw_checkpoints_->forget(r.tp);
      return false;
    }
  }
  log()->error("{}: refusing to lead: this replica's log ends at {} but its high watermark was {} before it stopped "
               "(acknowledged records were lost with an unflushed tail), and it is the only in-sync replica, so the "
               "others would truncate to it. The partition stays offline until an operator runs an unclean leader "
               "election (kafka-leader-election --election-type unclean), which prefers another replica",
               r.tp.dir_name(), end, *recorded);
  return true;
}

void ReplicaManager::start_high_watermark_checkpoints(int64_t interval_ms) {
  hw_checkpoints_ = std::make_unique<HighWatermarkCheckpoints>(logs_.log_dirs());
  hw_checkpoints_->start(
      [this] {
        // Every log on disk; a replica not hosted yet has no high watermark
        // of its own (-1), and keeps the one on record.
        std::vector<HighWatermarkCheckpoints::Entry> out;
        for (const auto& e : logs_.logs()) {
          auto p = partition(e.tp);
          out.push_back({e.log_dir, e.tp, p ? p->high_watermark() : -1});
        }
        return out;
      },
      interval_ms);
}

void ReplicaManager::start_isr_management(net::ClientRuntime& runtime, AlterPartitionOptions options,
                                          const MetadataCache& metadata, int64_t lag_ms) {
  isr_changes_ = std::make_unique<AlterPartitionManager>(runtime, std::move(options), metadata);
  isr_sender_ = [this, m = isr_changes_.get()](const Partition::IsrChange& change,
                                               std::function<void(const Partition::IsrChangeResult&)> done) {
    // Counted when accepted, against the ISR the change was proposed over.
    size_t before = change.new_isr.size();
    if (auto p = partition(change.tp)) before = p->leader_state().isr.size();
    m->submit(change, [this, before, done = std::move(done)](const Partition::IsrChangeResult& r) {
      if (r.error == protocol::ErrorCode::kNone && r.isr.size() != before) {
        (r.isr.size() < before ? isr_shrinks_ : isr_expands_).fetch_add(1, std::memory_order_relaxed);
      }
      done(r);
    });
  };
  for (const auto& p : partitions()) p->set_isr_sender(isr_sender_);
  isr_thread_ = std::thread([this, lag_ms] {
    set_thread_name("keel-isr");
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
  // Once: the broker stops it, and the destructor would otherwise write every
  // producer snapshot again, after the logs are closed.
  if (shut_down_.exchange(true)) return;
  {
    std::lock_guard lock(isr_mu_);
    isr_stop_ = true;
  }
  isr_wake_.notify_all();
  const auto start = std::chrono::steady_clock::now();
  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
  };
  if (isr_thread_.joinable()) isr_thread_.join();
  if (fetchers_) fetchers_->shutdown();
  const int64_t fetchers_ms = ms_since(start);
  purgatory_.shutdown();
  if (hw_checkpoints_) hw_checkpoints_->stop();
  const int64_t checkpoints_ms = ms_since(start) - fetchers_ms;
  // Producer state at the log end, so a clean restart replays nothing. Each
  // snapshot waits on two fsyncs (the file, its directory); on several
  // threads they share journal commits (10,000 partitions: about a minute on
  // one thread). Each partition takes its own lock.
  const auto snapshots_start = std::chrono::steady_clock::now();
  const auto parts = partitions();
  storage::for_each_parallel(parts.size(), 16, [&](size_t i) { parts[i]->snapshot_producer_state(); });
  log()->info("stopped in {} ms: fetchers {} ms, purgatory and checkpoints {} ms, producer snapshots of {} "
              "partitions {} ms", ms_since(start), fetchers_ms, checkpoints_ms, parts.size(),
              ms_since(snapshots_start));
}

void ReplicaManager::set_quota_window(int32_t samples, int64_t window_ms) {
  const int64_t leader_rate = leader_quota_ptr_->rate(), follower_rate = follower_quota_ptr_->rate();
  leader_quota_ptr_ = std::make_unique<ReplicationQuota>(samples, window_ms);
  follower_quota_ptr_ = std::make_unique<ReplicationQuota>(samples, window_ms);
  leader_quota_ptr_->set_rate(leader_rate);
  follower_quota_ptr_->set_rate(follower_rate);
}

}  // namespace keel::cluster
