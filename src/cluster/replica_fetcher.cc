#include "cluster/replica_fetcher.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>

#include "cluster/follower_fetch_session.h"
#include "cluster/partition.h"
#include "cluster/replica_manager.h"
#include "common/log.h"
#include "protocol/error_code.h"
#include "protocol/generated/api.h"
#include "protocol/generated/fetch_request.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"

namespace keel::cluster {
namespace {

using protocol::ErrorCode;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("replica-fetcher");
  return l;
}

// Fetch v12: replica id, current leader epochs, last fetched epochs and the
// diverging-epoch answer, topics by name.
constexpr int16_t kFetchVersion = 12;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// One leader, one fetcher id: a loop of Fetch requests on its runtime thread.
struct ReplicaFetcherManager::Fetcher : std::enable_shared_from_this<Fetcher> {
  net::ClientRuntime& runtime;
  const ReplicaFetcherOptions& options;
  ReplicaManager& replicas;
  const LeaderEndpoint leader;
  std::unique_ptr<net::Client> client;

  std::mutex mu;
  struct FetchState {
    int64_t paused_until = 0;  // steady ms; 0 = not paused
    // Caught up with the leader's high watermark at the last answer (Kafka's
    // isReplicaInSync): an in-sync replica is never throttled.
    bool in_sync = false;
    // The leader's high watermark minus this replica's log end offset at the
    // last answer, at least 0 (Kafka's FetcherLagMetrics ConsumerLag).
    int64_t lag = 0;
  };
  std::map<storage::TopicPartition, FetchState> partitions;
  bool running = false;  // a fetch is in flight or scheduled
  // Scheduled (fetch_later), not in flight: a partition added meanwhile
  // cancels the wait (the token) and fetches at once.
  bool sleeping = false;
  uint64_t sleep_token = 0;
  bool stopped = false;
  // Incremental fetch session with the leader (KIP-227); touched only by the
  // fetch loop (one request in flight), under mu like the rest.
  FollowerFetchSession session;

  Fetcher(net::ClientRuntime& r, const ReplicaFetcherOptions& o, ReplicaManager& rm, LeaderEndpoint l)
      : runtime(r), options(o), replicas(rm), leader(std::move(l)) {
    net::ClientOptions co;
    co.host = leader.host;
    co.port = static_cast<uint16_t>(leader.port);
    co.request_timeout_ms = options.request_timeout_ms + options.max_wait_ms;
    co.max_in_flight = 1;
    client = std::make_unique<net::Client>(runtime, co);
  }

  void add(const storage::TopicPartition& tp) {
    bool start = false;
    {
      std::lock_guard lock(mu);
      partitions[tp] = FetchState{};
      // Idle, or only waiting out its partitions' pauses: a partition just
      // handed over (a new leader, an ISR change) must not wait with them.
      start = (!running || sleeping) && !stopped;
      if (start) {
        running = true;
        sleeping = false;
        ++sleep_token;
      }
    }
    if (start) post_fetch();
  }

  // Whether partitions remain.
  bool remove(const storage::TopicPartition& tp) {
    std::lock_guard lock(mu);
    partitions.erase(tp);
    return !partitions.empty();
  }

  void stop() {
    {
      std::lock_guard lock(mu);
      stopped = true;
    }
    client->close();
  }

  void post_fetch() {
    std::weak_ptr<Fetcher> weak = weak_from_this();
    runtime.post([weak] {
      if (auto self = weak.lock()) self->fetch();
    });
  }

  void fetch_later(int64_t delay_ms) {
    uint64_t token = 0;
    {
      std::lock_guard lock(mu);
      sleeping = true;
      token = ++sleep_token;
    }
    std::weak_ptr<Fetcher> weak = weak_from_this();
    runtime.schedule(std::chrono::milliseconds(delay_ms), [weak, token] {
      auto self = weak.lock();
      if (!self) return;
      {
        std::lock_guard lock(self->mu);
        if (!self->sleeping || self->sleep_token != token) return;  // woken early by add()
        self->sleeping = false;
      }
      self->fetch();
    });
  }

