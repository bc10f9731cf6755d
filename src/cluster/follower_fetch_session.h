#pragma once
// A follower's side of an incremental fetch session (KIP-227; Kafka's
// FetchSessionHandler), so a replica fetcher's requests name only what
// changed: the first request is a full one (session epoch 0) and opens a
// session at the leader; each later one carries the partitions that are new
// or whose fetch state moved (fetch offset, log start, epochs, max bytes) and
// forgets those no longer fetched (paused, throttled, moved away), and the
// leader answers only the partitions with news. With a thousand idle
// partitions a request shrinks from all of them to none.
//
// Any failure (a session error such as FETCH_SESSION_ID_NOT_FOUND or
// INVALID_FETCH_SESSION_EPOCH, a lost connection, an undecodable answer)
// makes the next request a full one that replaces the session. A leader that
// declines sessions (id 0 in its answer) keeps getting full requests.
//
// Not thread-safe: one fetcher's loop owns it (one request in flight).

#include <cstdint>
#include <map>

#include "protocol/generated/fetch_request.h"
#include "storage/checkpoint.h"

namespace keel::cluster {

class FollowerFetchSession {
 public:
  struct PartitionState {
    int64_t fetch_offset = 0;
    int64_t log_start_offset = -1;
    int32_t partition_max_bytes = 0;
    int32_t current_leader_epoch = -1;
    int32_t last_fetched_epoch = -1;
    bool operator==(const PartitionState&) const = default;
  };
  using Wanted = std::map<storage::TopicPartition, PartitionState>;

  // Fills req's session id and epoch, topics and forgotten topics for a fetch
  // of `wanted` (every partition this fetch is for), by name (Fetch v7-12).
  void build(const Wanted& wanted, protocol::FetchRequest& req);
  // The leader's answer to the last built request: its top-level error and session id.
  void on_response(int16_t error_code, int32_t session_id);
  // The last built request got no answer: start afresh.
  void on_failure();

  int32_t session_id() const { return session_id_; }
  int32_t next_epoch() const { return epoch_; }

 private:
  int32_t session_id_ = 0;
  int32_t epoch_ = 0;  // 0: the next request is a full one
  Wanted session_;     // the session's partitions, as the leader holds them
  Wanted pending_;     // what they become once the last request is answered
};

}  // namespace keel::cluster
