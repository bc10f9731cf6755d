#include "coord/kafka_layout.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include <boost/json.hpp>

#include "common/json_util.h"
#include "coord/errors.h"
#include "protocol/types.h"

namespace keel::coord {

namespace paths {
std::string broker(int32_t id) { return std::string(kBrokerIds) + "/" + std::to_string(id); }
std::string topic(const std::string& t) { return std::string(kBrokerTopics) + "/" + t; }
std::string partitions(const std::string& t) { return topic(t) + "/partitions"; }
std::string partition(const std::string& t, int32_t p) { return partitions(t) + "/" + std::to_string(p); }
std::string partition_state(const std::string& t, int32_t p) { return partition(t, p) + "/state"; }
std::string topic_config(const std::string& t) { return std::string(kConfigTopics) + "/" + t; }
std::string broker_config(const std::string& b) { return std::string(kConfigBrokers) + "/" + b; }
std::string delete_topic(const std::string& t) { return std::string(kDeleteTopics) + "/" + t; }
const std::vector<std::string>& persistent_paths() {
  static const std::vector<std::string> kPaths = {
      "/consumers",      "/brokers/ids",      "/brokers/topics",      "/config/changes",
      "/admin/delete_topics", "/brokers/seqid", "/isr_change_notification", "/latest_producer_id_block",
      "/log_dir_event_notification", "/config/topics", "/config/clients", "/config/users",
      "/config/brokers", "/config/ips"};
  return kPaths;
}

ZkAclKind zk_acl_kind(std::string_view path) {
  if (path == "/consumers") return ZkAclKind::kOpen;
  for (std::string_view root : {"/config/users", "/config/brokers", "/delegation_token/tokens"}) {
    if (path.starts_with(root)) return ZkAclKind::kBrokersOnly;
  }
  return ZkAclKind::kBrokersWriteWorldRead;
}

const std::vector<std::string>& secure_roots() {
  static const std::vector<std::string> kRoots = {
      "/admin", "/brokers", "/cluster", "/config", "/controller", "/controller_epoch",
      "/isr_change_notification", "/latest_producer_id_block", "/log_dir_event_notification",
      "/delegation_token", "/feature", "/kafka-acl", "/kafka-acl-changes", "/kafka-acl-extended",
      "/kafka-acl-extended-changes",
      "/keel"};  // Keel's own nodes (the REST's reassignment-throttle record)
  return kRoots;
}
}  // namespace paths

namespace {


Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string_view text(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

Result<boost::json::value> parse_object(ByteView data) {
  auto v = json::parse(text(data));
  if (!v || !v->is_object()) return CoordErrc::kCorrupt;
  return v;
}

std::optional<int64_t> get_int(const boost::json::value& obj, std::string_view key) {
  const boost::json::value* v = json::find(obj, key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_string()) {  // Kafka writes some numbers as strings
    int64_t out = 0;
    const auto& s = v->as_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size()) return out;
  }
  return std::nullopt;
}

std::optional<std::vector<int32_t>> get_int_list(const boost::json::value& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<int32_t> out;
  for (const auto& e : v.as_array()) {
    if (!e.is_int64()) return std::nullopt;
    out.push_back(static_cast<int32_t>(e.as_int64()));
  }
  return out;
}

boost::json::value int_list(const std::vector<int32_t>& v) {
  boost::json::array a;
  for (int32_t x : v) a.push_back(boost::json::value(x));
  return a;
}

boost::json::value replica_map(const std::map<int32_t, std::vector<int32_t>>& m) {
  boost::json::object o;
  for (const auto& [p, r] : m) o[std::to_string(p)] = int_list(r);
  return o;
}

Result<std::map<int32_t, std::vector<int32_t>>> read_replica_map(const boost::json::value* v) {
  std::map<int32_t, std::vector<int32_t>> out;
  if (!v || v->is_null()) return out;
  if (!v->is_object()) return CoordErrc::kCorrupt;
  for (const auto& [k, list] : v->as_object()) {
    int32_t p = 0;
    auto [ptr, ec] = std::from_chars(k.data(), k.data() + k.size(), p);
    if (ec != std::errc() || ptr != k.data() + k.size() || p < 0) return CoordErrc::kCorrupt;
    auto replicas = get_int_list(list);
    if (!replicas) return CoordErrc::kCorrupt;
    out[p] = std::move(*replicas);
  }
  return out;
}

}  // namespace

// --- broker registration ---------------------------------------------------------

Bytes encode_broker_registration(const BrokerRegistration& b) {
  // Keys in the order the layout doc shows Kafka's (readers, ours and
  // Kafka's, look keys up by name, so the order only matters to people).
  boost::json::object o;
  boost::json::object map;
  boost::json::array endpoints;
  const BrokerEndpoint* plaintext = nullptr;
  for (const auto& ep : b.endpoints) {
    const std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    endpoints.push_back(boost::json::value(ep.listener_name + "://" + host + ":" + std::to_string(ep.port)));
    map[ep.listener_name] = ep.security_protocol.empty() ? ep.listener_name : ep.security_protocol;
    if (!plaintext && (ep.security_protocol == "PLAINTEXT" || (ep.security_protocol.empty() && ep.listener_name == "PLAINTEXT"))) {
      plaintext = &ep;
    }
  }
  o["version"] = 5;
  o["host"] = plaintext ? boost::json::value(plaintext->host) : boost::json::value();
  o["port"] = plaintext ? plaintext->port : -1;
  o["endpoints"] = std::move(endpoints);
  o["listener_security_protocol_map"] = std::move(map);
  o["jmx_port"] = -1;
  o["timestamp"] = std::to_string(b.timestamp_ms);
  if (b.rack) o["rack"] = *b.rack;
  o["features"] = boost::json::object();
  return to_bytes(json::write(o));
}

Result<BrokerRegistration> decode_broker_registration(int32_t id, ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  auto version = get_int(*v, "version");
  if (!version || *version < 1) return CoordErrc::kCorrupt;
  BrokerRegistration b;
  b.id = id;
  b.timestamp_ms = get_int(*v, "timestamp").value_or(0);
  if (const boost::json::value* rack = json::find(*v, "rack"); rack && rack->is_string()) b.rack = rack->as_string();
  const boost::json::value* map = json::find(*v, "listener_security_protocol_map");
  const boost::json::value* endpoints = json::find(*v, "endpoints");
  if (!endpoints || !endpoints->is_array()) return CoordErrc::kCorrupt;
  for (const auto& e : endpoints->as_array()) {
    if (!e.is_string()) return CoordErrc::kCorrupt;
    const std::string s(e.get_string());
    const size_t sep = s.find("://");
    const size_t colon = s.rfind(':');
    if (sep == std::string::npos || colon == std::string::npos || colon <= sep + 2) return CoordErrc::kCorrupt;
    BrokerEndpoint ep;
    ep.listener_name = s.substr(0, sep);
    ep.host = s.substr(sep + 3, colon - sep - 3);
    if (ep.host.size() >= 2 && ep.host.front() == '[' && ep.host.back() == ']') ep.host = ep.host.substr(1, ep.host.size() - 2);
    auto [p, ec] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), ep.port);
    if (ec != std::errc() || p != s.data() + s.size()) return CoordErrc::kCorrupt;
    ep.security_protocol = ep.listener_name;
    if (map) {
      if (const boost::json::value* proto = json::find(*map, ep.listener_name); proto && proto->is_string()) {
        ep.security_protocol = proto->as_string();
      }
    }
    b.endpoints.push_back(std::move(ep));
  }
  return b;
}

