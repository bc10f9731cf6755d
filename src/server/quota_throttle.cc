#include "server/quota_throttle.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/bytes.h"
#include "common/log.h"
#include "metrics/registry.h"
#include "protocol/generated/api.h"
#include "server/request_context.h"
#include "server/services.h"

namespace keel::server {
namespace {

using security::QuotaKey;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("quota");
  return l;
}

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The sensor tags of the group an entity heads, as Kafka's default quota
// callback names them (quotaMetricTags).
std::pair<std::string, std::string> group_tags(const std::optional<security::ClientQuotaEntity>& source,
                                               std::string_view user, std::string_view client_id) {
  if (!source) return {"", std::string(client_id)};
  const bool has_user = source->user.present;
  const bool has_client = source->client_id.present;
  if (has_user && has_client) return {std::string(user), std::string(client_id)};
  if (has_user) return {std::string(user), ""};
  return {"", std::string(client_id)};
}

// The first version of each API (by key) whose clients wait out
// throttle_time_ms themselves (KIP-219, Kafka 2.0); APIs added since throttle
// on the client from v0. -1: the API has no throttle time.
constexpr int16_t kClientThrottleFrom[] = {
    6,  8,  3,  6,  -1, -1, -1, -1, 4,  4,  // 0-9: Produce .. OffsetFetch
    2,  3,  2,  2,  2,  2,  2,  -1, 2,  3,  // 10-19: FindCoordinator .. CreateTopics
    2,  1,  1,  2,  1,  1,  1,  -1, 1,  1,  // 20-29: DeleteTopics .. DescribeAcls
    1,  1,  2,  1,  1,  1,  -1, 1,  1,  1,  // 30-39: CreateAcls .. RenewDelegationToken
    1,  1,  1,                              // 40-42: ExpireDelegationToken .. DeleteGroups
};

// The responses whose first field is throttle_time_ms, and from which
// version (protocol JSON); -1: not first, or none.
constexpr int16_t kThrottleFirstFrom[] = {
    -1, 1,  2,  3,  -1, -1, -1, -1, 3,  1,  // 0-9 (OffsetFetch: first from v3)
    1,  2,  1,  1,  1,  1,  1,  -1, -1, 2,  // 10-19
    1,  0,  0,  2,  0,  0,  0,  -1, 0,  0,  // 20-29
    0,  0,  0,  0,  0,  0,  -1, 0,  -1, -1, // 30-39
    -1, -1, 0,  0,  0,  0,  0,  -1, 0,  0,  // 40-49
    0,  0,                                  // 50-51
};

}  // namespace

void RequestQuota::throttle(int64_t ms) {
  if (ms <= 0) return;
  int64_t cur = throttle_ms.load();
  while (cur < ms && !throttle_ms.compare_exchange_weak(cur, ms)) {
  }
  if (!connection) return;
  const int64_t until = steady_ms() + ms;
  int64_t muted = connection->mute_until_ms.load();
  while (muted < until && !connection->mute_until_ms.compare_exchange_weak(muted, until)) {
  }
}

bool client_throttles(int16_t api_key, int16_t api_version) {
  if (api_key < 0) return false;
  if (static_cast<size_t>(api_key) >= std::size(kClientThrottleFrom)) return true;
  const int16_t from = kClientThrottleFrom[api_key];
  return from >= 0 && api_version >= from;
}

bool request_quota_applies(int16_t api_key) {
  using protocol::ApiKey;
  switch (static_cast<ApiKey>(api_key)) {
    case ApiKey::kLeaderAndIsr:
    case ApiKey::kStopReplica:
    case ApiKey::kUpdateMetadata:
    case ApiKey::kControlledShutdown:
    case ApiKey::kAlterPartition:
    case ApiKey::kSaslHandshake:
    case ApiKey::kSaslAuthenticate:
    case ApiKey::kApiVersions:
      return false;
    default:
      return true;
  }
}

struct QuotaThrottler::Sensor {
  explicit Sensor(QuotaWindow w) : window(w), value(w), throttle_time(w) {}
  // controller_mutation_rate's bucket at `bound`: full when first used, as
  // Kafka's starts; a changed quota keeps the balance.
  TokenBucket& bucket_at(double bound) {
    if (!bucket) bucket.emplace(window, bound);
    if (bucket->rate() != bound) bucket->set_rate(bound);
    return *bucket;
  }
  const QuotaWindow window;
  std::mutex mu;
  SampledStat value;          // bytes, or percent of a thread's time
  SampledStat throttle_time;  // the throttle times given, for the average
  std::optional<TokenBucket> bucket;
};

