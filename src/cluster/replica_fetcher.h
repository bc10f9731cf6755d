#pragma once
// Followers fetch from leaders (Kafka's ReplicaFetcherManager and
// ReplicaFetcherThread): this broker's follower replicas are grouped by leader
// and by fetcher id (a partition's hash modulo num.replica.fetchers), and each
// group is one fetcher: a loop of Fetch requests carrying this broker's
// replica id over one connection to the leader's inter-broker listener.
//
// A fetcher appends what the leader sends unchanged (offsets, leader epochs
// and timestamps as the leader wrote them), and handles the leader's answers:
// a diverging epoch (Fetch v12+, KIP-320/KIP-595) truncates the follower's
// log where it went another way before anything is appended; an offset below
// the leader's log start starts the log afresh there; an offset above the
// leader's log end truncates to it; NOT_LEADER_OR_FOLLOWER and the epoch
// fencing errors pause the partition until the controller's next
// LeaderAndIsr moves it. Each fetcher's loop runs on a client runtime thread
// of its fetcher id (num.replica.fetchers threads in all).
//
// Thread-safe: add/remove come from LeaderAndIsr and StopReplica handlers.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/client.h"
#include "storage/checkpoint.h"

namespace keel::cluster {

class ReplicaManager;

struct ReplicaFetcherOptions {
  int32_t broker_id = 0;
  int32_t num_fetchers = 1;                 // num.replica.fetchers
  int32_t max_wait_ms = 500;                // replica.fetch.wait.max.ms
  int32_t min_bytes = 1;                    // replica.fetch.min.bytes
  int32_t max_bytes = 10 * 1024 * 1024;     // replica.fetch.response.max.bytes
  int32_t partition_max_bytes = 1 << 20;    // replica.fetch.max.bytes
  int64_t backoff_ms = 1000;                // replica.fetch.backoff.ms: after an error
  int64_t request_timeout_ms = 30'000;      // replica.socket.timeout.ms
};

// Where a partition's leader is, as LeaderAndIsr's live leaders give it.
struct LeaderEndpoint {
  int32_t id = -1;
  std::string host;
  int32_t port = 0;
  bool operator==(const LeaderEndpoint&) const = default;
};

class ReplicaFetcherManager {
 public:
  ReplicaFetcherManager(ReplicaFetcherOptions options, ReplicaManager& replicas);
  ~ReplicaFetcherManager();  // shutdown()
  ReplicaFetcherManager(const ReplicaFetcherManager&) = delete;
  ReplicaFetcherManager& operator=(const ReplicaFetcherManager&) = delete;

  // The partition follows `leader` now (from wherever it fetched before).
  void follow(const storage::TopicPartition& tp, const LeaderEndpoint& leader);
  // The partition stops fetching (it leads now, or it was stopped).
  void unfollow(const storage::TopicPartition& tp);
  // Stops every fetcher and waits for their loops to end. Idempotent.
  void shutdown();

  // For tests and metrics: the partitions fetched from `leader`.
  std::vector<storage::TopicPartition> followed_from(int32_t leader) const;
  // The largest lag, in messages, of a partition followed here behind its
  // leader's high watermark at the last fetch (ReplicaFetcherManager MaxLag).
  int64_t max_lag() const;

  struct Fetcher;

 private:
  int32_t fetcher_id(const storage::TopicPartition& tp) const;

  const ReplicaFetcherOptions options_;
  ReplicaManager& replicas_;
  std::vector<std::unique_ptr<net::ClientRuntime>> runtimes_;  // one per fetcher id
  mutable std::mutex mu_;
  bool stopped_ = false;
  std::map<storage::TopicPartition, std::pair<int32_t, int32_t>> assigned_;  // tp -> (leader, fetcher id)
  std::map<std::pair<int32_t, int32_t>, std::shared_ptr<Fetcher>> fetchers_;  // (leader, fetcher id)
};

}  // namespace keel::cluster
