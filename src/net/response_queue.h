#pragma once
// Responses on one connection leave in request order, whatever order their
// handlers finish in. Each request takes a sequence number when it is read;
// its response (or "no response", for acks=0 produce) completes that number;
// only the run of completed numbers at the head of the queue may be sent.
//
// Not thread-safe: owned by one connection and used from its executor only.

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "common/bytes.h"

namespace keel::net {

// What a handler gives back for one request. A response is a list of chunks
// written back to back (later: file ranges sent with sendfile).
struct Response {
  std::vector<Bytes> chunks;  // empty: nothing is sent for this request
  bool close_after = false;   // close the connection once this is sent
};

class ResponseQueue {
 public:
  // Reserves the next slot; returns its sequence number.
  uint64_t reserve();
  // Fills a reserved slot. Completing twice or an unknown slot is a bug.
  void complete(uint64_t seq, Response response);
  // Removes and returns the completed responses at the head, in order.
  std::vector<Response> take_ready();
  // Requests read but not yet taken.
  size_t in_flight() const { return slots_.size(); }

 private:
  uint64_t head_seq_ = 0;  // sequence number of slots_.front()
  std::deque<std::optional<Response>> slots_;
};

}  // namespace keel::net
