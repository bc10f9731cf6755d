#pragma once
// The controller (Kafka's ZooKeeper-mode KafkaController, written against the
// CoordinationStore so it runs on ZooKeeper or the embedded store alike), and
// this broker's membership: registration under /brokers/ids, the election
// through /controller with /controller_epoch fencing, and re-doing both after
// a session expiry.
//
// While this broker is controller it watches /brokers/ids, /brokers/topics
// (and each topic's assignment), /admin/delete_topics and
// /log_dir_event_notification; creates the
// partition state of new partitions (leader = first live replica, ISR = the
// live replicas), re-elects leaders of partitions whose leader died and
// removes dead replicas from the ISR, runs topic deletions, and tells every
// broker (itself included) with LeaderAndIsr, UpdateMetadata and StopReplica
// requests over the inter-broker listener (channel_manager.h). Every broker
// watches /config/changes itself and applies config changes locally.
//
// Threads: one event thread owns all controller state; store watches and the
// session listener only post events to it. The TopicAdmin calls come from
// request handlers on any thread and write to the store; a config change
// then waits for the event thread to apply it on this broker (apply_config_here).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/metadata_cache.h"
#include "cluster/topic_admin.h"
#include "controller/channel_manager.h"
#include "controller/request_batch.h"
#include "controller/reassignment.h"
#include "controller/topic_deletion.h"
#include "coord/kafka_store.h"
#include "protocol/generated/alter_partition_request.h"
#include "protocol/generated/alter_partition_response.h"
#include "protocol/generated/controlled_shutdown_request.h"
#include "protocol/generated/controlled_shutdown_response.h"
#include "protocol/generated/elect_leaders_request.h"
#include "protocol/generated/elect_leaders_response.h"
#include "protocol/generated/alter_partition_reassignments_request.h"
#include "protocol/generated/alter_partition_reassignments_response.h"
#include "protocol/generated/list_partition_reassignments_request.h"
#include "protocol/generated/list_partition_reassignments_response.h"

namespace keel::controller {

// What the controller module tells its own broker directly: config changes,
// which every broker watches for itself in the store (Kafka's
// DynamicConfigManager). Leadership and metadata reach every broker, this one
// included, as requests over the inter-broker listener (channel_manager.h).
class BrokerChannel {
 public:
  virtual ~BrokerChannel() = default;
  // A topic's overrides changed (AlterConfigs).
  virtual void topic_config_changed(const std::string& topic, const std::map<std::string, std::string>& overrides) = 0;
  // The dynamic broker configs changed: the cluster default and this broker's.
  // Followed by topic_config_changed for every topic, so they are re-applied.
  virtual void broker_config_changed(const std::map<std::string, std::string>& cluster_default,
                                     const std::map<std::string, std::string>& own) = 0;
};

// Why a partition's leader is chosen again, and so by which of Kafka's rules
// (PartitionLeaderElectionAlgorithms):
// - kOffline: the leader is gone. The first live ISR member in assignment
//   order; with an unclean election allowed (topic or broker), else the
//   first live replica, which then is the whole ISR.
// - kUnclean: ElectLeaders UNCLEAN, the offline rule with unclean allowed.
// - kPreferred: the first replica in assignment order, if live and in the ISR.
// - kReassignment: the first live ISR member in the target replica order.
// - kControlledShutdown: the first live ISR member in assignment order that
//   is not shutting down; those shutting down leave the ISR.
enum class ElectionRule { kOffline, kUnclean, kPreferred, kReassignment, kControlledShutdown };

// One partition's election outcome: error none, ELECTION_NOT_NEEDED (the
// leader already is the one the rule picks), PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION, or a store error.
struct ElectionOutcome {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  std::string message;
  int32_t leader = -1;
};

struct ControllerOptions {
  int32_t broker_id = 0;
  std::string cluster_id;  // from meta.properties: checked against /cluster/id
  coord::BrokerRegistration registration;
  bool delete_topic_enable = true;
  int32_t default_partitions = 1;
  int16_t default_replication_factor = 1;
  // Checks topic config overrides: "" when fine, else the problem (naming the key).
  std::function<std::string(const std::map<std::string, std::string>&)> validate_topic_configs;
  // The effective value of every topic-level key for these overrides (CreateTopics v5+).
  std::function<std::map<std::string, std::string>(const std::map<std::string, std::string>&)> describe_topic_configs;
  std::function<int64_t()> now_ms;
  // Where the controller's connections to the brokers run (owned by the broker).
  net::ClientRuntime* runtime = nullptr;
  std::string inter_broker_listener = "PLAINTEXT";  // inter.broker.listener.name
  bool unclean_leader_election_enable = false;      // the broker default; topics may override it
  // The controller's requests to this broker, handed to its request handler
  // in-process (ChannelOptions::local); empty: over the network like the others.
  std::function<void(Bytes frame, std::function<void(Result<Bytes>)> done)> local_requests;
  // Automatic preferred-leader balancing (Kafka's keys of the same names).
  bool auto_leader_rebalance_enable = true;
  int64_t leader_imbalance_check_interval_ms = 300000;
  int32_t leader_imbalance_per_broker_percentage = 10;
  // After a crash, the previous process's registration lives until its store
  // session expires: start-up waits up to this long for it to go.
  int64_t registration_wait_ms = 0;
  // Start-up's store steps wait out an outage this long each
  // (zookeeper.connection.timeout.ms; coord/startup_retry.h); 0: not at all.
  int64_t store_outage_wait_ms = 0;
};

class Controller : public cluster::TopicAdmin {
 public:
  Controller(coord::KafkaStore& store, cluster::MetadataCache& metadata, BrokerChannel& local,
             ControllerOptions options);
  ~Controller() override;

