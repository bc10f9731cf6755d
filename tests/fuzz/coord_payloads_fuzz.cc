// The coordination store's payloads come from ZooKeeper, where any tool (or a
// bug, or a hostile writer) may have put anything: every decoder must give a
// value or an error, never crash. Also: whatever JSON parses must write and
// parse again to the same text.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json.hpp>

#include "common/json_util.h"
#include "coord/kafka_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keel;
  const ByteView bytes(data, size);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto v = json::parse(text)) {
    const std::string once = json::write(*v);
    auto again = json::parse(once);
    if (!again || json::write(*again) != once) __builtin_trap();
  }
  (void)coord::decode_broker_registration(1, bytes);
  (void)coord::decode_controller(bytes);
  (void)coord::decode_controller_epoch(bytes);
  (void)coord::decode_cluster_id(bytes);
  (void)coord::decode_topic_assignment(bytes);
  (void)coord::decode_partition_state(bytes);
  (void)coord::decode_entity_config(bytes);
  (void)coord::decode_config_change(bytes);
  (void)coord::decode_producer_id_block(bytes);
  (void)coord::uuid_from_base64(text);
  return 0;
}
