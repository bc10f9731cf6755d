#include "controller/controller.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <random>
#include <stdexcept>

#include "common/log.h"

namespace keel::controller {

using protocol::ErrorCode;
using cluster::AdminResult;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("controller");
  return l;
}

AdminResult error(ErrorCode code, std::string message) { return {code, std::move(message)}; }

// A store that could not be reached (ZooKeeper down past the connection
// timeout) is a timeout the client may retry; anything else is the server's.
AdminResult store_error(const std::error_code& e) {
  const bool unreachable = e == coord::CoordErrc::kConnectionLoss || e == coord::CoordErrc::kSessionExpired;
  return error(unreachable ? ErrorCode::kRequestTimedOut : ErrorCode::kUnknownServerError,
               "coordination store: " + e.message());
}

bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Kafka compares topic names with '.' and '_' treated alike, since both map
// to '_' in metric names.
std::string collision_key(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

}  // namespace

Controller::Controller(coord::KafkaStore& store, cluster::MetadataCache& metadata, BrokerChannel& local,
                       ControllerOptions options)
    : store_(store), metadata_(metadata), local_(local), options_(std::move(options)) {
  if (options_.runtime) {
    ChannelOptions co;
    co.controller_id = options_.broker_id;
    co.listener_name = options_.inter_broker_listener;
    co.local_broker_id = options_.broker_id;
    co.local = options_.local_requests;
    channels_ = std::make_unique<ChannelManager>(*options_.runtime, co);
  }
  if (!options_.now_ms) {
    options_.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

Controller::~Controller() { stop(); }

void Controller::log_store_error(const char* what, const std::error_code& ec) const {
  log()->error("{}: {}", what, ec.message());
}

// --- start-up and the event thread ------------------------------------------

void Controller::start() {
  if (auto r = store_.ensure_paths(); !r) {
    throw std::runtime_error("coordination store: cannot create Kafka's paths: " + r.error().message());
  }
  auto id = store_.get_or_create_cluster_id(options_.cluster_id);
  if (!id) throw std::runtime_error("coordination store: cannot read /cluster/id: " + id.error().message());
  if (*id != options_.cluster_id) {
    throw std::runtime_error("the coordination store belongs to cluster " + *id +
                             " but meta.properties says this broker belongs to " + options_.cluster_id);
  }
  thread_ = std::thread([this] { run(); });
  std::promise<std::string> ready;
  auto ready_future = ready.get_future();
  post([this, &ready] {
    auto epoch = store_.register_broker(options_.registration);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.registration_wait_ms);
    bool told = false;
    while (!epoch && epoch.error() == coord::KafkaStoreErrc::kBrokerRegistered &&
           std::chrono::steady_clock::now() < deadline) {
      if (!told) {
        log()->warn("broker {} is still registered by a previous session (an unclean stop?); waiting up to {} ms "
                    "for that session to expire",
                    options_.broker_id, options_.registration_wait_ms);
        told = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      epoch = store_.register_broker(options_.registration);
    }
    if (!epoch) {
      ready.set_value("cannot register broker " + std::to_string(options_.broker_id) + ": " +
                      epoch.error().message());
      return;
    }
    broker_epoch_ = *epoch;
    log()->info("registered broker {} (broker epoch {})", options_.broker_id, *epoch);
    load_broker_configs();
    process_config_changes();
    elect();
    ready.set_value("");
  });
  if (std::string err = ready_future.get(); !err.empty()) {
    stop();
    throw std::runtime_error(err);
  }
}

void Controller::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (channels_) channels_->clear();
  if (is_controller_) {
    (void)store_.resign_controller(options_.broker_id);
    is_controller_ = false;
  }
}

void Controller::session_reestablished() {
  post([this] {
    log()->warn("coordination session re-established: registering again and re-running the election");
    is_controller_ = false;
    auto epoch = store_.register_broker(options_.registration);
    if (!epoch) {
      log_store_error("re-registration failed", epoch.error());
      return;
    }
    broker_epoch_ = *epoch;
    elect();
  });
}

bool Controller::is_controller() const { return is_controller_; }
int64_t Controller::broker_epoch() const { return broker_epoch_; }

void Controller::post(Event e) {
  std::lock_guard lock(mu_);
  if (stop_) return;
  events_.push_back(std::move(e));
  wake_.notify_one();
}

void Controller::run() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stop_ || !events_.empty(); });
    if (stop_) return;
    Event e = std::move(events_.front());
    events_.pop_front();
    lock.unlock();
    e();
    lock.lock();
  }
}

// --- election -------------------------------------------------------------------