QuotaThrottler::QuotaThrottler(const security::QuotaConfigCache& quotas, QuotaWindow window,
                               std::function<int64_t()> clock, int64_t inactive_sensor_ms)
    : quotas_(quotas), window_(window), clock_(std::move(clock)), inactive_ms_(inactive_sensor_ms) {}

QuotaThrottler::~QuotaThrottler() = default;

int64_t QuotaThrottler::now_ms() const { return clock_ ? clock_() : steady_ms(); }

std::pair<std::shared_ptr<QuotaThrottler::Sensor>, std::optional<double>> QuotaThrottler::resolve(
    QuotaKey key, const RequestQuota& q) {
  std::optional<double> bound;
  std::optional<security::ClientQuotaEntity> source;
  if (!quotas_.empty()) {
    source = quotas_.source(q.user, q.client_id, key);
    if (source) bound = quotas_.effective(q.user, q.client_id).get(key);
  }
  auto [user_tag, client_tag] = group_tags(source, q.user, q.client_id);
  SensorKey sk{key, std::move(user_tag), std::move(client_tag)};
  {
    std::shared_lock lock(mu_);
    if (auto it = sensors_.find(sk); it != sensors_.end()) return {it->second, bound};
  }
  std::unique_lock lock(mu_);
  auto& slot = sensors_[sk];
  if (!slot) slot = std::make_shared<Sensor>(window_);
  return {slot, bound};
}

int64_t QuotaThrottler::record(QuotaKey key, RequestQuota& q, double value, bool unrecord_if_throttled,
                               int64_t max_throttle_ms) {
  const int64_t now = now_ms();
  expire_idle(now);
  auto [sensor, bound] = resolve(key, q);
  int64_t throttle = 0;
  {
    std::lock_guard lock(sensor->mu);
    sensor->value.record(value, now);
    if (bound) {
      const double observed = sensor->value.rate(now);
      throttle = throttle_time_ms(observed, *bound, sensor->value.span_ms(now));
      if (max_throttle_ms > 0) throttle = std::min(throttle, max_throttle_ms);
    }
    if (throttle > 0) {
      sensor->throttle_time.record(static_cast<double>(throttle), now);
      if (unrecord_if_throttled) sensor->value.record(-value, now);
    }
  }
  if (throttle > 0) {
    log()->debug("throttling user '{}' client '{}' for {} ms ({} above {})", q.user, q.client_id, throttle,
                 security::quota_key_name(key), *bound);
    q.throttle(throttle);
  }
  return throttle;
}

int64_t QuotaThrottler::record_produce(RequestQuota& q) {
  return record(QuotaKey::kProducerByteRate, q, static_cast<double>(q.request_bytes), false, 0);
}

int64_t QuotaThrottler::record_fetch(RequestQuota& q, int64_t response_bytes) {
  return record(QuotaKey::kConsumerByteRate, q, static_cast<double>(response_bytes), true, 0);
}

int64_t QuotaThrottler::record_request_time(RequestQuota& q, int64_t handler_ns) {
  // Percent of one thread's second: 1 ms of handling in a second is 0.1 %.
  const double percent = static_cast<double>(handler_ns) * 100.0 / 1e9;
  return record(QuotaKey::kRequestPercentage, q, percent, false, window_.window_ms);
}

bool QuotaThrottler::mutations_exceeded(RequestQuota& q) {
  auto [sensor, bound] = resolve(QuotaKey::kControllerMutationRate, q);
  if (!bound) return false;
  std::lock_guard lock(sensor->mu);
  return sensor->bucket_at(*bound).tokens(now_ms()) < 0;
}

int64_t QuotaThrottler::record_mutations(RequestQuota& q, int64_t partitions) {
  const int64_t now = now_ms();
  auto [sensor, bound] = resolve(QuotaKey::kControllerMutationRate, q);
  int64_t throttle = 0;
  {
    std::lock_guard lock(sensor->mu);
    sensor->value.record(static_cast<double>(partitions), now);  // mutation-rate, and keeps the sensor alive
    if (bound) {
      TokenBucket& bucket = sensor->bucket_at(*bound);
      bucket.record(static_cast<double>(partitions), now);
      throttle = bucket.throttle_time_ms(now);
    }
    if (throttle > 0) sensor->throttle_time.record(static_cast<double>(throttle), now);
  }
  q.throttle(throttle);
  return throttle;
}