  struct Asked {
    storage::TopicPartition tp;
    int32_t leader_epoch;
  };

  void fetch() {
    protocol::FetchRequest req;
    FollowerFetchSession::Wanted wanted;
    std::vector<Asked> asked;
    int64_t next_unpause = 0;
    {
      std::lock_guard lock(mu);
      if (stopped || partitions.empty()) {
        running = false;
        return;
      }
      const int64_t now = now_ms();
      for (auto& [tp, fs] : partitions) {
        if (fs.paused_until > now) {
          next_unpause = next_unpause == 0 ? fs.paused_until : std::min(next_unpause, fs.paused_until);
          continue;
        }
        auto partition = replicas.partition(tp);
        auto state = partition ? partition->follower_fetch() : std::nullopt;
        if (!state) continue;  // it leads now, or is gone: LeaderAndIsr/StopReplica will say
        // Its log dir failed: nothing fetched could be written. The
        // controller takes it out of the ISR (log_dir_event_notification).
        if (partition->log().offline()) continue;
        // Kafka's shouldFollowerThrottle: a throttled replica that has not
        // caught up waits while the follower quota is exceeded; the others go on.
        if (!fs.in_sync && throttled(*partition, tp) && replicas.follower_quota().exceeded(now)) continue;
        wanted[tp] = {state->fetch_offset, state->log_start_offset, options.partition_max_bytes, state->leader_epoch,
                      state->last_fetched_epoch};
        asked.push_back({tp, state->leader_epoch});
      }
      // Only what changed goes in the request; the leader answers the rest
      // of the session's partitions when they have news.
      if (!asked.empty()) session.build(wanted, req);
    }
    if (asked.empty()) {
      fetch_later(next_unpause > 0 ? std::max<int64_t>(1, next_unpause - now_ms()) : options.backoff_ms);
      return;
    }
    req.replica_id = options.broker_id;
    req.max_wait_ms = options.max_wait_ms;
    req.min_bytes = options.min_bytes;
    req.max_bytes = options.max_bytes;
    req.isolation_level = 0;
    req.rack_id = "";

    protocol::RequestHeader header;
    header.request_api_key = protocol::FetchRequest::kApiKey;
    header.request_api_version = kFetchVersion;
    header.correlation_id = client->next_correlation_id();
    header.client_id = "replica-fetcher-" + std::to_string(options.broker_id);
    ByteWriter w;
    header.encode(w, protocol::request_header_version(protocol::FetchRequest::kApiKey, kFetchVersion));
    req.encode(w, kFetchVersion);
    std::weak_ptr<Fetcher> weak = weak_from_this();
    client->send(Bytes(w.buffer().begin(), w.buffer().end()), header.correlation_id,
                 [weak, asked = std::move(asked)](Result<Bytes> frame) mutable {
                   if (auto self = weak.lock()) self->on_response(std::move(frame), asked);
                 });
  }

  void pause(const storage::TopicPartition& tp) {
    std::lock_guard lock(mu);
    if (auto it = partitions.find(tp); it != partitions.end()) it->second.paused_until = now_ms() + options.backoff_ms;
  }

  void session_failed() {
    std::lock_guard lock(mu);
    session.on_failure();
  }

