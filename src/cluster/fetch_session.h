#pragma once
// Incremental fetch sessions (KIP-227). A client that sends Fetch with
// session epoch 0 gets a session id; later requests name only the partitions
// that changed (new fetch offsets, added, forgotten) and the broker answers
// only the partitions with something new (records, a moved high watermark or
// log start offset, an error), remembering the rest. Epoch -1 closes a
// session. Sessions are kept in a bounded cache
// (max.incremental.fetch.session.cache.slots) and evicted when idle
// (min.incremental.fetch.session.eviction.ms) or, when full, the smallest
// non-follower session makes room for a larger or follower one.
//
// Plain data in, plain data out: the Fetch handler resolves topics and reads
// logs; this module only keeps and compares state. Thread-safe: the cache has
// a mutex, each session another (one request of a client at a time, as Kafka).

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "protocol/error_code.h"
#include "protocol/types.h"

namespace keel::cluster {

inline constexpr int32_t kInvalidSessionId = 0;
inline constexpr int32_t kInitialEpoch = 0;
inline constexpr int32_t kFinalEpoch = -1;

struct FetchPartitionKey {
  std::string topic;  // "" when the request named an unknown topic id
  protocol::Uuid topic_id;
  int32_t partition = 0;
  auto operator<=>(const FetchPartitionKey& o) const {
    if (auto c = topic_id <=> o.topic_id; c != 0) return c;
    if (auto c = topic <=> o.topic; c != 0) return c;
    return partition <=> o.partition;
  }
  bool operator==(const FetchPartitionKey&) const = default;
};

// What the client asks of one partition.
struct FetchPartitionRequest {
  FetchPartitionKey key;
  int64_t fetch_offset = 0;
  int64_t log_start_offset = -1;
  int32_t partition_max_bytes = 0;
  int32_t current_leader_epoch = -1;
  int32_t last_fetched_epoch = -1;
};

// What the broker found for one partition (the fields that decide whether an
// incremental response must include it).
struct FetchPartitionResult {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  int64_t last_stable_offset = -1;
  bool has_records = false;
  bool preferred_replica = false;
  bool diverging_epoch = false;
};

class FetchSession;

// One Fetch request resolved against the cache.
struct FetchContext {
  protocol::ErrorCode error = protocol::ErrorCode::kNone;  // top-level: session errors
  int32_t response_session_id = kInvalidSessionId;
  bool incremental = false;
  // The partitions to read, in order (for an incremental request: the session's).
  std::vector<FetchPartitionRequest> partitions;
  std::shared_ptr<FetchSession> session;  // set for full requests that made a session and incremental ones
};

struct FetchSessionCacheOptions {
  size_t max_slots = 1000;                  // max.incremental.fetch.session.cache.slots
  int64_t eviction_ms = 120000;             // min.incremental.fetch.session.eviction.ms
  std::function<int64_t()> clock;           // milliseconds
};

class FetchSession {
 public:
  // After the handler read the partitions of an incremental (or session-
  // creating full) context: updates the cached state and returns, per
  // partition of ctx.partitions, whether it belongs in the response (always
  // true for full requests).
  std::vector<bool> update(const FetchContext& ctx, const std::vector<FetchPartitionResult>& results);
  int32_t id() const { return id_; }
  size_t size() const;

 private:
  friend class FetchSessionCache;
  struct Cached {
    FetchPartitionRequest request;
    int64_t high_watermark = -1;
    int64_t log_start_offset = -1;
    int64_t last_stable_offset = -1;
  };
  int32_t id_ = 0;
  bool privileged_ = false;  // a follower's session
  bool uses_topic_ids_ = false;
  mutable std::mutex mu_;
  int32_t next_epoch_ = 1;
  int64_t last_used_ms_ = 0;
  std::vector<FetchPartitionKey> order_;
  std::map<FetchPartitionKey, Cached> partitions_;
};

class FetchSessionCache {
 public:
  explicit FetchSessionCache(FetchSessionCacheOptions options = {});

  // Applies KIP-227's rules to a request. version: the Fetch version (< 7 has
  // no sessions); uses_topic_ids: version >= 13.
  FetchContext new_context(int16_t version, int32_t session_id, int32_t session_epoch,
                           std::vector<FetchPartitionRequest> partitions,
                           const std::vector<FetchPartitionKey>& forgotten, bool is_follower);

  size_t size() const;
  bool contains(int32_t session_id) const;

 private:
  std::shared_ptr<FetchSession> create(std::vector<FetchPartitionRequest> partitions, bool privileged,
                                       bool uses_topic_ids, int64_t now);
  FetchSessionCacheOptions options_;
  mutable std::mutex mu_;
  std::map<int32_t, std::shared_ptr<FetchSession>> sessions_;
  uint32_t rng_;
};

}  // namespace keel::cluster
