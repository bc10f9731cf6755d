#include "controller/controller.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <random>
#include <stdexcept>

#include "common/log.h"
#include "common/thread_name.h"
#include "controller/internal.h"
#include "coord/startup_retry.h"

namespace keel::controller {

using protocol::ErrorCode;
using namespace internal;

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

bool Controller::store_read_failed(const char* what, const std::error_code& ec, std::function<void()> again) {
  if (ec != coord::CoordErrc::kConnectionLoss) {
    log_store_error(what, ec);
    return false;
  }
  log()->warn("{}: {}; trying again in {} ms", what, ec.message(), kStoreRetryMs);
  const uint64_t gen = generation_;
  post_after(kStoreRetryMs, [this, gen, again = std::move(again)] {
    if (gen == generation_) again();
  });
  return true;
}

// --- start-up and the event thread ------------------------------------------

void Controller::start() {
  // A ZooKeeper restart meanwhile is waited out. The broker's session
  // listener renews an expired session (server/broker.cc), so none is passed.
  const coord::StartupRetry retry(std::chrono::milliseconds(options_.store_outage_wait_ms));
  if (auto r = retry.run("creating Kafka's paths", [this] { return store_.ensure_paths(); }); !r) {
    throw std::runtime_error("coordination store: cannot create Kafka's paths: " + retry.explain(r.error()));
  }
  auto id = retry.run("reading /cluster/id", [this] { return store_.get_or_create_cluster_id(options_.cluster_id); });
  if (!id) throw std::runtime_error("coordination store: cannot read /cluster/id: " + retry.explain(id.error()));
  if (*id != options_.cluster_id) {
    throw std::runtime_error("the coordination store belongs to cluster " + *id +
                             " but meta.properties says this broker belongs to " + options_.cluster_id);
  }
  thread_ = std::thread([this] {
    set_thread_name("keel-controller");
    run();
  });
  std::promise<std::string> ready;
  auto ready_future = ready.get_future();
  post([this, &ready] {
    // The session is read before each attempt: a registration made in an
    // older session than the one noted would be taken for current.
    int64_t session = 0;
    // The store rides out a short outage inside a request (it waits for the
    // connection and sends the request again), so an outage between two
    // attempts shows in its count of disconnections, not in an error.
    uint64_t disconnections = store_.raw().disconnections();
    bool outage_ridden_out = false;
    const auto try_register = [&] {
      session = store_.raw().session_id();
      auto r = store_.register_broker(options_.registration);
      const uint64_t now = store_.raw().disconnections();
      outage_ridden_out = now != disconnections;
      disconnections = now;
      return r;
    };
    auto epoch = try_register();
    const auto wait = std::chrono::milliseconds(options_.registration_wait_ms);
    auto deadline = std::chrono::steady_clock::now() + wait;
    bool told = false;
    bool store_was_lost = false;
    // A previous session's registration goes when ZooKeeper expires that
    // session. When the store cannot be reached, give it a full period to come
    // back; once it is back, wait a full period again: a restarted ZooKeeper
    // gives every session it restores a fresh timeout, so the old one lives
    // that long. An expired session of our own is an outage too: the
    // broker's session listener opens a new one meanwhile.
    // The deadline is checked after each answer, not before: an attempt may
    // itself have waited out part of an outage inside the store, past the
    // deadline, and its answer says how to go on.
    while (!epoch) {
      const auto now = std::chrono::steady_clock::now();
      if (coord::is_store_outage(epoch.error())) {
        if (!store_was_lost) deadline = std::max(deadline, now + wait);
        store_was_lost = true;
      } else if (epoch.error() != coord::KafkaStoreErrc::kBrokerRegistered) {
        break;
      } else if (store_was_lost || outage_ridden_out) {
        // Back (an outage the attempt saw, or one the store rode out inside
        // it) with the old registration still there: a restarted ZooKeeper
        // renews the old session's timeout.
        store_was_lost = false;
        deadline = now + wait;
        log()->warn("the coordination store is back and broker {} is still registered by a previous session; "
                    "waiting up to {} ms again",
                    options_.broker_id, options_.registration_wait_ms);
      } else if (!told) {
        log()->warn("broker {} is still registered by a previous session (an unclean stop?); waiting up to {} ms "
                    "for that session to expire",
                    options_.broker_id, options_.registration_wait_ms);
        told = true;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      epoch = try_register();
    }
    if (!epoch) {
      ready.set_value("cannot register broker " + std::to_string(options_.broker_id) + ": " +
                      epoch.error().message());
      return;
    }
    broker_epoch_ = *epoch;
    registered_session_ = session;
    registered_ = true;
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
  // A broker that is its own controller knows the cluster before it serves
  // clients: what the election told it is applied (on the local channel's
  // thread) before start-up goes on.
  if (channels_ && is_controller_ && !wait_for_local_broker()) {
    log()->warn("broker {} has not applied the controller's first requests to it within {} ms (or failed them); "
                "starting anyway",
                options_.broker_id, kLocalApplyWaitMs);
  }
}

bool Controller::wait_for_local_broker() {
  // A request its broker fails (only a defect does that in-process) is not
  // waited for again and again until the bound.
  return channels_->wait_idle(options_.broker_id, std::chrono::milliseconds(kLocalApplyWaitMs), /*or_failing=*/true) &&
         channels_->pending(options_.broker_id) == 0;
}

void Controller::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (channels_ && is_controller_) {
    // What this controller decided last (its own broker's controlled
    // shutdown moved every leadership away) reaches the other brokers before
    // it lets go: dropped, they would learn their new leaderships only from
    // the next controller, after it has read the whole cluster back (a
    // 2,000-partition survivor led nothing for 1-3 s). Bounded: a broker that
    // does not answer does not hold the stop.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStopDrainMs);
    for (const auto& [id, registration] : live_brokers_) {
      if (id == options_.broker_id) continue;  // its own broker is stopping
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left.count() > 0) (void)channels_->wait_idle(id, std::chrono::duration_cast<std::chrono::milliseconds>(left));
    }
  }
  // The request its own broker is handling ends before the broker goes on
  // stopping (closing the logs); what is still queued for it is dropped.
  if (channels_) channels_->stop();
  if (is_controller_) {
    (void)store_.resign_controller(options_.broker_id);
    is_controller_ = false;
  }
}

void Controller::session_reestablished() {
  const uint64_t round = ++reregister_round_;
  post([this, round] { reregister(round, 0); });
}

int64_t Controller::reregister_backoff_ms(int attempt) {
  return std::min(kMaxReregisterBackoffMs, kStoreRetryMs << std::min(attempt, 5));
}

void Controller::reregister(uint64_t round, int attempt) {
  if (round != reregister_round_) return;  // a newer session's round took over
  // start() registers in whatever session is current when it gets there.
  if (broker_epoch_ < 0) return;
  const int64_t session = store_.raw().session_id();
  if (attempt == 0) {
    // Start-up (or an earlier round) registered in this very session:
    // its registration and election stand.
    if (registered_ && registered_session_ == session) return;
    log()->warn("coordination session re-established: registering again and re-running the election");
    registered_ = false;
    is_controller_ = false;
    ++generation_;  // the old session's retries and re-elections stop: it has no registration
    if (channels_) channels_->clear();
  }
  auto epoch = store_.register_broker(options_.registration);
  if (!epoch) {
    // Kafka's broker does not stay up unregistered: no controller would
    // count it live, so it keeps trying (ZooKeeper back, a previous session's
    // node gone) until it is in, or the broker stops.
    const int64_t backoff = reregister_backoff_ms(attempt);
    log()->error("broker {} is not registered: re-registration attempt {} failed: {}; trying again in {} ms",
                 options_.broker_id, attempt + 1, epoch.error().message(), backoff);
    post_after(backoff, [this, round, attempt] { reregister(round, attempt + 1); });
    return;
  }
  broker_epoch_ = *epoch;
  registered_session_ = session;
  registered_ = true;
  log()->info("registered broker {} again (broker epoch {}){}", options_.broker_id, *epoch,
              attempt > 0 ? " after " + std::to_string(attempt + 1) + " attempts" : std::string());
  elect();
}

bool Controller::is_controller() const { return is_controller_; }
int64_t Controller::broker_epoch() const { return broker_epoch_; }

bool Controller::post(Event e) {
  std::lock_guard lock(mu_);
  if (stop_) return false;
  events_.push_back(std::move(e));
  wake_.notify_one();
  return true;
}

bool Controller::post_after(int64_t delay_ms, Event e) {
  std::lock_guard lock(mu_);
  if (stop_) return false;
  delayed_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms), std::move(e));
  wake_.notify_one();
  return true;
}

