#include "net/response_queue.h"

#include "common/assert.h"

namespace keel::net {

uint64_t ResponseQueue::reserve() {
  slots_.emplace_back();
  return head_seq_ + slots_.size() - 1;
}

void ResponseQueue::complete(uint64_t seq, Response response) {
  KEEL_ASSERT(seq >= head_seq_ && seq - head_seq_ < slots_.size(), "completing an unknown slot");
  auto& slot = slots_[seq - head_seq_];
  KEEL_ASSERT(!slot.has_value(), "slot completed twice");
  slot = std::move(response);
}

std::vector<Response> ResponseQueue::take_ready() {
  std::vector<Response> out;
  while (!slots_.empty() && slots_.front().has_value()) {
    out.push_back(std::move(*slots_.front()));
    slots_.pop_front();
    ++head_seq_;
  }
  return out;
}

}  // namespace keel::net
