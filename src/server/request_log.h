#pragma once
// What the router records when a request completes, in one place:
//   - the request metrics (server/broker_metrics.h: RequestsPerSec,
//     TotalTimeMs, keel_request_latency_seconds), when metrics are on;
//   - the request log (logger "request"), Kafka's kafka.request.logger in
//     spirit: every request, at debug, when `logging.request.level` is debug
//     or trace (off by default: one line per request is far too many for a
//     busy broker, and unlike the rest of the debug output an operator asks
//     for it on purpose); and a request that took longer than
//     `logging.request.slow.ms` (-1 = never), at warn. A Fetch's own
//     max_wait_ms is added to the threshold (a long poll is not slow), and
//     JoinGroup/SyncGroup are left out: they wait for the rest of the group
//     by design.
// Time is measured from when the router starts the request to when its
// response is handed to the connection (the handler's time plus any wait in
// the purgatory), not the time queued before a handler thread took it.
//
// Cost per request: no allocation beyond the one the router makes anyway for
// the frame (InFlightRequest holds the frame and the completion state), one
// clock read when the request starts and one when it completes, both shared
// by metrics and log. The client id is read back from the frame only when a
// line is written. The peer and listener names are kept per request while a
// slow request could be logged, because the connection (and its
// ConnectionInfo) may be gone when a request waiting in the purgatory
// completes; they are short enough for std::string's inline buffer.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "config/config.h"
#include "net/server.h"
#include "protocol/generated/request_header.h"

namespace keel::server {

class BrokerMetrics;

// One request frame and what its completion records. Made by the router
// (std::make_shared) for every frame; track() arms the completion.
class InFlightRequest {
 public:
  explicit InFlightRequest(net::Frame frame) : frame_(std::move(frame)) {}
  net::Frame& frame() { return frame_; }

  // `done` wrapped to record the request once it completes (metrics and
  // request log), or `done` itself when neither wants it (no metrics, request
  // log off: no clock read). The wrapper holds a plain pointer (std::function
  // keeps it without allocating); `self` stays alive until the wrapper runs,
  // which must happen exactly once. `header_bytes` is where the body starts
  // in the frame.
  static std::function<void(net::Response)> track(std::shared_ptr<InFlightRequest> self,
                                                  const config::BrokerConfig& config, BrokerMetrics* metrics,
                                                  const net::ConnectionInfo& conn,
                                                  const protocol::RequestHeader& header, size_t header_bytes,
                                                  std::function<void(net::Response)> done);

 private:
  void finish(net::Response r);
  void write_log_line(double ms, bool slow, const net::Response& r) const;

  net::Frame frame_;
  // Set by track().
  std::shared_ptr<InFlightRequest> self_;  // until finish()
  std::function<void(net::Response)> done_;
  BrokerMetrics* metrics_ = nullptr;
  std::chrono::steady_clock::time_point start_;
  int64_t slow_ms_ = -1;  // -1: no slow check
  size_t header_bytes_ = 0;
  uint64_t connection_ = 0;
  std::string peer_;
  std::string listener_;
  int16_t api_key_ = -1;
  int16_t version_ = 0;
  int32_t correlation_id_ = 0;
  bool every_ = false;     // a debug line for every request
  bool follower_ = false;  // a Fetch from a replica (FetchFollower)
};

}  // namespace keel::server
