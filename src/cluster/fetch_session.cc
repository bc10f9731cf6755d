#include "cluster/fetch_session.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace keel::cluster {

using protocol::ErrorCode;

namespace {
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
int32_t next_epoch(int32_t epoch) { return epoch == INT32_MAX ? 1 : epoch + 1; }
}  // namespace

size_t FetchSession::size() const {
  std::lock_guard lock(mu_);
  return partitions_.size();
}

std::vector<bool> FetchSession::update(const FetchContext& ctx, const std::vector<FetchPartitionResult>& results) {
  std::lock_guard lock(mu_);
  std::vector<bool> include(ctx.partitions.size(), true);
  for (size_t i = 0; i < ctx.partitions.size() && i < results.size(); ++i) {
    auto it = partitions_.find(ctx.partitions[i].key);
    if (it == partitions_.end()) continue;
    Cached& c = it->second;
    const FetchPartitionResult& r = results[i];
    bool must = r.has_records || r.preferred_replica || r.diverging_epoch;
    if (c.high_watermark != r.high_watermark) must = true;
    if (c.log_start_offset != r.log_start_offset) must = true;
    if (c.last_stable_offset != r.last_stable_offset) must = true;
    c.high_watermark = r.high_watermark;
    c.log_start_offset = r.log_start_offset;
    c.last_stable_offset = r.last_stable_offset;
    if (r.error != ErrorCode::kNone) {
      // Always sent; and forget the HW so the partition is sent again once the error is gone.
      must = true;
      c.high_watermark = -1;
    }
    if (ctx.incremental) include[i] = must;
  }
  return include;
}

FetchSessionCache::FetchSessionCache(FetchSessionCacheOptions options)
    : options_(std::move(options)), rng_(std::random_device{}()) {
  if (!options_.clock) options_.clock = steady_ms;
}

size_t FetchSessionCache::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

bool FetchSessionCache::contains(int32_t id) const {
  std::lock_guard lock(mu_);
  return sessions_.contains(id);
}

// Called with mu_ held. Returns nullptr when the cache is full and nothing
// may be evicted for this session (the client then fetches without one).
std::shared_ptr<FetchSession> FetchSessionCache::create(std::vector<FetchPartitionRequest> partitions,
                                                        bool privileged, bool uses_topic_ids, int64_t now) {
  if (options_.max_slots == 0) return nullptr;
  if (sessions_.size() >= options_.max_slots) {
    // Kafka's eviction: a stale session first (idle past the eviction time,
    // least recently used); else a non-follower session smaller than this
    // one (any non-follower one for a follower's session).
    std::shared_ptr<FetchSession> victim;
    for (const auto& [id, s] : sessions_) {
      std::lock_guard slock(s->mu_);
      if (now - s->last_used_ms_ > options_.eviction_ms) {
        if (!victim || s->last_used_ms_ < victim->last_used_ms_) victim = s;
      }
    }
    if (!victim) {
      size_t best = SIZE_MAX;
      for (const auto& [id, s] : sessions_) {
        std::lock_guard slock(s->mu_);
        if (s->privileged_) continue;
        const size_t n = s->partitions_.size();
        if ((privileged || n < partitions.size()) && n < best) {
          best = n;
          victim = s;
        }
      }
    }
    if (!victim) return nullptr;
    sessions_.erase(victim->id_);
  }
  auto s = std::make_shared<FetchSession>();
  do {
    rng_ = rng_ * 1664525u + 1013904223u;
    s->id_ = static_cast<int32_t>(rng_ & 0x7fffffff);
  } while (s->id_ == kInvalidSessionId || sessions_.contains(s->id_));
  s->privileged_ = privileged;
  s->uses_topic_ids_ = uses_topic_ids;
  s->last_used_ms_ = now;
  s->next_epoch_ = 1;
  for (auto& p : partitions) {
    if (!s->partitions_.contains(p.key)) s->order_.push_back(p.key);
    s->partitions_[p.key].request = p;
  }
  sessions_[s->id_] = s;
  return s;
}

FetchContext FetchSessionCache::new_context(int16_t version, int32_t session_id, int32_t epoch,
                                            std::vector<FetchPartitionRequest> partitions,
                                            const std::vector<FetchPartitionKey>& forgotten, bool is_follower) {
  FetchContext ctx;
  const int64_t now = options_.clock();
  const bool uses_topic_ids = version >= 13;
  if (version < 7) {
    ctx.partitions = std::move(partitions);
    return ctx;
  }
  if (epoch == kFinalEpoch || epoch == kInitialEpoch) {
    std::lock_guard lock(mu_);
    if (session_id != kInvalidSessionId) sessions_.erase(session_id);
    if (epoch == kFinalEpoch) {
      // Sessionless: a full fetch with no session left behind.
      ctx.partitions = std::move(partitions);
      return ctx;
    }
    ctx.session = create(partitions, is_follower, uses_topic_ids, now);
    ctx.response_session_id = ctx.session ? ctx.session->id_ : kInvalidSessionId;
    ctx.partitions = std::move(partitions);
    return ctx;
  }

  std::shared_ptr<FetchSession> s;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(session_id);
    if (it != sessions_.end()) s = it->second;
  }
  if (!s) {
    ctx.error = ErrorCode::kFetchSessionIdNotFound;
    return ctx;
  }
  std::lock_guard slock(s->mu_);
  if (epoch != s->next_epoch_) {
    ctx.error = ErrorCode::kInvalidFetchSessionEpoch;
    return ctx;
  }
  if (uses_topic_ids != s->uses_topic_ids_) {
    ctx.error = ErrorCode::kFetchSessionTopicIdError;
    return ctx;
  }
  for (auto& p : partitions) {
    auto it = s->partitions_.find(p.key);
    if (it == s->partitions_.end()) {
      s->order_.push_back(p.key);
      s->partitions_[p.key].request = p;
    } else {
      it->second.request = p;
    }
  }
  for (const auto& key : forgotten) {
    if (s->partitions_.erase(key)) std::erase(s->order_, key);
  }
  s->next_epoch_ = next_epoch(epoch);
  s->last_used_ms_ = now;
  ctx.incremental = true;
  ctx.session = s;
  ctx.response_session_id = s->id_;
  ctx.partitions.reserve(s->order_.size());
  for (const auto& key : s->order_) ctx.partitions.push_back(s->partitions_[key].request);
  return ctx;
}

}  // namespace keel::cluster