// --- controller ----------------------------------------------------------------------

Bytes encode_controller(const ControllerInfo& c) {
  boost::json::object o;
  o["version"] = 2;
  o["brokerid"] = c.broker_id;
  o["timestamp"] = std::to_string(c.timestamp_ms);
  o["kraftControllerEpoch"] = -1;
  return to_bytes(json::write(o));
}

Result<ControllerInfo> decode_controller(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  auto id = get_int(*v, "brokerid");
  if (!id) return CoordErrc::kCorrupt;
  ControllerInfo c;
  c.broker_id = static_cast<int32_t>(*id);
  c.timestamp_ms = get_int(*v, "timestamp").value_or(0);
  return c;
}

Bytes encode_controller_epoch(int32_t epoch) { return to_bytes(std::to_string(epoch)); }

Result<int32_t> decode_controller_epoch(ByteView data) {
  std::string_view s = text(data);
  int32_t out = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return CoordErrc::kCorrupt;
  return out;
}

Bytes encode_cluster_id(const std::string& id) {
  boost::json::object o;
  o["version"] = "1";
  o["id"] = id;
  return to_bytes(json::write(o));
}

Result<std::string> decode_cluster_id(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  const boost::json::value* id = json::find(*v, "id");
  if (!id || !id->is_string()) return CoordErrc::kCorrupt;
  return std::string(id->get_string());
}

