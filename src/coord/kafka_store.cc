#include "coord/kafka_store.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace keel::coord {

namespace {

class KafkaStoreCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "kafka_store"; }
  std::string message(int c) const override {
    switch (static_cast<KafkaStoreErrc>(c)) {
      case KafkaStoreErrc::kTopicExists: return "topic already exists";
      case KafkaStoreErrc::kNoTopic: return "topic does not exist";
      case KafkaStoreErrc::kControllerMoved: return "controller moved (stale controller epoch)";
      case KafkaStoreErrc::kBrokerRegistered: return "broker id is registered by another live session";
      case KafkaStoreErrc::kClusterIdMismatch: return "cluster id mismatch";
    }
    return "unknown kafka store error";
  }
};

ByteView view(const Bytes& b) { return ByteView(b); }

bool is(const std::error_code& ec, CoordErrc e) { return ec == make_error_code(e); }

std::string config_path(const std::string& type, const std::string& name) { return "/config/" + type + "/" + name; }

// Sequence number at the end of a sequential node's name.
std::optional<int64_t> sequence_of(const std::string& name) {
  if (name.size() < 10) return std::nullopt;
  int64_t seq = 0;
  const char* b = name.data() + name.size() - 10;
  auto [p, ec] = std::from_chars(b, name.data() + name.size(), seq);
  if (ec != std::errc() || p != name.data() + name.size()) return std::nullopt;
  return seq;
}

}  // namespace

const std::error_category& kafka_store_category() {
  static KafkaStoreCategory c;
  return c;
}

Result<void> KafkaStore::ensure_paths() {
  for (const auto& p : paths::persistent_paths()) {
    if (auto r = create_recursive(store_, p); !r) return r;
  }
  return {};
}

Result<std::string> KafkaStore::get_or_create_cluster_id(const std::string& proposed) {
  if (auto r = create_recursive(store_, "/cluster"); !r) return r.error();
  auto created = store_.create(paths::kClusterId, view(encode_cluster_id(proposed)), CreateMode::kPersistent);
  if (created) return proposed;
  if (!is(created.error(), CoordErrc::kNodeExists)) return created.error();
  auto node = store_.get(paths::kClusterId);
  if (!node) return node.error();
  return decode_cluster_id(ByteView(node->data));
}

// --- brokers -----------------------------------------------------------------------------

Result<int64_t> KafkaStore::register_broker(const BrokerRegistration& b) {
  const std::string path = paths::broker(b.id);
  auto existing = store_.exists(path);
  if (!existing) return existing.error();
  if (*existing) {
    if ((*existing)->ephemeral_owner != store_.session_id()) return KafkaStoreErrc::kBrokerRegistered;
    if (auto r = store_.remove(path); !r && !is(r.error(), CoordErrc::kNoNode)) return r.error();
  }
  const Op ops[] = {Op::create(path, {}, CreateMode::kEphemeral), Op::set(path, encode_broker_registration(b), 0)};
  auto r = store_.multi(ops);
  if (!r) {
    if (is(r.error(), CoordErrc::kNodeExists)) return KafkaStoreErrc::kBrokerRegistered;
    return r.error();
  }
  auto stat = store_.exists(path);
  if (!stat) return stat.error();
  if (!*stat) return CoordErrc::kNoNode;
  return (*stat)->czxid;
}

Result<std::vector<int32_t>> KafkaStore::broker_ids(Watch watch) {
  auto names = store_.children(paths::kBrokerIds, std::move(watch));
  if (!names) return names.error();
  std::vector<int32_t> ids;
  for (const auto& n : *names) {
    int32_t id = 0;
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), id);
    if (ec == std::errc() && p == n.data() + n.size()) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<std::optional<BrokerRegistration>> KafkaStore::broker(int32_t id, Watch watch) {
  auto node = store_.get(paths::broker(id), std::move(watch));
  if (!node) {
    if (is(node.error(), CoordErrc::kNoNode)) return std::optional<BrokerRegistration>{};
    return node.error();
  }
  auto b = decode_broker_registration(id, ByteView(node->data));
  if (!b) return b.error();
  b->epoch = node->stat.czxid;
  return std::optional<BrokerRegistration>(std::move(*b));
}

// --- controller -------------------------------------------------------------------------------