  // Creates the persistent paths, checks /cluster/id, registers this broker
  // and runs the first election; returns when this broker's view of the
  // cluster is loaded (or throws std::runtime_error: a start-up failure).
  void start();
  // Resigns (deletes /controller if ours) and stops the event thread. The
  // broker's registration goes with the store session. Idempotent.
  void stop();
  // After a store session expiry: the owner reconnected the store; re-register and re-elect.
  // A registration that fails is tried again, with backoff, until it succeeds
  // or the controller stops (Kafka's broker re-registers on every new
  // session). Before start() has registered, and when the registration
  // already belongs to the current session, there is nothing to do. Any thread.
  void session_reestablished();

  // One of this broker's log dirs failed (an I/O error, a full disk): tells
  // the controller through the store (/log_dir_event_notification), which then
  // asks this broker which replicas are offline and moves their leadership and
  // ISR membership to the others. Any thread, never blocks (the store write
  // runs on the event thread, retried while the store is unreachable).
  void log_dir_failed();

  bool is_controller() const;
  int64_t broker_epoch() const;
  // Whether /brokers/ids/<id> is this broker's in the current session, as
  // far as the controller knows: false from a session expiry until the
  // re-registration succeeded (an expiry the owner has not reported yet is
  // not seen here). Any thread.
  bool registered() const { return registered_; }
  // Leaders this broker elected from outside the ISR while it was the
  // controller (Kafka's ControllerStats UncleanLeaderElectionsPerSec).
  uint64_t unclean_elections() const { return unclean_elections_.load(std::memory_order_relaxed); }

  // --- cluster::TopicAdmin
  cluster::AdminResult create_topic(const cluster::NewTopic& topic, bool validate_only,
                                    cluster::CreatedTopic* created) override;
  cluster::AdminResult delete_topic(const std::string& name) override;
  cluster::AdminResult create_partitions(const std::string& name, int32_t count,
                                         const std::vector<std::vector<int32_t>>& assignment,
                                         bool validate_only) override;
  std::optional<std::map<std::string, std::string>> overrides(const std::string& entity_type,
                                                               const std::string& name) override;
  cluster::AdminResult set_overrides(const std::string& entity_type, const std::string& name,
                                     const std::map<std::string, std::string>& configs, bool validate_only) override;

