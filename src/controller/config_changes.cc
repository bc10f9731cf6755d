// Dynamic config changes (/config/changes), applied by every broker.

#include "controller/controller.h"

#include <algorithm>

#include "controller/internal.h"

namespace keel::controller {

using protocol::ErrorCode;
using cluster::AdminResult;
using namespace internal;

// --- config changes ---------------------------------------------------------------------

void Controller::process_config_changes() {
  const uint64_t gen = generation_;
  auto changes = store_.config_changes_after(last_config_change_, [this, gen](const coord::WatchEvent&) {
    post([this] { process_config_changes(); });
  });
  (void)gen;
  if (!changes) {
    log_store_error("cannot read config changes", changes.error());
    return;
  }
  bool brokers_changed = false;
  for (const auto& [seq, path] : *changes) {
    last_config_change_ = std::max(last_config_change_, seq);
    if (applied_here_.erase(seq) > 0) continue;  // applied when answered
    if (path.starts_with("brokers/")) {
      brokers_changed = true;
    } else if (path.starts_with("topics/")) {
      apply_topic_config(path.substr(7));
    }
  }
  // Those whose notification was purged unseen are done with too.
  applied_here_.erase(applied_here_.begin(), applied_here_.upper_bound(last_config_change_));
  if (brokers_changed) apply_broker_configs();
  if (is_controller_) (void)store_.purge_config_changes(options_.now_ms());
}

void Controller::apply_config(const std::string& entity_type, const std::string& name) {
  if (entity_type == "topics") {
    apply_topic_config(name);
  } else if (entity_type == "brokers") {
    apply_broker_configs();
  }
}

void Controller::apply_topic_config(const std::string& topic) {
  auto overrides = store_.entity_config("topics", topic);
  if (!overrides) {
    log_store_error("cannot read a topic's config overrides", overrides.error());
    return;
  }
  if (auto it = topics_.find(topic); it != topics_.end()) it->second.overrides = *overrides;
  local_.topic_config_changed(topic, *overrides);
}

void Controller::apply_broker_configs() {
  load_broker_configs();
  if (is_controller_) {
    for (const auto& [name, t] : topics_) local_.topic_config_changed(name, t.overrides);
    return;
  }
  // topics_ is kept only while controller (empty, or stale since this broker
  // resigned): the topics are the metadata cache's, their overrides the
  // store's, read together: one read after another took seconds at 10,000
  // topics on ZooKeeper, on the event thread, with the answering broker's
  // AlterConfigs waiting for it (kApplyConfigWaitMs).
  const auto snapshot = metadata_.snapshot();
  std::vector<std::string> names;
  names.reserve(snapshot->topics.size());
  for (const auto& [name, t] : snapshot->topics) names.push_back(name);
  const auto overrides = store_.entity_configs("topics", names);
  // A topic whose read failed keeps the config it had until it is next
  // applied; one line for all of them (a lost session fails every read).
  size_t failed = 0;
  size_t first_failed = 0;
  for (size_t k = 0; k < names.size(); ++k) {
    if (!overrides[k]) {
      if (failed++ == 0) first_failed = k;
      continue;
    }
    local_.topic_config_changed(names[k], *overrides[k]);
  }
  if (failed > 0) {
    log()->error("cannot read the config overrides of {} of {} topics, not re-applied (first: '{}': {})", failed,
                 names.size(), names[first_failed], overrides[first_failed].error().message());
  }
}

void Controller::load_broker_configs() {
  auto cluster_default = store_.entity_config("brokers", "<default>");
  auto own = store_.entity_config("brokers", std::to_string(options_.broker_id));
  if (!cluster_default || !own) {
    log_store_error("cannot read dynamic broker configs", !cluster_default ? cluster_default.error() : own.error());
    return;
  }
  local_.broker_config_changed(*cluster_default, *own);
}

}  // namespace keel::controller