// --- topics -------------------------------------------------------------------------------

Bytes encode_topic_assignment(const TopicAssignment& a) {
  boost::json::object o;
  o["version"] = 3;
  if (!a.topic_id.empty()) o["topic_id"] = a.topic_id;
  o["partitions"] = replica_map(a.partitions);
  o["adding_replicas"] = replica_map(a.adding_replicas);
  o["removing_replicas"] = replica_map(a.removing_replicas);
  return to_bytes(json::write(o));
}

Result<TopicAssignment> decode_topic_assignment(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  TopicAssignment a;
  if (const boost::json::value* id = json::find(*v, "topic_id"); id && id->is_string()) a.topic_id = id->as_string();
  const boost::json::value* parts = json::find(*v, "partitions");
  if (!parts) return CoordErrc::kCorrupt;
  auto p = read_replica_map(parts);
  if (!p) return p.error();
  a.partitions = std::move(*p);
  auto adding = read_replica_map(json::find(*v, "adding_replicas"));
  if (!adding) return adding.error();
  a.adding_replicas = std::move(*adding);
  auto removing = read_replica_map(json::find(*v, "removing_replicas"));
  if (!removing) return removing.error();
  a.removing_replicas = std::move(*removing);
  return a;
}

Bytes encode_partition_state(const PartitionState& s) {
  boost::json::object o;
  o["version"] = 1;
  o["leader"] = s.leader;
  o["leader_epoch"] = s.leader_epoch;
  o["controller_epoch"] = s.controller_epoch;
  o["isr"] = int_list(s.isr);
  if (s.recovering) o["leader_recovery_state"] = 1;
  return to_bytes(json::write(o));
}

Result<PartitionState> decode_partition_state(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  PartitionState s;
  auto leader = get_int(*v, "leader");
  auto epoch = get_int(*v, "leader_epoch");
  const boost::json::value* isr = json::find(*v, "isr");
  if (!leader || !epoch || !isr) return CoordErrc::kCorrupt;
  auto list = get_int_list(*isr);
  if (!list) return CoordErrc::kCorrupt;
  s.leader = static_cast<int32_t>(*leader);
  s.leader_epoch = static_cast<int32_t>(*epoch);
  s.controller_epoch = static_cast<int32_t>(get_int(*v, "controller_epoch").value_or(0));
  s.isr = std::move(*list);
  s.recovering = get_int(*v, "leader_recovery_state").value_or(0) == 1;
  return s;
}

// --- configs ---------------------------------------------------------------------------------

Bytes encode_entity_config(const std::map<std::string, std::string>& config) {
  boost::json::object c;
  for (const auto& [k, v] : config) c[k] = v;
  boost::json::object o;
  o["version"] = 1;
  o["config"] = std::move(c);
  return to_bytes(json::write(o));
}

Result<std::map<std::string, std::string>> decode_entity_config(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  const boost::json::value* c = json::find(*v, "config");
  std::map<std::string, std::string> out;
  if (!c || c->is_null()) return out;
  if (!c->is_object()) return CoordErrc::kCorrupt;
  for (const auto& [k, val] : c->as_object()) {
    if (!val.is_string()) return CoordErrc::kCorrupt;
    out[k] = val.as_string();
  }
  return out;
}

Bytes encode_config_change(const std::string& entity_path) {
  boost::json::object o;
  o["version"] = 2;
  o["entity_path"] = entity_path;
  return to_bytes(json::write(o));
}