  void on_response(Result<Bytes> frame, const std::vector<Asked>& asked) {
    if (!frame) {
      session_failed();
      log()->warn("fetch from broker {} ({}:{}) failed: {}; retrying in {} ms", leader.id, leader.host, leader.port,
                  frame.error().message(), options.backoff_ms);
      return fetch_later(options.backoff_ms);
    }
    ByteReader r{ByteView(*frame)};
    protocol::ResponseHeader rh;
    protocol::FetchResponse resp;
    if (!rh.decode(r, protocol::response_header_version(protocol::FetchRequest::kApiKey, kFetchVersion)) ||
        !resp.decode(r, kFetchVersion)) {
      log()->error("undecodable fetch response from broker {}; retrying in {} ms", leader.id, options.backoff_ms);
      session_failed();
      return fetch_later(options.backoff_ms);
    }
    {
      std::lock_guard lock(mu);
      session.on_response(resp.error_code, resp.session_id);
    }
    if (resp.error_code == static_cast<int16_t>(ErrorCode::kFetchSessionIdNotFound) ||
        resp.error_code == static_cast<int16_t>(ErrorCode::kInvalidFetchSessionEpoch)) {
      // The leader lost or moved past our session (restart, eviction): a full request at once.
      log()->info("fetch session with broker {} ended ({}); starting a new one", leader.id,
                  protocol::error_name(static_cast<ErrorCode>(resp.error_code)));
      return fetch();
    }
    if (resp.error_code != 0) {
      log()->warn("fetch from broker {} answered {}", leader.id,
                  protocol::error_name(static_cast<ErrorCode>(resp.error_code)));
      return fetch_later(options.backoff_ms);
    }
    for (auto& topic : resp.responses) {
      for (auto& p : topic.partitions) {
        const storage::TopicPartition tp{topic.topic, p.partition_index};
        int32_t leader_epoch = -1;
        for (const auto& a : asked) {
          if (a.tp == tp) leader_epoch = a.leader_epoch;
        }
        auto partition = replicas.partition(tp);
        if (!partition || leader_epoch < 0) continue;
        handle(*partition, tp, p, leader_epoch, *frame);
      }
    }
    fetch();
  }

  bool throttled(Partition& partition, const storage::TopicPartition& tp) const {
    return partition.config()->follower_throttled.contains(tp.partition, options.broker_id);
  }

  void set_in_sync(const storage::TopicPartition& tp, int64_t log_end, int64_t leader_high_watermark) {
    std::lock_guard lock(mu);
    if (auto it = partitions.find(tp); it != partitions.end()) {
      it->second.in_sync = log_end >= leader_high_watermark;
      it->second.lag = std::max<int64_t>(0, leader_high_watermark - log_end);
    }
  }