  // AlterPartition (KIP-497), a leader's ISR change: answered by the
  // controller only (NOT_CONTROLLER elsewhere). Checks the broker epoch
  // (STALE_BROKER_EPOCH), and per partition the leader and its epoch
  // (FENCED_LEADER_EPOCH), the partition epoch (INVALID_UPDATE_VERSION) and
  // that every new member is a live replica (INELIGIBLE_REPLICA); then writes
  // the state node (fenced) and tells every broker with UpdateMetadata.
  // Never waits: `done` is called on the controller's event thread (or at
  // once with NOT_CONTROLLER when the controller has stopped). The caller may
  // be the controller's own broker sending from a thread the event thread
  // waits for (the inter-broker runtime), so nothing here may block it.
  void alter_partition(const protocol::AlterPartitionRequest& req, int16_t version,
                       std::function<void(protocol::AlterPartitionResponse)> done);

  // --- reassignment (reassignment.cc)
  // AlterPartitionReassignments (KIP-455): controller only (NOT_CONTROLLER
  // elsewhere). Starts, replaces or (null replicas) cancels each partition's
  // reassignment, answered once it is in the store, not once the data moved.
  // Any thread (waits for the event thread).
  protocol::AlterPartitionReassignmentsResponse alter_partition_reassignments(
      const protocol::AlterPartitionReassignmentsRequest& req, int16_t version);
  // ListPartitionReassignments: the named partitions (null: all) that are
  // being reassigned. Controller only; any thread.
  protocol::ListPartitionReassignmentsResponse list_partition_reassignments(
      const protocol::ListPartitionReassignmentsRequest& req, int16_t version);

  // ElectLeaders (KIP-460; v0 is preferred only): controller only
  // (NOT_CONTROLLER elsewhere). Null topic_partitions elects every partition
  // of every topic; any thread (waits for the event thread).
  protocol::ElectLeadersResponse elect_leaders(const protocol::ElectLeadersRequest& req, int16_t version);

  // ControlledShutdown from a broker that is stopping (SIGTERM): moves every
  // leadership it has to another ISR member, takes it out of every ISR it
  // shares with others, and answers the partitions it still leads (nobody else
  // in sync: the broker retries, then stops anyway). Controller only; any thread.
  protocol::ControlledShutdownResponse controlled_shutdown(const protocol::ControlledShutdownRequest& req,
                                                           int16_t version);

  // Kafka's topic name rules; "" when legal, else why not.
  static std::string check_topic_name(const std::string& name);

