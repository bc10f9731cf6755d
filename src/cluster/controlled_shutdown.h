#pragma once
// A stopping broker's controlled shutdown (Kafka's
// KafkaServer.controlledShutdown): asks the controller, with
// ControlledShutdown, to move every leadership this broker has to another
// ISR member and take it out of the ISRs, so that clients find new leaders
// before it goes rather than after its session expires. Retried while the
// controller answers an error or partitions this broker still leads (nobody
// else in sync), up to `max_retries` attempts; the broker stops either way.

#include <cstdint>
#include <functional>
#include <string>

#include "cluster/metadata_cache.h"
#include "common/bytes.h"
#include "common/result.h"
#include "net/client.h"

namespace keel::cluster {

struct ControlledShutdownOptions {
  int32_t broker_id = 0;
  int64_t broker_epoch = -1;
  std::string listener_name = "PLAINTEXT";  // inter.broker.listener.name
  int32_t max_retries = 3;                   // controlled.shutdown.max.retries
  int64_t retry_backoff_ms = 5000;           // controlled.shutdown.retry.backoff.ms
  int64_t request_timeout_ms = 30000;
  // The request to this broker itself, when it is the controller.
  std::function<void(Bytes frame, std::function<void(Result<Bytes>)> done)> local;
};

// Blocks until the controller reports nothing left or the attempts run out;
// true when every leadership moved.
bool controlled_shutdown(net::ClientRuntime& runtime, const MetadataCache& metadata,
                         const ControlledShutdownOptions& options);

}  // namespace keel::cluster