void Controller::watch_controller() {
  const uint64_t gen = generation_;
  auto current = store_.controller_id([this, gen](const coord::WatchEvent&) {
    post([this, gen] {
      if (gen == generation_) elect();
    });
  });
  if (!current) log_store_error("cannot watch /controller", current.error());
}

void Controller::elect() {
  ++generation_;
  auto result = store_.try_elect_controller(options_.broker_id, options_.now_ms());
  if (!result) {
    log_store_error("controller election failed", result.error());
    watch_controller();
    return;
  }
  if (result->won) {
    on_became_controller(result->fence);
  } else {
    is_controller_ = false;
    if (channels_) channels_->clear();
    log()->info("broker {} is the controller", result->controller_id);
    // The cluster's metadata reaches this broker in the controller's requests.
    watch_controller();
  }
}

void Controller::on_became_controller(const coord::Fence& fence) {
  fence_ = fence;
  is_controller_ = true;
  log()->info("broker {} is now the controller (controller epoch {})", options_.broker_id, fence.controller_epoch);
  topics_.clear();
  live_brokers_.clear();
  watch_controller();
  // Read the whole cluster first, then tell every live broker everything.
  loading_ = true;
  refresh_brokers();
  refresh_topics();
  loading_ = false;
  send_full_state(live_broker_ids());
  process_deletions();
}

void Controller::resign() {
  if (!is_controller_) return;
  log()->warn("another controller took over (our controller epoch {} is stale); resigning", fence_.controller_epoch);
  is_controller_ = false;
  ++generation_;
  if (channels_) channels_->clear();
  watch_controller();
}

// --- brokers ----------------------------------------------------------------------

void Controller::refresh_brokers() {
  if (!is_controller_) return;
  const uint64_t gen = generation_;
  auto ids = store_.broker_ids([this, gen](const coord::WatchEvent&) {
    post([this, gen] {
      if (gen == generation_) refresh_brokers();
    });
  });
  if (!ids) {
    log_store_error("cannot list brokers", ids.error());
    return;
  }
  std::map<int32_t, coord::BrokerRegistration> live;
  for (int32_t id : *ids) {
    auto b = store_.broker(id);
    if (!b || !*b) continue;
    live[id] = std::move(**b);
  }
  auto previous = std::move(live_brokers_);
  live_brokers_ = std::move(live);
  if (channels_) channels_->set_brokers(live_brokers_);
  if (loading_) return;

  // A broker id back with a new epoch bounced: its replicas went offline and
  // come back, as a failure and a start-up (Kafka's rule).
  std::vector<int32_t> started;
  std::set<int32_t> offline;
  for (const auto& [id, reg] : live_brokers_) {
    auto old = previous.find(id);
    if (old == previous.end() || old->second.epoch != reg.epoch) started.push_back(id);
    if (old != previous.end() && old->second.epoch != reg.epoch) offline.insert(id);
  }
  for (const auto& [id, reg] : previous) {
    if (!live_brokers_.contains(id)) offline.insert(id);
  }
  for (int32_t id : offline) log()->info("broker {} went offline", id);
  for (int32_t id : started) log()->info("broker {} is live (broker epoch {})", id, live_brokers_.at(id).epoch);

  if (!started.empty()) {
    // The others learn the new live-broker list; the new ones get everything.
    std::vector<int32_t> others;
    for (const auto& [id, reg] : live_brokers_) {
      if (!contains(started, id)) others.push_back(id);
    }
    batch_.update_metadata_brokers(others);
    send_full_state(started);
  }
  // Leaders for partitions led by a broker that went (or that had none), and
  // dead replicas out of every ISR.
  for (auto& [name, t] : topics_) elect_leaders_for(name, offline);
  send_batch();
}

std::vector<int32_t> Controller::live_broker_ids() const {
  std::vector<int32_t> out;
  for (const auto& [id, b] : live_brokers_) out.push_back(id);
  return out;
}

std::vector<int32_t> Controller::cached_broker_ids() const {
  std::vector<int32_t> out;
  for (const auto& [id, b] : metadata_.snapshot()->brokers) out.push_back(id);
  return out;
}

// --- topics ------------------------------------------------------------------------