Result<ElectionResult> KafkaStore::try_elect_controller(int32_t broker_id, int64_t now_ms) {
  ElectionResult result;
  auto current = controller_id();
  if (!current) return current.error();
  if (*current >= 0) {
    result.controller_id = *current;
    return result;
  }
  auto epoch_node = store_.get(paths::kControllerEpoch);
  if (!epoch_node && is(epoch_node.error(), CoordErrc::kNoNode)) {
    auto c = store_.create(paths::kControllerEpoch, view(encode_controller_epoch(0)), CreateMode::kPersistent);
    if (!c && !is(c.error(), CoordErrc::kNodeExists)) return c.error();
    epoch_node = store_.get(paths::kControllerEpoch);
  }
  if (!epoch_node) return epoch_node.error();
  auto epoch = decode_controller_epoch(ByteView(epoch_node->data));
  if (!epoch) return epoch.error();
  const Op ops[] = {
      Op::create(paths::kController, encode_controller({broker_id, now_ms}), CreateMode::kEphemeral),
      Op::set(paths::kControllerEpoch, encode_controller_epoch(*epoch + 1), epoch_node->stat.version)};
  auto r = store_.multi(ops);
  if (!r) {
    if (!is(r.error(), CoordErrc::kNodeExists) && !is(r.error(), CoordErrc::kBadVersion)) return r.error();
    auto now = controller_id();
    if (!now) return now.error();
    result.controller_id = *now;
    return result;
  }
  result.won = true;
  result.controller_id = broker_id;
  result.fence.controller_epoch = *epoch + 1;
  result.fence.epoch_zk_version = (*r)[1].stat.version;
  return result;
}

Result<int32_t> KafkaStore::controller_id(Watch watch) {
  auto stat = store_.exists(paths::kController, watch);
  if (!stat) return stat.error();
  if (!*stat) return -1;
  auto node = store_.get(paths::kController);
  if (!node) {
    if (is(node.error(), CoordErrc::kNoNode)) return -1;
    return node.error();
  }
  auto c = decode_controller(ByteView(node->data));
  if (!c) return c.error();
  return c->broker_id;
}

Result<void> KafkaStore::resign_controller(int32_t broker_id) {
  auto node = store_.get(paths::kController);
  if (!node) return is(node.error(), CoordErrc::kNoNode) ? Result<void>{} : Result<void>(node.error());
  auto c = decode_controller(ByteView(node->data));
  if (!c || c->broker_id != broker_id || node->stat.ephemeral_owner != store_.session_id()) return {};
  auto r = store_.remove(paths::kController, node->stat.version);
  if (!r && !is(r.error(), CoordErrc::kNoNode) && !is(r.error(), CoordErrc::kBadVersion)) return r;
  return {};
}

// --- topics ---------------------------------------------------------------------------------------

Result<std::vector<std::string>> KafkaStore::topics(Watch watch) {
  return store_.children(paths::kBrokerTopics, std::move(watch));
}

Result<std::optional<TopicAssignment>> KafkaStore::topic_assignment(const std::string& topic, Watch watch) {
  auto node = store_.get(paths::topic(topic), watch);
  if (!node) {
    if (is(node.error(), CoordErrc::kNoNode)) {
      // Watch for its creation instead, so the caller hears when it appears.
      if (watch) (void)store_.exists(paths::topic(topic), watch);
      return std::optional<TopicAssignment>{};
    }
    return node.error();
  }
  auto a = decode_topic_assignment(ByteView(node->data));
  if (!a) return a.error();
  return std::optional<TopicAssignment>(std::move(*a));
}

Result<void> KafkaStore::create_topic(const std::string& topic, const TopicAssignment& assignment,
                                      const std::map<std::string, std::string>& config) {
  auto exists = store_.exists(paths::topic(topic));
  if (!exists) return exists.error();
  if (*exists) return KafkaStoreErrc::kTopicExists;
  // Config first, then the assignment (whose appearance the controller acts
  // on), as AdminZkClient does. A stale config of a deleted topic is replaced.
  const std::string cpath = paths::topic_config(topic);
  auto set = store_.set(cpath, view(encode_entity_config(config)));
  if (!set) {
    if (!is(set.error(), CoordErrc::kNoNode)) return set.error();
    auto c = store_.create(cpath, view(encode_entity_config(config)), CreateMode::kPersistent);
    if (!c && !is(c.error(), CoordErrc::kNodeExists)) return c.error();
  }
  auto r = store_.create(paths::topic(topic), view(encode_topic_assignment(assignment)), CreateMode::kPersistent);
  if (!r) {
    if (is(r.error(), CoordErrc::kNodeExists)) return KafkaStoreErrc::kTopicExists;
    return r.error();
  }
  return {};
}