bool Controller::run_on_event_thread(std::function<void()> fn, int64_t timeout_ms) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  post([fn = std::move(fn), done] {
    fn();
    done->set_value();
  });
  return future.wait_for(std::chrono::milliseconds(timeout_ms)) == std::future_status::ready;
}

void Controller::run() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mu_);
  while (true) {
    if (stop_) return;
    const auto now = Clock::now();
    // Delayed events whose time has come join the queue.
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      events_.push_back(std::move(delayed_.begin()->second));
      delayed_.erase(delayed_.begin());
    }
    if (events_.empty()) {
      // The timers: the preferred-leader balance check while controller, and the delayed events.
      const bool timed = is_controller_ && options_.auto_leader_rebalance_enable;
      if (timed && now >= next_imbalance_check_) {
        next_imbalance_check_ = now + std::chrono::milliseconds(options_.leader_imbalance_check_interval_ms);
        lock.unlock();
        check_leader_imbalance();
        lock.lock();
        continue;
      }
      auto wake_at = timed ? next_imbalance_check_ : Clock::time_point::max();
      if (!delayed_.empty()) wake_at = std::min(wake_at, delayed_.begin()->first);
      const auto ready = [this] { return stop_ || !events_.empty(); };
      if (wake_at == Clock::time_point::max()) {
        wake_.wait(lock, ready);
      } else {
        wake_.wait_until(lock, wake_at, ready);
      }
      continue;
    }
    Event e = std::move(events_.front());
    events_.pop_front();
    lock.unlock();
    e();
    lock.lock();
  }
}

