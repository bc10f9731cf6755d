#include "server/lag_history.h"

#include <algorithm>
#include <chrono>

#include "common/thread_name.h"

namespace keel::server {

void LagHistory::record(int64_t now_ms, const std::vector<GroupLag>& lags) {
  std::lock_guard lock(mu_);
  std::map<std::string, std::deque<Sample>> next;
  for (const auto& g : lags) {
    if (next.size() >= kMaxGroups) break;
    auto it = groups_.find(g.group);
    std::deque<Sample> ring = it == groups_.end() ? std::deque<Sample>{} : std::move(it->second);
    ring.push_back({now_ms, g.lag, g.lag_seconds});
    while (ring.size() > kSamplesPerGroup) ring.pop_front();
    next.emplace(g.group, std::move(ring));
  }
  groups_ = std::move(next);
}

std::optional<std::vector<LagHistory::Sample>> LagHistory::samples(const std::string& group) const {
  std::lock_guard lock(mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  return std::vector<Sample>(it->second.begin(), it->second.end());
}

void LagHistory::start(Source source, int64_t interval_ms) {
  stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  sampler_ = std::thread([this, source = std::move(source), interval_ms] {
    set_thread_name("keel-lag-hist");
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      const auto lags = source();  // takes the metrics' own locks, not ours
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      record(now, lags);
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [this] { return stopping_; });
    }
  });
}

void LagHistory::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

std::vector<LagHistory::GroupLag> group_lags(const BrokerMetrics::LagSnapshot& snapshot) {
  std::map<std::string, LagHistory::GroupLag> by_group;
  for (const auto& g : snapshot.groups) by_group[g.group].group = g.group;
  for (const auto& o : snapshot.offsets) {
    auto& g = by_group[o.group];
    g.group = o.group;
    if (o.lag > 0) g.lag += o.lag;
    g.lag_seconds = std::max(g.lag_seconds, o.lag_seconds);
  }
  std::vector<LagHistory::GroupLag> out;
  out.reserve(by_group.size());
  for (auto& [name, g] : by_group) out.push_back(std::move(g));
  return out;
}

}  // namespace keel::server