Result<void> KafkaStore::set_topic_assignment(const std::string& topic, const TopicAssignment& assignment,
                                              int32_t expected_version) {
  auto r = store_.set(paths::topic(topic), view(encode_topic_assignment(assignment)), expected_version);
  if (!r) {
    if (is(r.error(), CoordErrc::kNoNode)) return KafkaStoreErrc::kNoTopic;
    return r.error();
  }
  return {};
}

Result<void> KafkaStore::mark_topic_for_deletion(const std::string& topic) {
  auto r = store_.create(paths::delete_topic(topic), {}, CreateMode::kPersistent);
  if (!r && !is(r.error(), CoordErrc::kNodeExists)) return r.error();
  return {};
}

Result<std::vector<std::string>> KafkaStore::topics_marked_for_deletion(Watch watch) {
  return store_.children(paths::kDeleteTopics, std::move(watch));
}

// A fenced multi failed with kBadVersion: was it the fence or the op?
static std::error_code fence_or(CoordinationStore& store, const Fence& fence, std::error_code ec) {
  if (!is(ec, CoordErrc::kBadVersion)) return ec;
  auto stat = store.exists(paths::kControllerEpoch);
  if (stat && *stat && (*stat)->version != fence.epoch_zk_version) return KafkaStoreErrc::kControllerMoved;
  return ec;
}

Result<void> KafkaStore::delete_topic(const std::string& topic, const Fence& fence) {
  std::vector<Op> ops;
  ops.push_back(Op::check(paths::kControllerEpoch, fence.epoch_zk_version));
  auto parts = store_.children(paths::partitions(topic));
  if (parts) {
    for (const auto& p : *parts) {
      const std::string ppath = paths::partitions(topic) + "/" + p;
      auto kids = store_.children(ppath);
      if (kids) {
        for (const auto& k : *kids) ops.push_back(Op::remove(ppath + "/" + k));
      }
      ops.push_back(Op::remove(ppath));
    }
    ops.push_back(Op::remove(paths::partitions(topic)));
  } else if (!is(parts.error(), CoordErrc::kNoNode)) {
    return parts.error();
  }
  auto topic_exists = store_.exists(paths::topic(topic));
  if (!topic_exists) return topic_exists.error();
  if (*topic_exists) ops.push_back(Op::remove(paths::topic(topic)));
  auto cfg = store_.exists(paths::topic_config(topic));
  if (cfg && *cfg) ops.push_back(Op::remove(paths::topic_config(topic)));
  auto marker = store_.exists(paths::delete_topic(topic));
  if (marker && *marker) ops.push_back(Op::remove(paths::delete_topic(topic)));
  auto r = store_.multi(ops);
  if (!r) return fence_or(store_, fence, r.error());
  return {};
}

// --- partition state ------------------------------------------------------------------------------

namespace {

// A partition state node as read: absent is nullopt, not an error.
Result<std::optional<PartitionStateNode>> partition_state_of(const Result<Node>& node) {
  if (!node) {
    if (is(node.error(), CoordErrc::kNoNode)) return std::optional<PartitionStateNode>{};
    return node.error();
  }
  auto s = decode_partition_state(ByteView(node->data));
  if (!s) return s.error();
  return std::optional<PartitionStateNode>(PartitionStateNode{std::move(*s), node->stat.version});
}

}  // namespace

Result<std::optional<PartitionStateNode>> KafkaStore::partition_state(const std::string& topic, int32_t partition,
                                                                      Watch watch) {
  return partition_state_of(store_.get(paths::partition_state(topic, partition), std::move(watch)));
}