void Controller::refresh_topics() {
  if (!is_controller_) return;
  const uint64_t gen = generation_;
  auto names = store_.topics([this, gen](const coord::WatchEvent&) {
    post([this, gen] {
      if (gen == generation_) refresh_topics();
    });
  });
  if (!names) {
    log_store_error("cannot list topics", names.error());
    return;
  }
  std::set<std::string> present(names->begin(), names->end());
  for (auto it = topics_.begin(); it != topics_.end();) {
    if (!present.contains(it->first)) {
      // Removed from the store behind our back: every cache drops it.
      for (const auto& [p, node] : it->second.states) {
        PartitionDecision d = decision(it->first, p);
        d.leader = -2;
        batch_.update_metadata(live_broker_ids(), d);
      }
      it = topics_.erase(it);
    } else {
      ++it;
    }
  }
  send_batch();
  for (const auto& name : *names) {
    if (!topics_.contains(name)) refresh_topic(name);
  }
}

void Controller::refresh_topic(const std::string& name) {
  if (!is_controller_) return;
  const uint64_t gen = generation_;
  auto assignment = store_.topic_assignment(name, [this, gen, name](const coord::WatchEvent&) {
    post([this, gen, name] {
      if (gen == generation_) refresh_topic(name);
    });
  });
  if (!assignment) {
    log_store_error("cannot read a topic's assignment", assignment.error());
    return;
  }
  if (!*assignment) return;  // deleted: refresh_topics or the deletion tells the brokers
  TopicState& t = topics_[name];
  t.assignment = std::move(**assignment);
  if (t.assignment.topic_id.empty()) {
    // Written by an old tool: give it an id, as Kafka's controller does.
    t.assignment.topic_id = protocol::Uuid::random().to_string();
    if (auto r = store_.set_topic_assignment(name, t.assignment); !r) {
      log_store_error("cannot store a topic id", r.error());
    }
  }
  t.id = protocol::Uuid::from_string(t.assignment.topic_id).value_or(protocol::Uuid{});
  if (auto o = store_.entity_config("topics", name)) t.overrides = std::move(*o);

  const std::vector<int32_t> live = live_broker_ids();
  std::vector<int32_t> created;
  for (const auto& [p, replicas] : t.assignment.partitions) {
    if (t.states.contains(p)) continue;
    auto state = store_.partition_state(name, p);
    if (!state) {
      log_store_error("cannot read a partition state", state.error());
      continue;
    }
    if (*state) {
      t.states[p] = **state;
      created.push_back(p);  // new to this controller: the brokers hear of it
      continue;
    }
    // A new partition: the first live replica leads, the live replicas are the ISR.
    coord::PartitionState s;
    s.controller_epoch = fence_.controller_epoch;
    for (int32_t r : replicas) {
      if (contains(live, r)) s.isr.push_back(r);
    }
    if (s.isr.empty()) continue;  // stays offline until a replica is live
    s.leader = s.isr.front();
    auto created_state = store_.create_partition_state(name, p, s, fence_);
    if (!created_state) {
      if (created_state.error() == coord::KafkaStoreErrc::kControllerMoved) return resign();
      log_store_error("cannot create a partition state", created_state.error());
      continue;
    }
    t.states[p] = {s, *created_state};
    created.push_back(p);
  }
  publish(name, created);
  elect_leaders_for(name);
}

// Offline election for partitions whose leader is gone: the first replica in
// assignment order that is live and in the ISR (or, when the topic allows an
// unclean election and no ISR member is live, the first live replica, which
// then is the whole ISR). Replicas in `offline` (dead or bounced brokers)
// leave every ISR, unless one is the last member: then the ISR stays as it is
// and the partition has no leader until an ISR member returns (Kafka's rule).
// Every change bumps the leader epoch.
void Controller::elect_leaders_for(const std::string& name, const std::set<int32_t>& offline) {
  auto it = topics_.find(name);
  if (it == topics_.end() || deleting_.contains(name)) return;
  TopicState& t = it->second;
  const std::vector<int32_t> live = live_broker_ids();
  auto usable = [&](int32_t r) { return contains(live, r) && !offline.contains(r); };
  std::vector<int32_t> changed;
  for (auto& [p, node] : t.states) {
    const coord::PartitionState& cur = node.state;
    const bool leader_ok = cur.leader >= 0 && usable(cur.leader);
    // Every ISR member must be live too: a new controller never saw the
    // brokers that died before it was elected (the old controller among
    // them), and finds them only missing from the live set.
    const bool isr_ok = std::all_of(cur.isr.begin(), cur.isr.end(), usable);
    if (leader_ok && isr_ok) continue;
    coord::PartitionState next = cur;
    std::vector<int32_t> isr;
    for (int32_t r : cur.isr) {
      if (usable(r)) isr.push_back(r);
    }
    const auto& replicas = t.assignment.partitions[p];
    if (leader_ok) {
      next.isr = isr;  // only followers left
    } else {
      int32_t leader = -1;
      for (int32_t r : replicas) {
        if (contains(isr, r)) {
          leader = r;
          break;
        }
      }
      if (leader < 0 && unclean_allowed(name)) {
        for (int32_t r : replicas) {
          if (usable(r)) {
            leader = r;
            log()->warn("unclean election: {}-{} led by out-of-sync replica {}; records may be lost", name, p, r);
            isr = {r};
            break;
          }
        }
      }
      if (leader < 0 && cur.leader < 0) continue;  // still nobody
      next.leader = leader;
      // With nobody to lead, the ISR keeps its last member(s) (Kafka's rule).
      if (leader >= 0) next.isr = isr;
    }
    if (next == cur) continue;
    next.leader_epoch += 1;
    next.controller_epoch = fence_.controller_epoch;
    auto updated = store_.update_partition_state(name, p, next, node.zk_version, fence_);
    if (!updated) {
      if (updated.error() == coord::KafkaStoreErrc::kControllerMoved) return resign();
      log_store_error("cannot update a partition state", updated.error());
      continue;
    }
    log()->info("{}-{}: leader {} -> {}, ISR [{}] (leader epoch {})", name, p, cur.leader, next.leader,
                fmt::join(next.isr, ","), next.leader_epoch);
    node = {next, *updated};
    changed.push_back(p);
  }
  publish(name, changed);
}

