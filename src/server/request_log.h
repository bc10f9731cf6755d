#pragma once
// The request log (logger "request"), Kafka's kafka.request.logger in spirit:
//   - every request, at debug, when `logging.request.level` is debug or
//     trace (off by default: one line per request is far too many for a
//     busy broker, and unlike the rest of the debug output an operator asks
//     for it on purpose);
//   - a request that took longer than `logging.request.slow.ms` (-1 = never),
//     at warn. A Fetch's own max_wait_ms is added to the threshold (a long
//     poll is not slow), and JoinGroup/SyncGroup are left out: they wait for
//     the rest of the group by design.
// Time is measured from when the router starts the request to when its
// response is handed to the connection (the handler's time plus any wait in
// the purgatory), not the time queued before a handler thread took it.

#include <functional>

#include "common/bytes.h"
#include "config/config.h"
#include "net/server.h"
#include "protocol/generated/request_header.h"

namespace keel::server {

// `done` itself when nothing would be logged (the common case: a level
// check and no allocation); else `done` wrapped to log the request once it
// completes. `body` is the request after its header.
std::function<void(net::Response)> with_request_log(const config::BrokerConfig& config,
                                                    const net::ConnectionInfo& conn,
                                                    const protocol::RequestHeader& header, ByteView body,
                                                    std::function<void(net::Response)> done);

}  // namespace keel::server