std::vector<Result<std::optional<PartitionStateNode>>> KafkaStore::partition_states(
    const std::string& topic, std::span<const int32_t> partitions) {
  std::vector<std::string> state_paths;
  state_paths.reserve(partitions.size());
  for (int32_t p : partitions) state_paths.push_back(paths::partition_state(topic, p));
  const std::vector<Result<Node>> nodes = store_.get_many(state_paths);
  std::vector<Result<std::optional<PartitionStateNode>>> out;
  out.reserve(nodes.size());
  for (const auto& node : nodes) out.push_back(partition_state_of(node));
  return out;
}

Result<int32_t> KafkaStore::create_partition_state(const std::string& topic, int32_t partition,
                                                   const PartitionState& state, const Fence& fence) {
  std::vector<Op> ops;
  ops.push_back(Op::check(paths::kControllerEpoch, fence.epoch_zk_version));
  auto containers = store_.exists(paths::partitions(topic));
  if (!containers) return containers.error();
  if (!*containers) ops.push_back(Op::create(paths::partitions(topic), {}));
  auto container = store_.exists(paths::partition(topic, partition));
  if (!container) return container.error();
  if (!*container) ops.push_back(Op::create(paths::partition(topic, partition), {}));
  ops.push_back(Op::create(paths::partition_state(topic, partition), encode_partition_state(state)));
  auto r = store_.multi(ops);
  if (!r) return fence_or(store_, fence, r.error());
  return 0;
}

Result<int32_t> KafkaStore::update_partition_state(const std::string& topic, int32_t partition,
                                                   const PartitionState& state, int32_t expected_zk_version,
                                                   const Fence& fence) {
  const Op ops[] = {Op::check(paths::kControllerEpoch, fence.epoch_zk_version),
                    Op::set(paths::partition_state(topic, partition), encode_partition_state(state),
                            expected_zk_version)};
  auto r = store_.multi(ops);
  if (!r) return fence_or(store_, fence, r.error());
  return (*r)[1].stat.version;
}

Result<std::vector<int32_t>> KafkaStore::update_partition_states(const std::vector<StateUpdate>& updates,
                                                                 const Fence& fence) {
  std::vector<Op> ops;
  ops.reserve(updates.size() + 1);
  ops.push_back(Op::check(paths::kControllerEpoch, fence.epoch_zk_version));
  for (const auto& u : updates) {
    ops.push_back(Op::set(paths::partition_state(u.topic, u.partition), encode_partition_state(u.state),
                          u.expected_zk_version));
  }
  auto r = store_.multi(ops);
  if (!r) return fence_or(store_, fence, r.error());
  std::vector<int32_t> versions;
  versions.reserve(updates.size());
  for (size_t k = 1; k < r->size(); ++k) versions.push_back((*r)[k].stat.version);
  return versions;
}

// --- configs -------------------------------------------------------------------------------------------

namespace {

// One /config/<type>/<name> read, as entity_config and entity_configs answer it.
Result<std::map<std::string, std::string>> entity_config_of(const Result<Node>& node) {
  if (!node) {
    if (is(node.error(), CoordErrc::kNoNode)) return std::map<std::string, std::string>{};
    return node.error();
  }
  // A parent made on the way to /config/users/<u>/clients/<c> holds no data:
  // no config, as Kafka reads it.
  if (node->data.empty()) return std::map<std::string, std::string>{};
  return decode_entity_config(ByteView(node->data));
}

}  // namespace

Result<std::map<std::string, std::string>> KafkaStore::entity_config(const std::string& type, const std::string& name) {
  return entity_config_of(store_.get(config_path(type, name)));
}

std::vector<Result<std::map<std::string, std::string>>> KafkaStore::entity_configs(
    const std::string& type, std::span<const std::string> names) {
  std::vector<std::string> config_paths;
  config_paths.reserve(names.size());
  for (const auto& name : names) config_paths.push_back(config_path(type, name));
  const std::vector<Result<Node>> nodes = store_.get_many(config_paths);
  std::vector<Result<std::map<std::string, std::string>>> out;
  out.reserve(nodes.size());
  for (const auto& node : nodes) out.push_back(entity_config_of(node));
  return out;
}

Result<std::vector<std::string>> KafkaStore::entity_names(const std::string& type) {
  auto names = store_.children("/config/" + type);
  if (!names) {
    if (is(names.error(), CoordErrc::kNoNode)) return std::vector<std::string>{};
    return names.error();
  }
  return std::move(*names);
}