bool Controller::unclean_allowed(const std::string& topic) const {
  auto it = topics_.find(topic);
  if (it != topics_.end()) {
    auto o = it->second.overrides.find("unclean.leader.election.enable");
    if (o != it->second.overrides.end()) return o->second == "true";
  }
  return options_.unclean_leader_election_enable;
}

PartitionDecision Controller::decision(const std::string& name, int32_t p) const {
  PartitionDecision d;
  d.topic = name;
  d.partition = p;
  auto it = topics_.find(name);
  if (it == topics_.end()) return d;
  const TopicState& t = it->second;
  d.topic_id = t.id;
  if (auto a = t.assignment.partitions.find(p); a != t.assignment.partitions.end()) d.replicas = a->second;
  const std::vector<int32_t> live = live_broker_ids();
  for (int32_t r : d.replicas) {
    if (!contains(live, r)) d.offline_replicas.push_back(r);
  }
  if (auto s = t.states.find(p); s != t.states.end()) {
    d.leader = deleting_.contains(name) ? -2 : s->second.state.leader;
    d.leader_epoch = s->second.state.leader_epoch;
    d.partition_epoch = s->second.zk_version;
    d.controller_epoch = s->second.state.controller_epoch;
    d.isr = s->second.state.isr;
  }
  return d;
}

void Controller::publish(const std::string& name, const std::vector<int32_t>& partitions) {
  // While loading, send_full_state tells everything afterwards.
  if (loading_ || partitions.empty() || !topics_.contains(name)) return;
  const std::vector<int32_t> live = live_broker_ids();
  for (int32_t p : partitions) {
    PartitionDecision d = decision(name, p);
    std::vector<int32_t> hosts;
    for (int32_t r : d.replicas) {
      if (contains(live, r)) hosts.push_back(r);
    }
    if (d.leader >= 0) batch_.leader_and_isr(hosts, d);
    batch_.update_metadata(live, d);
  }
  send_batch();
}

void Controller::send_full_state(const std::vector<int32_t>& brokers) {
  if (brokers.empty()) return;
  for (const auto& [name, t] : topics_) {
    for (const auto& [p, node] : t.states) {
      PartitionDecision d = decision(name, p);
      std::vector<int32_t> hosts;
      for (int32_t b : brokers) {
        if (contains(d.replicas, b)) hosts.push_back(b);
      }
      if (d.leader >= 0 && !hosts.empty()) batch_.leader_and_isr(hosts, d);
      batch_.update_metadata(brokers, d);
    }
  }
  batch_.update_metadata_brokers(brokers);  // also when there are no topics
  send_batch();
}

void Controller::send_batch() {
  if (loading_ || !is_controller_ || !channels_ || batch_.empty()) return;
  batch_.send(*channels_, options_.broker_id, fence_.controller_epoch, live_brokers_, options_.inter_broker_listener);
}

// --- deletion ----------------------------------------------------------------------