Result<std::string> decode_config_change(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  auto version = get_int(*v, "version");
  if (version == 1) {
    const boost::json::value* type = json::find(*v, "entity_type");
    const boost::json::value* name = json::find(*v, "entity_name");
    if (!type || !name || !type->is_string() || !name->is_string()) return CoordErrc::kCorrupt;
    return std::string(type->get_string()) + "/" + std::string(name->get_string());
  }
  const boost::json::value* path = json::find(*v, "entity_path");
  if (!path || !path->is_string()) return CoordErrc::kCorrupt;
  return std::string(path->get_string());
}

Bytes encode_log_dir_event(int32_t broker) {
  boost::json::object o;
  o["version"] = 1;
  o["broker"] = broker;
  o["event"] = 1;
  return to_bytes(json::write(o));
}

Result<int32_t> decode_log_dir_event(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  auto broker = get_int(*v, "broker");
  if (!broker || *broker < 0 || *broker > std::numeric_limits<int32_t>::max()) return CoordErrc::kCorrupt;
  return static_cast<int32_t>(*broker);
}

Bytes encode_producer_id_block(const ProducerIdBlock& b) {
  boost::json::object o;
  o["version"] = 1;
  o["broker"] = b.broker;
  o["block_start"] = std::to_string(b.start);
  o["block_end"] = std::to_string(b.end);
  return to_bytes(json::write(o));
}

Result<ProducerIdBlock> decode_producer_id_block(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  auto broker = get_int(*v, "broker");
  auto start = get_int(*v, "block_start");
  auto end = get_int(*v, "block_end");
  if (!broker || !start || !end) return CoordErrc::kCorrupt;
  return ProducerIdBlock{static_cast<int32_t>(*broker), *start, *end};
}

// --- /admin/reassign_partitions ---------------------------------------------------------

Bytes encode_partition_reassignments(const std::vector<PartitionReassignment>& entries) {
  boost::json::array list;
  for (const auto& e : entries) {
    boost::json::object o;
    o["topic"] = e.topic;
    o["partition"] = e.partition;
    o["replicas"] = int_list(e.replicas);
    list.push_back(std::move(o));
  }
  boost::json::object o;
  o["version"] = 1;
  o["partitions"] = std::move(list);
  return to_bytes(json::write(o));
}

Result<std::vector<PartitionReassignment>> decode_partition_reassignments(ByteView data) {
  auto v = parse_object(data);
  if (!v) return v.error();
  const boost::json::value* parts = json::find(*v, "partitions");
  if (!parts || !parts->is_array()) return CoordErrc::kCorrupt;
  std::vector<PartitionReassignment> out;
  for (const auto& e : parts->as_array()) {
    if (!e.is_object()) return CoordErrc::kCorrupt;
    const boost::json::value* topic = json::find(e, "topic");
    auto partition = get_int(e, "partition");
    const boost::json::value* replicas = json::find(e, "replicas");
    if (!topic || !topic->is_string() || !partition || !replicas) return CoordErrc::kCorrupt;
    auto list = get_int_list(*replicas);
    if (!list) return CoordErrc::kCorrupt;
    PartitionReassignment r{std::string(topic->get_string()), static_cast<int32_t>(*partition), std::move(*list)};
    auto same = std::find_if(out.begin(), out.end(), [&](const PartitionReassignment& x) {
      return x.topic == r.topic && x.partition == r.partition;
    });
    if (same != out.end()) {
      *same = std::move(r);
    } else {
      out.push_back(std::move(r));
    }
  }
  return out;
}

// --- uuid -----------------------------------------------------------------------------------

// One implementation of Kafka's Uuid text form: protocol::Uuid's.
std::string uuid_to_base64(const std::array<uint8_t, 16>& bytes) {
  protocol::Uuid u;
  u.bytes = bytes;
  return u.to_string();
}

std::optional<std::array<uint8_t, 16>> uuid_from_base64(std::string_view s) {
  auto u = protocol::Uuid::from_string(s);
  if (!u) return std::nullopt;
  return u->bytes;
}

}  // namespace keel::coord