Result<int64_t> KafkaStore::set_entity_config(const std::string& type, const std::string& name,
                                           const std::map<std::string, std::string>& config) {
  const std::string path = config_path(type, name);
  const Bytes data = encode_entity_config(config);
  auto set = store_.set(path, view(data));
  if (!set) {
    if (!is(set.error(), CoordErrc::kNoNode)) return set.error();
    // A (user, client id) entity's parents (/config/users/<u>/clients) may be missing too.
    if (auto r = create_recursive(store_, path.substr(0, path.rfind('/'))); !r) return r.error();
    auto c = store_.create(path, view(data), CreateMode::kPersistent);
    if (!c) return c.error();
  }
  auto n = store_.create(std::string(paths::kConfigChanges) + "/config_change_",
                         view(encode_config_change(type + "/" + name)), CreateMode::kPersistentSequential);
  if (!n) return n.error();
  const auto seq = sequence_of(n->substr(n->rfind('/') + 1));
  return seq ? *seq : int64_t{-1};
}

// --- log dir failures ------------------------------------------------------------------------

Result<void> KafkaStore::create_log_dir_event(int32_t broker_id) {
  auto n = store_.create(std::string(paths::kLogDirEventNotification) + "/log_dir_event_",
                         view(encode_log_dir_event(broker_id)), CreateMode::kPersistentSequential);
  if (!n) return n.error();
  return {};
}

Result<std::vector<KafkaStore::LogDirEvent>> KafkaStore::log_dir_events(Watch watch) {
  auto names = store_.children(paths::kLogDirEventNotification, std::move(watch));
  if (!names) return names.error();
  std::vector<LogDirEvent> out;
  for (const auto& n : *names) {
    auto node = store_.get(std::string(paths::kLogDirEventNotification) + "/" + n);
    if (!node) {
      if (is(node.error(), CoordErrc::kNoNode)) continue;
      return node.error();
    }
    auto broker = decode_log_dir_event(ByteView(node->data));
    out.push_back({n, broker ? std::optional<int32_t>(*broker) : std::nullopt});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.node < b.node; });
  return out;
}

Result<void> KafkaStore::delete_log_dir_events(const std::vector<std::string>& nodes, const Fence& fence) {
  for (const auto& n : nodes) {
    // One at a time: a node already deleted (by an earlier controller) must
    // not fail the others, as it would fail a multi.
    std::vector<Op> ops{Op::check(paths::kControllerEpoch, fence.epoch_zk_version),
                        Op::remove(std::string(paths::kLogDirEventNotification) + "/" + n)};
    auto r = store_.multi(ops);
    if (!r && !is(r.error(), CoordErrc::kNoNode)) return fence_or(store_, fence, r.error());
  }
  return {};
}