void Controller::process_deletions() {
  if (!is_controller_) return;
  const uint64_t gen = generation_;
  auto names = store_.topics_marked_for_deletion([this, gen](const coord::WatchEvent&) {
    post([this, gen] {
      if (gen == generation_) process_deletions();
    });
  });
  if (!names) {
    log_store_error("cannot list topics to delete", names.error());
    return;
  }
  for (const auto& name : *names) {
    if (!options_.delete_topic_enable) {
      log()->warn("ignoring the deletion of topic '{}': delete.topic.enable is false", name);
      (void)store_.raw().remove(coord::paths::delete_topic(name));
      continue;
    }
    // The replicas stop and delete their logs (a replica on a dead broker
    // keeps its log; see docs/replication.md), the topic goes from the store,
    // and then leader -2 ("deleted") reaches every metadata cache: a client
    // whose DeleteTopics was answered finds the name free.
    auto it = topics_.find(name);
    std::vector<PartitionDecision> gone;
    if (it != topics_.end()) {
      deleting_.insert(name);
      const std::vector<int32_t> live = live_broker_ids();
      for (const auto& [p, replicas] : it->second.assignment.partitions) {
        gone.push_back(decision(name, p));
        for (int32_t r : replicas) {
          if (contains(live, r)) batch_.stop_replica(r, name, p, -2, true);
        }
      }
      send_batch();
    }
    if (auto r = store_.delete_topic(name, fence_); !r) {
      deleting_.erase(name);
      if (r.error() == coord::KafkaStoreErrc::kControllerMoved) return resign();
      log_store_error("cannot delete a topic", r.error());
      continue;
    }
    deleting_.erase(name);
    topics_.erase(name);
    for (const auto& d : gone) batch_.update_metadata(live_broker_ids(), d);
    send_batch();
    log()->info("deleted topic '{}'", name);
  }
}

// --- AlterPartition ---------------------------------------------------------------

protocol::AlterPartitionResponse Controller::alter_partition(const protocol::AlterPartitionRequest& req,
                                                             int16_t version) {
  auto answer = std::make_shared<std::promise<protocol::AlterPartitionResponse>>();
  auto future = answer->get_future();
  post([this, req, version, answer] {
    protocol::AlterPartitionResponse resp;
    auto fail_all = [&](ErrorCode e) {
      resp.error_code = static_cast<int16_t>(e);
      answer->set_value(std::move(resp));
    };
    if (!is_controller_) return fail_all(ErrorCode::kNotController);
    auto broker = live_brokers_.find(req.broker_id);
    if (broker == live_brokers_.end() || (req.broker_epoch != -1 && req.broker_epoch != broker->second.epoch)) {
      return fail_all(ErrorCode::kStaleBrokerEpoch);
    }
    const std::vector<int32_t> live = live_broker_ids();
    for (const auto& td : req.topics) {
      auto& rt = resp.topics.emplace_back();
      rt.topic_name = td.topic_name;
      rt.topic_id = td.topic_id;
      std::string name = td.topic_name;
      if (version >= 2) {
        for (const auto& [n, t] : topics_) {
          if (t.id == td.topic_id) name = n;
        }
      }
      std::vector<int32_t> changed;
      for (const auto& pd : td.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = pd.partition_index;
        auto set_error = [&](ErrorCode e) { rp.error_code = static_cast<int16_t>(e); };
        auto t = topics_.find(name);
        if (t == topics_.end() || deleting_.contains(name) || !t->second.states.contains(pd.partition_index)) {
          set_error(ErrorCode::kUnknownTopicOrPartition);
          continue;
        }
        auto& node = t->second.states[pd.partition_index];
        const auto& replicas = t->second.assignment.partitions[pd.partition_index];
        std::vector<int32_t> new_isr = pd.new_isr;
        if (version >= 3) {
          new_isr.clear();
          for (const auto& b : pd.new_isr_with_epochs) new_isr.push_back(b.broker_id);
        }
        if (node.state.leader != req.broker_id || pd.leader_epoch < node.state.leader_epoch) {
          set_error(ErrorCode::kFencedLeaderEpoch);
          continue;
        }
        if (pd.leader_epoch > node.state.leader_epoch || pd.partition_epoch != node.zk_version) {
          set_error(ErrorCode::kInvalidUpdateVersion);
          continue;
        }
        const bool eligible = contains(new_isr, req.broker_id) &&
                              std::all_of(new_isr.begin(), new_isr.end(), [&](int32_t r) {
                                return contains(replicas, r) && contains(live, r);
                              });
        if (!eligible) {
          set_error(ErrorCode::kIneligibleReplica);
          continue;
        }
        if (new_isr != node.state.isr) {
          coord::PartitionState next = node.state;
          next.isr = new_isr;
          next.controller_epoch = fence_.controller_epoch;
          auto updated = store_.update_partition_state(name, pd.partition_index, next, node.zk_version, fence_);
          if (!updated) {
            if (updated.error() == coord::KafkaStoreErrc::kControllerMoved) {
              resign();
              set_error(ErrorCode::kNotController);
            } else {
              log_store_error("cannot write an ISR change", updated.error());
              set_error(ErrorCode::kInvalidUpdateVersion);
            }
            continue;
          }
          log()->info("{}-{}: ISR [{}] -> [{}] (asked by leader {})", name, pd.partition_index,
                      fmt::join(node.state.isr, ","), fmt::join(new_isr, ","), req.broker_id);
          node = {next, *updated};
          changed.push_back(pd.partition_index);
        }
        rp.leader_id = node.state.leader;
        rp.leader_epoch = node.state.leader_epoch;
        rp.isr = node.state.isr;
        rp.partition_epoch = node.zk_version;
      }
      // The leader learns from the answer; everyone's metadata from UpdateMetadata.
      for (int32_t p : changed) batch_.update_metadata(live, decision(name, p));
    }
    send_batch();
    answer->set_value(std::move(resp));
  });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    protocol::AlterPartitionResponse resp;
    resp.error_code = static_cast<int16_t>(ErrorCode::kRequestTimedOut);
    return resp;
  }
  return future.get();
}