  void handle(Partition& partition, const storage::TopicPartition& tp, protocol::FetchResponse::PartitionData& p,
              int32_t leader_epoch, Bytes& frame) {
    const auto error = static_cast<ErrorCode>(p.error_code);
    ErrorCode outcome = ErrorCode::kNone;
    if (error == ErrorCode::kNone) {
      if (p.diverging_epoch.epoch >= 0) {
        outcome = partition.truncate_to_divergence(p.diverging_epoch.epoch, p.diverging_epoch.end_offset, leader_epoch);
      } else if (p.records && !p.records->empty()) {
        // The records borrow from `frame`, which this fetcher owns: append them in place.
        const ByteView v = p.records->bytes();
        std::span<uint8_t> records(frame.data() + (v.data() - frame.data()), v.size());
        outcome = partition.append_as_follower(records, p.high_watermark, leader_epoch);
        if (throttled(partition, tp)) replicas.follower_quota().record(static_cast<int64_t>(records.size()), now_ms());
      } else {
        outcome = partition.append_as_follower({}, p.high_watermark, leader_epoch);
      }
    } else if (error == ErrorCode::kOffsetOutOfRange && p.log_start_offset >= 0) {
      const auto state = partition.follower_fetch();
      if (state && state->fetch_offset < p.log_start_offset) {
        outcome = partition.restart_at(p.log_start_offset, leader_epoch);
      } else {
        log()->warn("{}: fetch offset {} out of range at broker {} (log start {}, high watermark {})",
                    tp.dir_name(), state ? state->fetch_offset : -1, leader.id, p.log_start_offset, p.high_watermark);
        outcome = error;
      }
    } else {
      outcome = error;
    }
    if (error == ErrorCode::kNone && outcome == ErrorCode::kNone) {
      set_in_sync(tp, partition.log_end_offset(), p.high_watermark);
    }
    if (outcome == ErrorCode::kFencedLeaderEpoch || outcome == ErrorCode::kUnknownLeaderEpoch) {
      // The request carried an epoch the leader has left behind (or not yet
      // reached). If this replica has heard of a newer one since it asked (the
      // LeaderAndIsr of an ISR change or a new leader), the next fetch uses it
      // at once: no pause, which would hold acks=all answers for a backoff.
      const auto state = partition.follower_fetch();
      if (state && state->leader_epoch != leader_epoch) outcome = ErrorCode::kNone;
    }
    if (outcome != ErrorCode::kNone) {
      if (outcome != ErrorCode::kNotLeaderOrFollower) {
        log()->info("{}: fetch from broker {}: {}; pausing {} ms", tp.dir_name(), leader.id,
                    protocol::error_name(outcome), options.backoff_ms);
      }
      pause(tp);
    }
  }
};

ReplicaFetcherManager::ReplicaFetcherManager(ReplicaFetcherOptions options, ReplicaManager& replicas)
    : options_(std::move(options)), replicas_(replicas) {
  const int32_t n = std::max(1, options_.num_fetchers);
  for (int32_t i = 0; i < n; ++i) {
    runtimes_.push_back(std::make_unique<net::ClientRuntime>("keel-fetcher-" + std::to_string(i)));
  }
}

ReplicaFetcherManager::~ReplicaFetcherManager() { shutdown(); }

int32_t ReplicaFetcherManager::fetcher_id(const storage::TopicPartition& tp) const {
  // Kafka: (31 * topic hash + partition) mod num.replica.fetchers.
  const size_t h = std::hash<std::string>{}(tp.topic) * 31 + static_cast<size_t>(tp.partition);
  return static_cast<int32_t>(h % runtimes_.size());
}

void ReplicaFetcherManager::follow(const storage::TopicPartition& tp, const LeaderEndpoint& leader) {
  std::shared_ptr<Fetcher> fetcher, old;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    const int32_t id = fetcher_id(tp);
    const std::pair<int32_t, int32_t> key{leader.id, id};
    if (auto a = assigned_.find(tp); a != assigned_.end() && a->second != key) {
      if (auto f = fetchers_.find(a->second); f != fetchers_.end() && !f->second->remove(tp)) {
        old = std::move(f->second);
        fetchers_.erase(f);
      }
    }
    auto& slot = fetchers_[key];
    if (slot && !(slot->leader == leader)) {
      // The leader moved to another address: a new connection.
      if (old) old->stop();
      old = std::move(slot);
    }
    if (!slot) slot = std::make_shared<Fetcher>(*runtimes_[static_cast<size_t>(id)], options_, replicas_, leader);
    assigned_[tp] = key;
    fetcher = slot;
  }
  if (old) old->stop();
  fetcher->add(tp);
  log()->info("{} follows broker {} ({}:{})", tp.dir_name(), leader.id, leader.host, leader.port);
}

void ReplicaFetcherManager::unfollow(const storage::TopicPartition& tp) {
  std::shared_ptr<Fetcher> idle;
  {
    std::lock_guard lock(mu_);
    auto a = assigned_.find(tp);
    if (a == assigned_.end()) return;
    if (auto f = fetchers_.find(a->second); f != fetchers_.end() && !f->second->remove(tp)) {
      idle = std::move(f->second);
      fetchers_.erase(f);
    }
    assigned_.erase(a);
  }
  if (idle) idle->stop();
}

void ReplicaFetcherManager::shutdown() {
  std::map<std::pair<int32_t, int32_t>, std::shared_ptr<Fetcher>> fetchers;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    fetchers.swap(fetchers_);
    assigned_.clear();
  }
  for (auto& [key, f] : fetchers) f->stop();
  fetchers.clear();
  runtimes_.clear();  // joins the threads
}

int64_t ReplicaFetcherManager::max_lag() const {
  std::vector<std::shared_ptr<Fetcher>> fetchers;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, f] : fetchers_) fetchers.push_back(f);
  }
  int64_t most = 0;
  for (const auto& f : fetchers) {
    std::lock_guard lock(f->mu);
    for (const auto& [tp, state] : f->partitions) most = std::max(most, state.lag);
  }
  return most;
}

std::vector<storage::TopicPartition> ReplicaFetcherManager::followed_from(int32_t leader) const {
  std::lock_guard lock(mu_);
  std::vector<storage::TopicPartition> out;
  for (const auto& [tp, key] : assigned_) {
    if (key.first == leader) out.push_back(tp);
  }
  return out;
}

}  // namespace keel::cluster
