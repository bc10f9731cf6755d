#include "cluster/metadata_cache.h"

#include <algorithm>

namespace keel::cluster {

const TopicInfo* ClusterSnapshot::topic(const std::string& name) const {
  auto it = topics.find(name);
  return it == topics.end() ? nullptr : &it->second;
}

const TopicInfo* ClusterSnapshot::topic(const protocol::Uuid& id) const {
  auto it = topic_names.find(id);
  return it == topic_names.end() ? nullptr : topic(it->second);
}

const PartitionInfo* ClusterSnapshot::partition(const std::string& name, int32_t p) const {
  const TopicInfo* t = topic(name);
  if (!t || p < 0 || static_cast<size_t>(p) >= t->partitions.size()) return nullptr;
  return &t->partitions[static_cast<size_t>(p)];
}

const EndpointInfo* ClusterSnapshot::endpoint(int32_t broker, const std::string& listener_name) const {
  auto b = brokers.find(broker);
  if (b == brokers.end()) return nullptr;
  for (const auto& e : b->second.endpoints) {
    if (e.listener_name == listener_name) return &e;
  }
  return nullptr;
}

MetadataCache::MetadataCache() : snapshot_(std::make_shared<ClusterSnapshot>()) {}

std::shared_ptr<const ClusterSnapshot> MetadataCache::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

uint64_t MetadataCache::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

// The lock is held while the copy is made, so two writers never lose each
// other's change; readers only wait for the pointer swap.
template <typename F>
void MetadataCache::modify(F&& f) {
  {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<ClusterSnapshot>(*snapshot_);
    f(*next);
    snapshot_ = std::move(next);
    ++version_;
  }
  if (on_change_) on_change_();
}

void MetadataCache::set_brokers(std::map<int32_t, BrokerInfo> brokers, int32_t controller_id) {
  modify([&](ClusterSnapshot& s) {
    s.brokers = std::move(brokers);
    s.controller_id = controller_id;
  });
}

void MetadataCache::put_topic(TopicInfo topic) {
  modify([&](ClusterSnapshot& s) {
    if (auto old = s.topics.find(topic.name); old != s.topics.end()) s.topic_names.erase(old->second.id);
    if (!topic.id.is_zero()) s.topic_names[topic.id] = topic.name;
    std::string name = topic.name;
    s.topics[name] = std::move(topic);
  });
}

void MetadataCache::remove_topic(const std::string& name) {
  modify([&](ClusterSnapshot& s) {
    auto it = s.topics.find(name);
    if (it == s.topics.end()) return;
    s.topic_names.erase(it->second.id);
    s.topics.erase(it);
  });
}

void MetadataCache::put_partition(const std::string& topic, const PartitionInfo& p) {
  modify([&](ClusterSnapshot& s) {
    auto it = s.topics.find(topic);
    if (it == s.topics.end() || p.partition < 0) return;
    auto& parts = it->second.partitions;
    if (static_cast<size_t>(p.partition) >= parts.size()) parts.resize(static_cast<size_t>(p.partition) + 1);
    parts[static_cast<size_t>(p.partition)] = p;
  });
}

void MetadataCache::apply_update(std::map<int32_t, BrokerInfo> brokers, int32_t controller_id,
                                 const std::vector<TopicInfo>& topics) {
  modify([&](ClusterSnapshot& s) {
    s.brokers = std::move(brokers);
    s.controller_id = controller_id;
    s.from_controller = true;
    for (const TopicInfo& update : topics) {
      const bool deleting = std::any_of(update.partitions.begin(), update.partitions.end(),
                                        [](const PartitionInfo& p) { return p.leader == -2; });
      auto it = s.topics.find(update.name);
      if (deleting) {
        if (it != s.topics.end()) {
          s.topic_names.erase(it->second.id);
          s.topics.erase(it);
        }
        continue;
      }
      if (it == s.topics.end()) {
        TopicInfo fresh;
        fresh.name = update.name;
        it = s.topics.emplace(update.name, std::move(fresh)).first;
      }
      TopicInfo& t = it->second;
      if (!update.id.is_zero() && update.id != t.id) {
        s.topic_names.erase(t.id);
        t.id = update.id;
        s.topic_names[t.id] = t.name;
      }
      t.internal = update.internal;
      for (const PartitionInfo& p : update.partitions) {
        if (p.partition < 0) continue;
        if (static_cast<size_t>(p.partition) >= t.partitions.size()) {
          const size_t from = t.partitions.size();
          t.partitions.resize(static_cast<size_t>(p.partition) + 1);
          // Partitions not described yet have no leader.
          for (size_t i = from; i < t.partitions.size(); ++i) t.partitions[i].partition = static_cast<int32_t>(i);
        }
        t.partitions[static_cast<size_t>(p.partition)] = p;
      }
    }
  });
}

}  // namespace keel::cluster