// --- election -------------------------------------------------------------------

void Controller::watch_controller(int64_t reelect_after_ms) {
  const uint64_t gen = generation_;
  auto current = store_.controller_id([this, gen](const coord::WatchEvent&) {
    post([this, gen] {
      if (gen == generation_) elect();
    });
  });
  if (!current) {
    // Without the watch this broker would miss the controller's death.
    store_read_failed("cannot watch /controller", current.error(), [this] {
      if (is_controller_) {
        watch_controller();
      } else {
        elect();
      }
    });
    return;
  }
  if (*current < 0 && !is_controller_) {
    // Nobody is controller, and the watch just set waits for a creation that
    // may never come: the winner whose node this broker's election ran into
    // went before the watch was set (its deletion fired nobody's watch here),
    // and every other broker may be in the same spot. Run again, as Kafka's
    // controller re-elects when /controller is gone.
    log()->info("no controller after the election (its node went meanwhile); electing again");
    post_after(reelect_after_ms, [this, gen] {
      if (gen == generation_) elect();
    });
  }
}

void Controller::elect() {
  ++generation_;
  auto result = store_.try_elect_controller(options_.broker_id, options_.now_ms());
  if (!result) {
    // An error that is no outage would come back at once: the next attempt waits.
    if (!store_read_failed("controller election failed", result.error(), [this] { elect(); })) {
      watch_controller(kStoreRetryMs);
    }
    return;
  }
  if (!result->won && result->controller_id == options_.broker_id) {
    // /controller names this broker, yet this election did not win it: an
    // attempt whose answer was lost (a connection loss after the commit)
    // wrote it, so its epoch is unknown here, or this broker id's previous
    // process did and its session has not expired yet. Ours goes (the
    // resignation checks the session) and the election runs again; the
    // previous process's stays until its session ends, which the watch tells.
    (void)store_.resign_controller(options_.broker_id);
    if (auto now = store_.controller_id(); now && *now < 0) {
      log()->warn("dropped a /controller node this broker wrote without knowing it had; electing again");
      const uint64_t gen = generation_;
      post([this, gen] {
        if (gen == generation_) elect();
      });
      return;
    }
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
  shutting_down_.clear();  // a stopping broker asks the new controller again
  offline_replicas_.clear();
  next_imbalance_check_ =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.leader_imbalance_check_interval_ms);
  watch_controller();
  // Read the whole cluster first (the topics being deleted too: their
  // replicas get no LeaderAndIsr), then tell every live broker everything.
  deleting_.clear();
  deletions_.clear();
  pending_removals_.clear();
  loading_ = true;
  refresh_brokers();
  refresh_topics();
  process_deletions();
  loading_ = false;
  send_full_state(live_broker_ids());
  // The full state asked every broker about its replicas already; the
  // notifications are read (and removed) to watch for the next ones.
  process_log_dir_events();
  // Reassignments first: a topic being reassigned waits to be deleted.
  resume_reassignments();
  resume_deletions();
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
    store_read_failed("cannot list brokers", ids.error(), [this] { refresh_brokers(); });
    return;
  }
  std::map<int32_t, coord::BrokerRegistration> live;
  for (int32_t id : *ids) {
    auto b = store_.broker(id);
    if (!b) {
      // A registered broker left out would never hear from this controller
      // (no UpdateMetadata, no LeaderAndIsr) until the next broker change:
      // the whole list is read again instead.
      if (store_read_failed("cannot read a broker's registration", b.error(), [this] { refresh_brokers(); })) return;
      continue;  // unreadable (not a store outage): logged
    }
    if (!*b) continue;  // gone since the listing: the watch tells
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
  for (int32_t id : offline) {
    log()->info("broker {} went offline", id);
    shutting_down_.erase(id);
  }
  for (int32_t id : started) log()->info("broker {} is live (broker epoch {})", id, live_brokers_.at(id).epoch);
  // A broker that starts again reports its offline replicas afresh (its log
  // dir may be back): the elections below may pick its replicas again.
  for (auto it = offline_replicas_.begin(); it != offline_replicas_.end();) {
    for (int32_t id : started) it->second.erase(id);
    it = it->second.empty() ? offline_replicas_.erase(it) : std::next(it);
  }

  if (!started.empty()) {
    // The others learn the new live-broker list; the new ones get everything.
    std::vector<int32_t> others;
    for (const auto& [id, reg] : live_brokers_) {
      if (!contains(started, id)) others.push_back(id);
    }
    batch_.update_metadata_brokers(others);
    send_full_state(started);
  }
  // A broker that went hosting nothing (decommissioned) changes no
  // partition: the others still learn the live brokers (Kafka's onBrokerFailure).
  if (!offline.empty()) batch_.update_metadata_brokers(live_broker_ids());
  // Leaders for partitions led by a broker that went (or that had none), and
  // dead replicas out of every ISR.
  for (auto& [name, t] : topics_) elect_leaders_for(name, offline);
  send_batch();
  on_brokers_started(started);  // reassignments with replicas there go on
  // Deletions waiting for brokers that came back go on; those whose replicas
  // just went wait for them.
  on_brokers_changed_for_deletion(offline, started);
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
    store_read_failed("cannot list topics", names.error(), [this] { refresh_topics(); });
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
      deleting_.erase(it->first);
      deletions_.erase(it->first);
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
    store_read_failed("cannot read a topic's assignment", assignment.error(), [this, name] { refresh_topic(name); });
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
  std::vector<int32_t> known;    // new to this controller, with a stored state
  std::vector<int32_t> created;  // created now
  bool read_again = false;       // a partition state could not be read: the topic is read again later
  // The states this controller does not know yet, read together: at
  // failover that is every partition of every topic (issue 21).
  std::vector<int32_t> unknown;
  for (const auto& [p, replicas] : t.assignment.partitions) {
    if (!t.states.contains(p)) unknown.push_back(p);
  }
  auto states = store_.partition_states(name, unknown);
  for (size_t k = 0; k < unknown.size(); ++k) {
    const int32_t p = unknown[k];
    const std::vector<int32_t>& replicas = t.assignment.partitions.at(p);
    auto& state = states[k];
    if (!state) {
      if (!read_again) {
        read_again = store_read_failed("cannot read a partition state", state.error(),
                                       [this, name] { refresh_topic(name); });
      }
      continue;
    }
    if (*state) {
      t.states[p] = **state;
      known.push_back(p);  // new to this controller: the brokers hear of it
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
      // Perhaps created after all: the retry reads it, or creates it.
      if (!read_again) {
        read_again = store_read_failed("cannot create a partition state", created_state.error(),
                                       [this, name] { refresh_topic(name); });
      } else {
        log_store_error("cannot create a partition state", created_state.error());
      }
      continue;
    }
    t.states[p] = {s, *created_state};
    known.push_back(p);
    created.push_back(p);
  }
  publish(name, known, created);
  elect_leaders_for(name);
}

}  // namespace keel::controller
