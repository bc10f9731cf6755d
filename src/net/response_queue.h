#pragma once
// Responses on one connection leave in request order, whatever order their
// handlers finish in. Each request takes a sequence number when it is read;
// its response (or "no response", for acks=0 produce) completes that number;
// only the run of completed numbers at the head of the queue may be sent.
//
// Not thread-safe: owned by one connection and used from its executor only.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "common/bytes.h"

namespace keel::net {

// A range of an open file sent with sendfile(2): record bytes go from the
// page cache to the socket without a copy through user space. `owner` keeps
// the descriptor open until the range is sent, even if the segment it belongs
// to is deleted meanwhile.
struct FileChunk {
  std::shared_ptr<const void> owner;
  int fd = -1;
  int64_t offset = 0;
  int64_t length = 0;
};

// What a handler gives back for one request. On the wire: chunks[0],
// files[0], chunks[1], files[1], ... then the remaining chunks; so a Fetch
// response is its encoded parts with the record ranges between them.
// Requires files.size() <= chunks.size().
struct Response {
  std::vector<Bytes> chunks;  // empty (and no files): nothing is sent for this request
  std::vector<FileChunk> files;
  bool close_after = false;   // close the connection once this is sent
  // Wait this long before sending (and closing, with close_after): Kafka delays
  // its answer to a failed authentication (connection.failed.authentication.delay.ms)
  // so that guessing passwords is slow. Later responses wait behind it.
  int64_t delay_ms = 0;
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