 private:
  using Event = std::function<void()>;
  // Queues e for the event thread; false (e dropped) once stopped.
  bool post(Event e);
  // Queues e for the event thread after `delay_ms`; false once stopped.
  bool post_after(int64_t delay_ms, Event e);
  void run();
  void elect();
  void on_became_controller(const coord::Fence& fence);
  void resign();
  // Watches /controller; when nobody holds it (and this broker does not
  // think it does), runs the election again after `reelect_after_ms`.
  void watch_controller(int64_t reelect_after_ms = 0);
  void refresh_brokers();
  void refresh_topics();
  void refresh_topic(const std::string& topic);
  void process_deletions();
  void process_config_changes();
  void load_broker_configs();
  // One entity's stored config ("topics" or "brokers"), applied on this
  // broker as its change notification applies it (event thread): topic
  // overrides to topics_ and the topic's replicas; broker configs to the
  // dynamic broker config and every topic's replicas. Reads the store's
  // current value, so applying the same change again does nothing new.
  void apply_config(const std::string& entity_type, const std::string& name);
  void apply_topic_config(const std::string& topic);
  void apply_broker_configs();
  // After set_overrides wrote a change: apply_config on the event thread,
  // waiting for it (up to kApplyConfigWaitMs), so that this broker's answer
  // means this broker has the change (config_changes.cc's notification
  // reaches it later).
  // `seq` is the change's notification (set_entity_config), -1 if unknown.
  void apply_config_here(const std::string& entity_type, const std::string& name, int64_t seq);
  static constexpr int64_t kApplyConfigWaitMs = 10000;
  // Offline election and ISR removal for the topic's partitions, given the
  // brokers whose replicas just went offline (dead or bounced); publishes
  // what changed.
  void elect_leaders_for(const std::string& topic, const std::set<int32_t>& offline = {});
  // Chooses the leader of each partition again by `rule` (event thread),
  // writes the new states (fenced) and tells the brokers. `excluded` are
  // brokers that may not lead and leave the ISR (controlled shutdown).
  std::map<std::pair<std::string, int32_t>, ElectionOutcome> elect(
      const std::vector<std::pair<std::string, int32_t>>& partitions, ElectionRule rule,
      const std::set<int32_t>& excluded = {});
  // Writes one partition's next state (leader epoch bumped, fenced by the
  // controller epoch); false when it could not (resigned on a moved controller).
  bool write_state(const std::string& topic, int32_t partition, coord::PartitionState next);
  // After a state write: the controller's copy, the log line, the offline
  // mark cleared when the partition has a leader again.
  void state_written(const std::string& topic, int32_t partition, const coord::PartitionState& state,
                     int32_t zk_version);
  // A fenced write that failed: resign when another controller took over,
  // else log it.
  void store_write_failed(const char* what, const std::error_code& ec);
  // Several at once (update_partition_states), falling back to write_state
  // one by one; which were written, in order.
  std::vector<bool> write_states(
      const std::vector<std::pair<std::pair<std::string, int32_t>, coord::PartitionState>>& updates);
  // Runs `fn` on the event thread and waits for it (request handlers):
  // false when it did not run within the timeout (the controller stopping).
  // `fn` may still run after a timeout, so it must own what it touches.
  bool run_on_event_thread(std::function<void()> fn, int64_t timeout_ms = 30000);
  // Tells the brokers about these partitions of the topic: LeaderAndIsr to
  // their live replicas, UpdateMetadata to every live broker.
  // `created`: the partitions among them this controller has just created
  // (LeaderAndIsr's IsNew, so that a broker on a new disk leads them: see
  // ReplicaManager::refuses_leadership).
  // `send` false only queues them: the caller sends once for many topics.
  void publish(const std::string& topic, const std::vector<int32_t>& partitions,
               const std::vector<int32_t>& created = {}, bool send = true);
  PartitionDecision decision(const std::string& topic, int32_t partition) const;
  // Everything to `brokers` (a broker that starts, a new controller):
  // UpdateMetadata with every partition, LeaderAndIsr for the replicas they host.
  void send_full_state(const std::vector<int32_t>& brokers);
  void send_batch();
  bool unclean_allowed(const std::string& topic) const;
  // The controller's live brokers (event thread).
  std::vector<int32_t> live_broker_ids() const;
  // The brokers the metadata cache shows (any thread: TopicAdmin calls).
  std::vector<int32_t> cached_broker_ids() const;
  void log_store_error(const char* what, const std::error_code& ec) const;
  // A store read the controller depends on failed. On a connection loss
  // (ZooKeeper unreachable for a moment) `again` runs on the event thread
  // after kStoreRetryMs, unless an election came between: as Kafka's
  // KafkaZkClient retries until connected, since the read's watch, and the
  // change it was to pick up (a broker that just registered), would be lost
  // for good otherwise. Any other error is logged. True when retried.
  bool store_read_failed(const char* what, const std::error_code& ec, std::function<void()> again);
  static constexpr int64_t kStoreRetryMs = 500;
  // Re-registration after a new session, attempt `attempt` (0: the first) of
  // round `round` (one per session_reestablished; a newer round ends an older one).
  void reregister(uint64_t round, int attempt);
  // The wait before re-registration attempt `attempt + 1`: doubling from
  // kStoreRetryMs up to kMaxReregisterBackoffMs.
  static int64_t reregister_backoff_ms(int attempt);
  static constexpr int64_t kMaxReregisterBackoffMs = 10000;
  // How long stop() waits for the requests still queued to other brokers.
  static constexpr int64_t kStopDrainMs = 3000;
  // How long the controller waits for its own broker to apply what it sent
  // it (the local channel runs apart from the event thread): at start-up, so
  // the broker knows the cluster before it serves, and at its own controlled
  // shutdown, so its new followerships are in place before it stops them.
  static constexpr int64_t kLocalApplyWaitMs = 30'000;
  // How long a ControlledShutdown answer waits for the new leaders of the
  // stopping broker's partitions to take their LeaderAndIsr (well inside the
  // stopping broker's 30 s request timeout).
  static constexpr int64_t kHandoverWaitMs = 5'000;
  // Waits (not on the event thread) up to kLocalApplyWaitMs until the local
  // channel has nothing queued or in flight; true when it has not. A request
  // the broker failed ends the wait (false).
  bool wait_for_local_broker();

