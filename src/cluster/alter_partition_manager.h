#pragma once
// Sends the leaders' ISR changes to the controller (Kafka's
// AlterPartitionManager, KIP-497): every change waiting is sent in one
// AlterPartition request, one request at a time, to whichever broker the
// metadata cache names as controller (in-process when that is this broker).
// Each partition's answer goes back to its Partition; a request that gets no
// answer, or NOT_CONTROLLER / STALE_BROKER_EPOCH for all, is sent again after
// a backoff, to the controller the cache names then.
//
// Thread-safe; answers are delivered on the client runtime's thread (or the
// caller's, in-process).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "cluster/metadata_cache.h"
#include "cluster/partition.h"
#include "net/client.h"

namespace keel::cluster {

struct AlterPartitionOptions {
  int32_t broker_id = 0;
  std::string listener_name = "PLAINTEXT";  // the controller's endpoint used (inter.broker.listener.name)
  std::function<int64_t()> broker_epoch;    // this broker's registration epoch
  int64_t retry_backoff_ms = 100;
  // The request to this broker itself, when it is the controller: the
  // request frame in, the response frame out (as ChannelOptions::local).
  std::function<void(Bytes frame, std::function<void(Result<Bytes>)> done)> local;
};

class AlterPartitionManager {
 public:
  using Callback = std::function<void(const Partition::IsrChangeResult&)>;

  AlterPartitionManager(net::ClientRuntime& runtime, AlterPartitionOptions options, const MetadataCache& metadata);
  ~AlterPartitionManager();

  void submit(const Partition::IsrChange& change, Callback done);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace keel::cluster
