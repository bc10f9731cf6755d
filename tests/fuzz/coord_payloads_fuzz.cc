// The coordination store's payloads come from ZooKeeper, where any tool (or a
// bug, or a hostile writer) may have put anything: every decoder must give a
// value or an error, never crash. Also: whatever JSON parses must write and
// parse again, to the same text when it holds no double (Boost 1.81's parser
// may read a double's shortest text back one ulp off; Kafka's payloads hold
// integers only).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json.hpp>

#include "common/json_util.h"
#include "coord/kafka_layout.h"

namespace {

bool holds_double(const boost::json::value& v) {
  if (v.is_double()) return true;
  if (const auto* a = v.if_array()) {
    for (const auto& e : *a)
      if (holds_double(e)) return true;
  }
  if (const auto* o = v.if_object()) {
    for (const auto& m : *o)
      if (holds_double(m.value())) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keel;
  const ByteView bytes(data, size);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto v = json::parse(text)) {
    const std::string once = json::write(*v);
    auto again = json::parse(once);
    if (!again) __builtin_trap();
    if (!holds_double(*v) && json::write(*again) != once) __builtin_trap();
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