void QuotaThrottler::expire_idle(int64_t now_ms) {
  int64_t due = next_expiry_ms_.load(std::memory_order_relaxed);
  if (now_ms < due) return;
  if (!next_expiry_ms_.compare_exchange_strong(due, now_ms + std::max<int64_t>(1000, inactive_ms_ / 10))) return;
  std::unique_lock lock(mu_);
  std::erase_if(sensors_, [&](const auto& entry) {
    std::lock_guard sensor_lock(entry.second->mu);
    const int64_t last = entry.second->value.last_record_ms();
    return last >= 0 && now_ms - last >= inactive_ms_;
  });
}

std::optional<QuotaThrottler::SensorView> QuotaThrottler::sensor(QuotaKey key, std::string_view user_tag,
                                                                 std::string_view client_tag) {
  std::shared_ptr<Sensor> s;
  {
    std::shared_lock lock(mu_);
    auto it = sensors_.find(SensorKey{key, std::string(user_tag), std::string(client_tag)});
    if (it == sensors_.end()) return std::nullopt;
    s = it->second;
  }
  const int64_t now = now_ms();
  std::lock_guard lock(s->mu);
  return SensorView{s->value.rate(now), s->throttle_time.average(now)};
}

std::optional<double> QuotaThrottler::max_value_in_window(QuotaKey key, const RequestQuota& q) const {
  if (quotas_.empty()) return std::nullopt;
  auto bound = quotas_.effective(q.user, q.client_id).get(key);
  if (!bound) return std::nullopt;
  return *bound * std::max(1, window_.samples - 1) * static_cast<double>(window_.window_ms) / 1000.0;
}

size_t QuotaThrottler::sensor_count() const {
  std::shared_lock lock(mu_);
  return sensors_.size();
}

void QuotaThrottler::register_metrics(metrics::Registry& registry) {
  struct Family {
    QuotaKey key;
    const char* type;
    const char* value_name;
    const char* value_help;
  };
  static constexpr Family kFamilies[] = {
      {QuotaKey::kProducerByteRate, "Produce", "byte-rate", "Bytes/s of produce requests, by quota group"},
      {QuotaKey::kConsumerByteRate, "Fetch", "byte-rate", "Bytes/s of consumer fetch responses, by quota group"},
      {QuotaKey::kRequestPercentage, "Request", "request-time",
       "Request handler time as a percentage of one thread, by quota group"},
      {QuotaKey::kControllerMutationRate, "ControllerMutation", "mutation-rate",
       "Partitions created or deleted per second, by quota group"},
  };
  for (const Family& f : kFamilies) {
    for (bool throttle : {false, true}) {
      metrics::Desc desc;
      desc.kind = metrics::Kind::kGauge;
      desc.domain = "kafka.server";
      desc.type = f.type;
      desc.name = throttle ? "throttle-time" : f.value_name;
      desc.help = throttle ? "Average throttle time in ms given to the quota group" : f.value_help;
      desc.labels = {"user", "client-id"};
      registry.callback(desc, [this, key = f.key, throttle](const metrics::Emit& emit) {
        std::vector<std::pair<SensorKey, std::shared_ptr<Sensor>>> wanted;
        {
          std::shared_lock lock(mu_);
          for (const auto& [k, s] : sensors_) {
            if (std::get<0>(k) == key) wanted.emplace_back(k, s);
          }
        }
        const int64_t now = now_ms();
        for (auto& [k, s] : wanted) {
          std::lock_guard lock(s->mu);
          const double v = throttle ? s->throttle_time.average(now) : s->value.rate(now);
          emit({std::get<1>(k), std::get<2>(k)}, v);
        }
      });
    }
  }
}