// --- config changes ---------------------------------------------------------------------

void Controller::process_config_changes() {
  const uint64_t gen = generation_;
  auto changes = store_.config_changes_after(last_config_change_, [this, gen](const coord::WatchEvent&) {
    post([this] { process_config_changes(); });
  });
  (void)gen;
  if (!changes) {
    log_store_error("cannot read config changes", changes.error());
    return;
  }
  bool brokers_changed = false;
  for (const auto& [seq, path] : *changes) {
    last_config_change_ = std::max(last_config_change_, seq);
    if (path.starts_with("brokers/")) {
      brokers_changed = true;
      continue;
    }
    if (!path.starts_with("topics/")) continue;
    const std::string topic = path.substr(7);
    auto overrides = store_.entity_config("topics", topic);
    if (!overrides) continue;
    if (auto it = topics_.find(topic); it != topics_.end()) it->second.overrides = *overrides;
    local_.topic_config_changed(topic, *overrides);
  }
  if (brokers_changed) {
    load_broker_configs();
    for (const auto& [name, t] : topics_) local_.topic_config_changed(name, t.overrides);
  }
  if (is_controller_) (void)store_.purge_config_changes(options_.now_ms());
}

void Controller::load_broker_configs() {
  auto cluster_default = store_.entity_config("brokers", "<default>");
  auto own = store_.entity_config("brokers", std::to_string(options_.broker_id));
  if (!cluster_default || !own) {
    log_store_error("cannot read dynamic broker configs", !cluster_default ? cluster_default.error() : own.error());
    return;
  }
  local_.broker_config_changed(*cluster_default, *own);
}

// --- TopicAdmin ----------------------------------------------------------------------------

std::string Controller::check_topic_name(const std::string& name) {
  if (name.empty()) return "topic name is empty";
  if (name == "." || name == "..") return "topic name cannot be '.' or '..'";
  if (name.size() > 249) return "topic name is longer than 249 characters";
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return "topic name '" + name + "' is illegal: only ASCII alphanumerics, '.', '_' and '-' are allowed";
    }
  }
  return "";
}

// Kafka's rack-unaware assignment: a random start broker, replicas of each
// partition spread by a shifting step so leaders and followers both balance.
std::map<int32_t, std::vector<int32_t>> Controller::assign_replicas(int32_t partitions, int16_t rf,
                                                                    int32_t first_partition,
                                                                    const std::vector<int32_t>& brokers) const {
  std::map<int32_t, std::vector<int32_t>> out;
  const int32_t n = static_cast<int32_t>(brokers.size());
  std::mt19937 rng(std::random_device{}());
  const int32_t start = static_cast<int32_t>(rng() % static_cast<uint32_t>(n));
  int32_t shift = static_cast<int32_t>(rng() % static_cast<uint32_t>(n));
  int32_t current = first_partition;
  for (int32_t i = 0; i < partitions; ++i, ++current) {
    if (current > 0 && current % n == 0) ++shift;
    const int32_t first = (current + start) % n;
    std::vector<int32_t> replicas{brokers[static_cast<size_t>(first)]};
    for (int32_t j = 0; j < rf - 1; ++j) {
      const int32_t step = 1 + (shift + j) % (n - 1);
      replicas.push_back(brokers[static_cast<size_t>((first + step) % n)]);
    }
    out[current] = std::move(replicas);
  }
  return out;
}