Result<std::vector<std::pair<int64_t, std::string>>> KafkaStore::config_changes_after(int64_t after_seq, Watch watch) {
  auto names = store_.children(paths::kConfigChanges, std::move(watch));
  if (!names) return names.error();
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& n : *names) {
    auto seq = sequence_of(n);
    if (!seq || *seq <= after_seq) continue;
    auto node = store_.get(std::string(paths::kConfigChanges) + "/" + n);
    if (!node) {
      if (is(node.error(), CoordErrc::kNoNode)) continue;  // purged meanwhile
      return node.error();
    }
    // A notification we cannot read is skipped, as Kafka's listener logs and
    // skips it: one bad node must not stop every later config change.
    auto path = decode_config_change(ByteView(node->data));
    if (!path) continue;
    out.emplace_back(*seq, std::move(*path));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<void> KafkaStore::purge_config_changes(int64_t now_ms, int64_t max_age_ms) {
  auto names = store_.children(paths::kConfigChanges);
  if (!names) return names.error();
  for (const auto& n : *names) {
    const std::string path = std::string(paths::kConfigChanges) + "/" + n;
    auto stat = store_.exists(path);
    if (!stat) return stat.error();
    if (!*stat || now_ms - (*stat)->ctime_ms <= max_age_ms) continue;
    // Another broker purging the same node at once is fine.
    if (auto r = store_.remove(path); !r && !is(r.error(), CoordErrc::kNoNode)) return r;
  }
  return {};
}

// --- reassignment ------------------------------------------------------------------------------------

Result<void> KafkaStore::update_topic_assignment(const std::string& topic, const TopicAssignment& assignment,
                                                 const Fence& fence) {
  const Op ops[] = {Op::check(paths::kControllerEpoch, fence.epoch_zk_version),
                    Op::set(paths::topic(topic), encode_topic_assignment(assignment))};
  auto r = store_.multi(ops);
  if (!r) {
    if (is(r.error(), CoordErrc::kNoNode)) return KafkaStoreErrc::kNoTopic;
    return fence_or(store_, fence, r.error());
  }
  return {};
}

Result<std::optional<std::vector<PartitionReassignment>>> KafkaStore::partition_reassignments(Watch watch) {
  using Entries = std::optional<std::vector<PartitionReassignment>>;
  auto stat = store_.exists(paths::kReassignPartitions, std::move(watch));
  if (!stat) return stat.error();
  if (!*stat) return Entries{};
  auto node = store_.get(paths::kReassignPartitions);
  if (!node) {
    if (is(node.error(), CoordErrc::kNoNode)) return Entries{};
    return node.error();
  }
  auto entries = decode_partition_reassignments(ByteView(node->data));
  if (!entries) return entries.error();
  return Entries(std::move(*entries));
}

Result<void> KafkaStore::create_partition_reassignments(const std::vector<PartitionReassignment>& entries) {
  if (auto r = create_recursive(store_, "/admin"); !r) return r;
  auto c = store_.create(paths::kReassignPartitions, view(encode_partition_reassignments(entries)),
                         CreateMode::kPersistent);
  if (!c) return c.error();
  return {};
}

Result<void> KafkaStore::set_partition_reassignments(const std::vector<PartitionReassignment>& entries,
                                                     const Fence& fence) {
  const Op check = Op::check(paths::kControllerEpoch, fence.epoch_zk_version);
  if (entries.empty()) {
    const Op ops[] = {check, Op::remove(paths::kReassignPartitions)};
    auto r = store_.multi(ops);
    if (!r && !is(r.error(), CoordErrc::kNoNode)) return fence_or(store_, fence, r.error());
    return {};
  }
  const Bytes data = encode_partition_reassignments(entries);
  const Op set_ops[] = {check, Op::set(paths::kReassignPartitions, data)};
  auto r = store_.multi(set_ops);
  if (r) return {};
  if (!is(r.error(), CoordErrc::kNoNode)) return fence_or(store_, fence, r.error());
  const Op create_ops[] = {check, Op::create(paths::kReassignPartitions, data)};
  auto c = store_.multi(create_ops);
  if (!c) return fence_or(store_, fence, c.error());
  return {};
}

// --- producer ids --------------------------------------------------------------------------------------

Result<ProducerIdBlock> KafkaStore::claim_producer_id_block(int32_t broker_id, int64_t block_size) {
  if (block_size <= 0) return std::make_error_code(std::errc::invalid_argument);
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto node = store_.get(paths::kLatestProducerIdBlock);
    if (!node && is(node.error(), CoordErrc::kNoNode)) {
      auto c = store_.create(paths::kLatestProducerIdBlock, {}, CreateMode::kPersistent);
      if (!c && !is(c.error(), CoordErrc::kNodeExists)) return c.error();
      continue;
    }
    if (!node) return node.error();
    ProducerIdBlock next{broker_id, 0, block_size - 1};
    if (!node->data.empty()) {
      auto prev = decode_producer_id_block(ByteView(node->data));
      if (!prev) return prev.error();
      // Producer ids are int64 and never reused: running out is an error
      // (Kafka's "exhausted all producerIds"), never a wrap to negative ids.
      if (prev->end < -1 || prev->end > INT64_MAX - block_size) {
        return std::make_error_code(std::errc::value_too_large);
      }
      next.start = prev->end + 1;
      next.end = next.start + block_size - 1;
    }
    auto r = store_.set(paths::kLatestProducerIdBlock, view(encode_producer_id_block(next)), node->stat.version);
    if (r) return next;
    if (!is(r.error(), CoordErrc::kBadVersion)) return r.error();
  }
  return CoordErrc::kBadVersion;
}

}  // namespace keel::coord