std::shared_ptr<RequestQuota> begin_request_quota(QuotaThrottler* throttler, const net::ConnectionInfo& conn,
                                                  std::string_view principal, std::string_view client_id,
                                                  int16_t api_key, int16_t api_version, int64_t request_bytes,
                                                  std::function<void(net::Response)>& done) {
  // No quota set anywhere: nothing to measure (the common case costs nothing).
  if (!throttler || conn.in_process || !throttler->active()) return nullptr;
  auto q = std::make_shared<RequestQuota>();
  constexpr std::string_view kUserPrefix = "User:";
  q->user = principal.starts_with(kUserPrefix) ? std::string(principal.substr(kUserPrefix.size()))
                                               : std::string(principal);
  q->client_id = std::string(client_id);
  q->request_bytes = request_bytes;
  q->started_ns = steady_ns();
  q->connection = conn.state;
  const bool patch = static_cast<size_t>(api_key) < std::size(kThrottleFirstFrom) &&
                     kThrottleFirstFrom[api_key] >= 0 && api_version >= kThrottleFirstFrom[api_key];
  const bool by_client = client_throttles(api_key, api_version);
  const int header_bytes = protocol::response_header_version(api_key, api_version) >= 1 ? 5 : 4;
  done = [q, patch, by_client, header_bytes, inner = std::move(done)](net::Response response) {
    const int64_t throttle = q->throttle_ms.load();
    if (throttle > 0 && !response.chunks.empty()) {
      // The size prefix, the header (correlation id, empty tagged fields),
      // then throttle_time_ms: the largest throttle decided for the request.
      Bytes& head = response.chunks.front();
      const size_t at = 4 + static_cast<size_t>(header_bytes);
      if (patch && head.size() >= at + 4) {
        const int32_t written = load_be<int32_t>(head.data() + at);
        store_be<int32_t>(head.data() + at,
                          std::max<int32_t>(written, static_cast<int32_t>(std::min<int64_t>(throttle, INT32_MAX))));
      }
      if (!by_client) response.delay_ms = std::max(response.delay_ms, throttle);
    }
    inner(std::move(response));
  };
  return q;
}

ControllerMutationQuota::ControllerMutationQuota(const RequestContext& ctx)
    : throttler_(ctx.services.throttler), quota_(ctx.quota.get()) {
  using protocol::ApiKey;
  const int16_t v = ctx.api_version();
  switch (static_cast<ApiKey>(ctx.header.request_api_key)) {
    case ApiKey::kCreateTopics: strict_ = v >= 6; break;
    case ApiKey::kCreatePartitions: strict_ = v >= 3; break;
    case ApiKey::kDeleteTopics: strict_ = v >= 5; break;
    default: strict_ = false; break;
  }
}

bool ControllerMutationQuota::admits() {
  return !strict_ || !throttler_ || !quota_ || !throttler_->mutations_exceeded(*quota_);
}

void ControllerMutationQuota::record(int64_t partitions) {
  if (throttler_ && quota_ && partitions > 0) throttler_->record_mutations(*quota_, partitions);
}

int32_t throttle_produce(const Services& services, RequestQuota* q, int16_t acks) {
  if (!services.throttler || !q) return 0;
  const int64_t bytes_throttle = services.throttler->record_produce(*q);
  int64_t request_throttle = 0;
  if (acks != 0) {
    request_throttle = services.throttler->record_request_time(*q, std::max<int64_t>(0, steady_ns() - q->started_ns));
  }
  return static_cast<int32_t>(std::min<int64_t>(std::max(bytes_throttle, request_throttle), INT32_MAX));
}

int64_t throttle_consumer_fetch(const Services& services, RequestQuota* q, int64_t response_bytes) {
  if (!services.throttler || !q) return 0;
  return services.throttler->record_fetch(*q, response_bytes);
}

int32_t consumer_fetch_max_bytes(const Services& services, RequestQuota* q) {
  if (!services.throttler || !q) return INT32_MAX;
  auto most = services.throttler->max_value_in_window(QuotaKey::kConsumerByteRate, *q);
  if (!most) return INT32_MAX;
  return static_cast<int32_t>(std::clamp(*most, 1.0, static_cast<double>(INT32_MAX)));
}

void end_request_quota(QuotaThrottler* throttler, RequestQuota* q, int16_t api_key) {
  if (!throttler || !q || !request_quota_applies(api_key)) return;
  if (api_key == static_cast<int16_t>(protocol::ApiKey::kProduce)) return;  // throttle_produce recorded it
  throttler->record_request_time(*q, std::max<int64_t>(0, steady_ns() - q->started_ns));
}

}  // namespace keel::server
