#pragma once
// Writing transaction markers to the partitions this broker leads: the body
// of WriteTxnMarkers (server/write_txn_markers.cc), shared by the request
// handler and by the transaction coordinator of this broker, whose marker
// channel (server/txn_marker_channel.h) calls it directly for the partitions
// led here instead of sending itself a WriteTxnMarkers request: on one
// broker every transaction's markers go this way, and the round trip (a
// hand-off to the channel's thread, encoding and decoding the request and
// its answer) cost more than the appends.

#include <cstdint>
#include <functional>

#include "protocol/generated/write_txn_markers_request.h"
#include "protocol/generated/write_txn_markers_response.h"

namespace keel::server {

struct Services;

using MarkersAnswer = std::function<void(protocol::WriteTxnMarkersResponse)>;

// Appends each marker of `req` to each partition it names (one per partition
// and marker), then calls `answer` once with the handler's response: on this
// thread when every marker is replicated already (or failed), else on the
// thread that moves the last high watermark or the purgatory's at the
// deadline. `allowed`: false answers every partition
// CLUSTER_AUTHORIZATION_FAILED without appending.
void write_txn_markers(Services& services, const protocol::WriteTxnMarkersRequest& req, bool allowed,
                       int64_t now_ms, MarkersAnswer answer);

}  // namespace keel::server