AdminResult Controller::create_topic(const cluster::NewTopic& topic, bool validate_only,
                                     cluster::CreatedTopic* created) {
  if (std::string why = check_topic_name(topic.name); !why.empty()) {
    return error(ErrorCode::kInvalidTopicException, why);
  }
  auto snapshot = metadata_.snapshot();
  if (snapshot->topic(topic.name)) return error(ErrorCode::kTopicAlreadyExists, "topic '" + topic.name + "' already exists");
  const std::string key = collision_key(topic.name);
  for (const auto& [name, t] : snapshot->topics) {
    if (collision_key(name) == key) {
      return error(ErrorCode::kInvalidTopicException,
                   "topic '" + topic.name + "' collides with existing topic '" + name + "' ('.' and '_' are alike)");
    }
  }
  std::vector<int32_t> brokers = cached_broker_ids();
  std::map<int32_t, std::vector<int32_t>> assignment;
  if (!topic.assignment.empty()) {
    if (topic.num_partitions != -1 || topic.replication_factor != -1) {
      return error(ErrorCode::kInvalidRequest,
                   "both a replica assignment and a partition count or replication factor were given");
    }
    size_t rf = topic.assignment.begin()->second.size();
    int32_t expected = 0;
    for (const auto& [p, replicas] : topic.assignment) {
      if (p != expected++) return error(ErrorCode::kInvalidReplicaAssignment, "partitions must be numbered from 0 without gaps");
      if (replicas.empty() || replicas.size() != rf) {
        return error(ErrorCode::kInvalidReplicaAssignment, "every partition needs the same, non-zero number of replicas");
      }
      std::set<int32_t> seen;
      for (int32_t r : replicas) {
        if (!seen.insert(r).second) return error(ErrorCode::kInvalidReplicaAssignment, "a replica is listed twice");
        if (!contains(brokers, r)) {
          return error(ErrorCode::kInvalidReplicaAssignment, "broker " + std::to_string(r) + " is not live");
        }
      }
    }
    assignment = topic.assignment;
  } else {
    const int32_t partitions = topic.num_partitions == -1 ? options_.default_partitions : topic.num_partitions;
    const int16_t rf = topic.replication_factor == -1 ? options_.default_replication_factor : topic.replication_factor;
    if (partitions <= 0) return error(ErrorCode::kInvalidPartitions, "number of partitions must be larger than 0");
    if (rf <= 0) return error(ErrorCode::kInvalidReplicationFactor, "replication factor must be larger than 0");
    if (static_cast<size_t>(rf) > brokers.size()) {
      return error(ErrorCode::kInvalidReplicationFactor, "Replication factor: " + std::to_string(rf) +
                                                            " larger than available brokers: " +
                                                            std::to_string(brokers.size()) + ".");
    }
    assignment = assign_replicas(partitions, rf, 0, brokers);
  }
  if (options_.validate_topic_configs) {
    if (std::string why = options_.validate_topic_configs(topic.configs); !why.empty()) {
      return error(ErrorCode::kInvalidConfig, why);
    }
  }
  const protocol::Uuid id = protocol::Uuid::random();
  if (created) {
    created->topic_id = validate_only ? "" : id.to_string();
    created->num_partitions = static_cast<int32_t>(assignment.size());
    created->replication_factor = static_cast<int16_t>(assignment.begin()->second.size());
    if (options_.describe_topic_configs) created->configs = options_.describe_topic_configs(topic.configs);
  }
  if (validate_only) return {};
  coord::TopicAssignment a;
  a.topic_id = id.to_string();
  a.partitions = std::move(assignment);
  if (auto r = store_.create_topic(topic.name, a, topic.configs); !r) {
    if (r.error() == coord::KafkaStoreErrc::kTopicExists) {
      return error(ErrorCode::kTopicAlreadyExists, "topic '" + topic.name + "' already exists");
    }
    return store_error(r.error());
  }
  log()->info("created topic '{}' ({} partitions, replication factor {})", topic.name, a.partitions.size(),
              a.partitions.begin()->second.size());
  return {};
}

AdminResult Controller::delete_topic(const std::string& name) {
  if (!options_.delete_topic_enable) {
    return error(ErrorCode::kTopicDeletionDisabled, "topic deletion is disabled (delete.topic.enable=false)");
  }
  auto a = store_.topic_assignment(name);
  if (!a) return store_error(a.error());
  if (!*a) return error(ErrorCode::kUnknownTopicOrPartition, "topic '" + name + "' does not exist");
  if (auto r = store_.mark_topic_for_deletion(name); !r) {
    return store_error(r.error());
  }
  return {};
}