  coord::KafkaStore& store_;
  cluster::MetadataCache& metadata_;
  BrokerChannel& local_;
  ControllerOptions options_;

  // Event thread.
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Event> events_;
  // Events that wait for their time (store_read_failed's retries).
  std::multimap<std::chrono::steady_clock::time_point, Event> delayed_;
  bool stop_ = false;
  std::thread thread_;

  // Controller state: touched only on the event thread (the atomics are read elsewhere).
  std::atomic<bool> is_controller_{false};
  std::atomic<int64_t> broker_epoch_{-1};
  std::atomic<bool> registered_{false};
  int64_t registered_session_ = 0;             // the store session that made the registration
  std::atomic<uint64_t> reregister_round_{0};  // bumped by session_reestablished (any thread)
  std::atomic<uint64_t> unclean_elections_{0};
  coord::Fence fence_;
  std::map<int32_t, coord::BrokerRegistration> live_brokers_;
  struct TopicState {
    coord::TopicAssignment assignment;
    protocol::Uuid id;
    std::map<int32_t, coord::PartitionStateNode> states;
    std::map<std::string, std::string> overrides;
  };
  std::map<std::string, TopicState> topics_;

  // --- topic deletion (topic_deletion.cc), Kafka's TopicDeletionManager
  // Topics in /admin/delete_topics (Kafka's topicsToBeDeleted). A topic
  // whose partitions are being reassigned waits (ineligible) until they are
  // done; then every replica gets StopReplica with delete, and the topic's
  // nodes go once every replica answered it without error. A replica on a
  // dead broker (or one that failed) waits for its broker to start again.
  std::set<std::string> deleting_;
  struct Deletion {
    TopicDeletion replicas;
    // Leader -2 told to every metadata cache: the deletion waits for a
    // replica, so clients see the topic as deleted meanwhile. When every
    // replica answers at once, -2 goes only after the nodes did, so a client
    // whose DeleteTopics was answered finds the name free.
    bool hidden = false;
    std::string waiting_for;  // what it last waited for (logged once)
  };
  std::map<std::string, Deletion> deletions_;
  // Reads /admin/delete_topics (and watches it), queues new topics, resumes.
  // Starts, retries or completes every queued deletion that can go on.
  void resume_deletions();
  void complete_deletion(const std::string& topic);
  // Leader -2 to every live broker's metadata cache for the topic.
  void hide_topic(const std::string& topic);
  // StopReplica answers: replica deletions and removed replicas.
  void on_stop_replica_answer(int32_t broker, int64_t broker_epoch, const Bytes& body);
  // Brokers went or started: deletions and removed replicas waiting for them.
  void on_brokers_changed_for_deletion(const std::set<int32_t>& offline, const std::vector<int32_t>& started);
  // The replicas of the topic are being deleted (StopReplica sent): no
  // election, ISR change or reassignment touches it any more.
  bool deletion_started(const std::string& topic) const;
  // Replicas a reassignment removed whose StopReplica (delete) is not
  // answered yet, by broker: a broker that was down gets it when it starts
  // again. Only this controller knows them (a new one starts empty).
  std::map<int32_t, std::set<std::pair<std::string, int32_t>>> pending_removals_;
  void send_pending_removals(int32_t broker);
  // Brokers that asked for a controlled shutdown and are still registered:
  // they lead nothing new and join no ISR (Kafka's shuttingDownBrokerIds).
  std::set<int32_t> shutting_down_;
  // Replicas that answered LeaderAndIsr with KAFKA_STORAGE_ERROR (a log dir
  // that failed, or a replica that lost acknowledged records and refuses to
  // lead): no clean election picks them; an unclean one only when no other
  // replica is live. Cleared when the partition gets another leader, when
  // the broker starts again, and by a new controller (offline_replicas.cc).
  std::map<std::pair<std::string, int32_t>, std::set<int32_t>> offline_replicas_;
  bool replica_offline(const std::string& topic, int32_t partition, int32_t broker) const;
  // Offline leaders are elected away (an only replica keeps leading, for
  // reads), offline followers leave the ISR.
  void on_leader_and_isr_answer(int32_t broker, const Bytes& body);
  // Reads /log_dir_event_notification (and watches it): each live broker named
  // there gets LeaderAndIsr for all its replicas; the notifications go.
  void process_log_dir_events();
  // This broker's notification, attempt `attempt` (retried on a store outage).
  void report_log_dir_failure(int attempt);
  // Automatic preferred-leader balancing (auto.leader.rebalance.enable).
  // Every leader.imbalance.check.interval: a broker whose preferred
  // partitions are led elsewhere beyond leader.imbalance.per.broker.percentage
  // gets them back by preferred elections (only where it is in the ISR).
  void check_leader_imbalance();
  std::chrono::steady_clock::time_point next_imbalance_check_{};
  std::unique_ptr<ChannelManager> channels_;
  RequestBatch batch_;
  bool loading_ = false;  // while a new controller reads the store: nothing is sent
  int64_t last_config_change_ = -1;
  // Notifications of changes this broker applied when it answered them
  // (apply_config_here): their notification is skipped, once.
  std::set<int64_t> applied_here_;
  uint64_t generation_ = 0;  // bumped on every (re)election; stale watches check it