AdminResult Controller::create_partitions(const std::string& name, int32_t count,
                                          const std::vector<std::vector<int32_t>>& assignment, bool validate_only) {
  auto current = store_.topic_assignment(name);
  if (!current) return store_error(current.error());
  // The store, not the metadata cache, says whether the topic exists: a topic
  // exists once CreateTopics has answered, before the controller has made its
  // partitions and the cache shows them (Kafka reads ZooKeeper here too).
  if (!*current) return error(ErrorCode::kUnknownTopicOrPartition, "topic '" + name + "' does not exist");
  auto deleting = store_.topics_marked_for_deletion();
  if (!deleting) return store_error(deleting.error());
  if (std::find(deleting->begin(), deleting->end(), name) != deleting->end()) {
    return error(ErrorCode::kUnknownTopicOrPartition, "topic '" + name + "' is being deleted");
  }
  coord::TopicAssignment a = std::move(**current);
  const int32_t existing = static_cast<int32_t>(a.partitions.size());
  if (count < existing) {
    return error(ErrorCode::kInvalidPartitions, "Topic currently has " + std::to_string(existing) +
                                                    " partitions, which is higher than the requested " +
                                                    std::to_string(count) + ".");
  }
  if (count == existing) {
    return error(ErrorCode::kInvalidPartitions, "Topic already has " + std::to_string(existing) + " partitions.");
  }
  const size_t rf = a.partitions.empty() ? 1 : a.partitions.begin()->second.size();
  std::vector<int32_t> brokers = cached_broker_ids();
  std::map<int32_t, std::vector<int32_t>> added;
  if (!assignment.empty()) {
    if (static_cast<int32_t>(assignment.size()) != count - existing) {
      return error(ErrorCode::kInvalidReplicaAssignment, "Increasing the number of partitions by " +
                                                             std::to_string(count - existing) + " but " +
                                                             std::to_string(assignment.size()) +
                                                             " assignments provided.");
    }
    for (size_t i = 0; i < assignment.size(); ++i) {
      const auto& replicas = assignment[i];
      if (replicas.size() != rf) {
        return error(ErrorCode::kInvalidReplicaAssignment, "every new partition needs " + std::to_string(rf) + " replicas");
      }
      std::set<int32_t> seen;
      for (int32_t r : replicas) {
        if (!seen.insert(r).second) return error(ErrorCode::kInvalidReplicaAssignment, "a replica is listed twice");
        if (!contains(brokers, r)) {
          return error(ErrorCode::kInvalidReplicaAssignment, "broker " + std::to_string(r) + " is not live");
        }
      }
      added[existing + static_cast<int32_t>(i)] = replicas;
    }
  } else {
    if (rf > brokers.size()) {
      return error(ErrorCode::kInvalidReplicationFactor, "Replication factor: " + std::to_string(rf) +
                                                            " larger than available brokers: " +
                                                            std::to_string(brokers.size()) + ".");
    }
    added = assign_replicas(count - existing, static_cast<int16_t>(rf), existing, brokers);
  }
  if (validate_only) return {};
  for (auto& [p, replicas] : added) a.partitions[p] = std::move(replicas);
  if (auto r = store_.set_topic_assignment(name, a); !r) {
    return store_error(r.error());
  }
  log()->info("topic '{}' now has {} partitions", name, count);
  return {};
}

std::optional<std::map<std::string, std::string>> Controller::overrides(const std::string& entity_type,
                                                                         const std::string& name) {
  if (entity_type == "topics") {
    auto a = store_.topic_assignment(name);
    if (!a || !*a) return std::nullopt;
  }
  auto c = store_.entity_config(entity_type, name);
  if (!c) return std::nullopt;
  return *c;
}

AdminResult Controller::set_overrides(const std::string& entity_type, const std::string& name,
                                      const std::map<std::string, std::string>& configs, bool validate_only) {
  if (entity_type == "topics") {
    auto a = store_.topic_assignment(name);
    if (!a) return store_error(a.error());
    if (!*a) return error(ErrorCode::kUnknownTopicOrPartition, "topic '" + name + "' does not exist");
    if (options_.validate_topic_configs) {
      if (std::string why = options_.validate_topic_configs(configs); !why.empty()) {
        return error(ErrorCode::kInvalidConfig, why);
      }
    }
  } else if (entity_type != "brokers") {
    return error(ErrorCode::kInvalidRequest, "unknown config entity type '" + entity_type + "'");
  }
  if (validate_only) return {};
  if (auto r = store_.set_entity_config(entity_type, name, configs); !r) {
    return store_error(r.error());
  }
  return {};
}

}  // namespace keel::controller