  // --- reassignment (reassignment.cc)
  // Kafka's onPartitionReassignment, driven by ISR changes and broker
  // start-ups; the assignment node records RS, AR and RR (reassignment.h).
  using PartitionKey = std::pair<std::string, int32_t>;
  // Validates and starts (or replaces, or with no target cancels) one
  // partition's reassignment: none, or the error and message to answer.
  std::pair<protocol::ErrorCode, std::string> reassign(const std::string& topic, int32_t partition,
                                                       const std::optional<std::vector<int32_t>>& target);
  // Writes RS/AR/RR, stops replicas no longer wanted, then goes on.
  bool start_reassignment(const std::string& topic, int32_t partition, const ReplicaAssignment& next);
  // Not done: a new leader epoch and LeaderAndIsr to every replica, so new
  // ones start fetching. Done (every target replica in the ISR): complete.
  void on_partition_reassignment(const std::string& topic, int32_t partition);
  // The leader moves into the target if it is not there, the removed
  // replicas leave the ISR and delete their logs, the node says RS = TRS.
  void complete_reassignment(const std::string& topic, int32_t partition);
  // Replicas out of a partition: out of the ISR (a leader among them hands
  // over first), StopReplica with delete.
  void stop_removed_replicas(const std::string& topic, int32_t partition, const std::vector<int32_t>& removed);
  // The assignment node, fenced, then the controller's copy.
  bool write_assignment(const std::string& topic, const coord::TopicAssignment& assignment);
  // Hooks: an ISR changed (AlterPartition; posts, returns at once); brokers
  // started; a new controller resumes what the store records.
  void on_isr_changed(const std::string& topic, const std::vector<int32_t>& partitions);
  void on_brokers_started(const std::vector<int32_t>& brokers);
  void resume_reassignments();
  // /admin/reassign_partitions (old tools): starts its entries; returns the
  // partitions it started. Entries leave the node as they complete or fail.
  std::set<PartitionKey> process_legacy_reassignments();
  void drop_from_legacy_node(const std::function<bool(const coord::PartitionReassignment&)>& done);
  std::set<PartitionKey> reassigning_;  // Kafka's partitionsBeingReassigned
};

}  // namespace keel::controller
