#pragma once
// Client quota enforcement (issue 23; Kafka's ClientQuotaManager family:
// KIP-13 byte rates, KIP-124 request percentage, KIP-219 throttling).
//
// Who is measured together: for each quota key, the entity whose value
// applies to (user, client id) by Kafka's eight-level precedence
// (security/client_quota.h) names the group, as Kafka's default quota
// callback tags its sensors: (user, client) for the (user, client-id)
// levels, (user, "") for the user levels, ("", client) for the client-id
// levels and ("", client) when no quota applies. All connections of a group
// share one sensor on this broker (no cluster-wide accounting).
//
// What is measured: producer_byte_rate the size of each produce request,
// recorded after its append; consumer_byte_rate the size of each consumer
// fetch response (a throttled fetch is answered empty and its bytes are
// taken back); request_percentage the handler time of every request as a
// percentage of one thread's time. Replica fetches, the controller's requests
// and in-process requests are never measured.
//
// How a client is held back (KIP-219): the response goes at once with
// throttle_time_ms, then the connection reads no further request for that
// long (net::ConnectionState::mute_until_ms). A request version older than
// KIP-219 (whose client does not wait by itself) gets its response delayed by
// the throttle time instead, the connection muted as long.
//
// A quota change (AlterClientQuotas, or another broker's through the store)
// applies from the next request: the bound is looked up per request, the
// measured history kept. Sensors idle for an hour are dropped.
//
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "net/server.h"
#include "security/client_quota.h"
#include "server/quota_rate.h"

namespace keel::metrics {
class Registry;
}

namespace keel::server {

struct Services;
struct RequestContext;

// One request's part in quota enforcement, from the router to the handler
// (RequestContext::quota) and back to the response.
struct RequestQuota {
  std::string user;       // the principal's name ("ANONYMOUS" before authentication)
  std::string client_id;
  int64_t request_bytes = 0;  // the whole request, header included
  int64_t started_ns = 0;     // steady_clock, when the router took the request
  std::shared_ptr<net::ConnectionState> connection;
  // The longest throttle decided for this request so far, in ms.
  std::atomic<int64_t> throttle_ms{0};
  void throttle(int64_t ms);
};

class QuotaThrottler {
 public:
  // Sensors unused this long are dropped (Kafka: one hour).
  static constexpr int64_t kInactiveSensorMs = 3600 * 1000;

  // `clock`: monotonic milliseconds (steady_clock when empty).
  QuotaThrottler(const security::QuotaConfigCache& quotas, QuotaWindow window,
                 std::function<int64_t()> clock = {}, int64_t inactive_sensor_ms = kInactiveSensorMs);
  ~QuotaThrottler();

  // A produce request was appended: its bytes count against
  // producer_byte_rate. Returns the throttle time (0: within the quota) and
  // mutes the connection for it.
  int64_t record_produce(RequestQuota& q);
  // A consumer fetch would send `response_bytes`. Over consumer_byte_rate:
  // the throttle time, and the bytes are taken back (the caller answers
  // empty). The connection is muted for the throttle time.
  int64_t record_fetch(RequestQuota& q, int64_t response_bytes);
  // A request's handler time, against request_percentage (percent of one
  // thread's time). The connection is muted for the throttle time, which is
  // at most one quota window, as Kafka bounds it.
  int64_t record_request_time(RequestQuota& q, int64_t handler_ns);
  // controller_mutation_rate (KIP-599): whether the group's token bucket is
  // in debt, so that a strict request's next topic is refused.
  bool mutations_exceeded(RequestQuota& q);
  // Partitions created or deleted: taken from the bucket; the throttle time
  // is the debt's wait (the connection is muted for it).
  int64_t record_mutations(RequestQuota& q, int64_t partitions);

  // Kafka's quota sensors as metrics: kafka.server type={Produce,Fetch,Request},
  // byte-rate / request-time and throttle-time, by user and client-id.
  void register_metrics(metrics::Registry& registry);

  // For tests and metrics: the measured rate (per second) and the average
  // throttle time of a group's sensor; nullopt when it does not exist.
  struct SensorView {
    double rate = 0;
    double throttle_time_ms = 0;
  };
  std::optional<SensorView> sensor(security::QuotaKey key, std::string_view user_tag,
                                   std::string_view client_tag);
  size_t sensor_count() const;
  // The bound of `key` for the request's (user, client id) times the span of
  // samples - 1 windows: what may be recorded at once; nullopt without a quota.
  std::optional<double> max_value_in_window(security::QuotaKey key, const RequestQuota& q) const;
  // Whether any client quota is set: without one nothing is measured.
  bool active() const { return !quotas_.empty(); }

 private:
  struct Sensor;
  using SensorKey = std::tuple<security::QuotaKey, std::string, std::string>;
  // The group's sensor (created on first use) and its bound, if any.
  std::pair<std::shared_ptr<Sensor>, std::optional<double>> resolve(security::QuotaKey key, const RequestQuota& q);
  int64_t record(security::QuotaKey key, RequestQuota& q, double value, bool unrecord_if_throttled,
                 int64_t max_throttle_ms);
  void expire_idle(int64_t now_ms);
  int64_t now_ms() const;

  const security::QuotaConfigCache& quotas_;
  const QuotaWindow window_;
  std::function<int64_t()> clock_;
  const int64_t inactive_ms_;
  mutable std::shared_mutex mu_;
  std::map<SensorKey, std::shared_ptr<Sensor>> sensors_;
  std::atomic<int64_t> next_expiry_ms_{0};
};

// Whether clients of this version of the API wait out throttle_time_ms by
// themselves (KIP-219; Kafka's shouldClientThrottle), so the broker answers
// at once; otherwise it delays the response.
bool client_throttles(int16_t api_key, int16_t api_version);

// Whether requests of this API are measured against request_percentage:
// not the controller's and brokers' requests, nor SASL and ApiVersions.
bool request_quota_applies(int16_t api_key);

// The per-request quota handle for a request from `conn` (null when no
// throttler or the connection is the broker's own), and `done` wrapped to
// apply its throttle to the response: throttle_time_ms written into the
// response where the API's first field is it, and for old versions the
// answer delayed.
std::shared_ptr<RequestQuota> begin_request_quota(QuotaThrottler* throttler, const net::ConnectionInfo& conn,
                                                  std::string_view principal, std::string_view client_id,
                                                  int16_t api_key, int16_t api_version, int64_t request_bytes,
                                                  std::function<void(net::Response)>& done);

// controller_mutation_rate for one CreateTopics, CreatePartitions or
// DeleteTopics request (KIP-599). Versions that know
// THROTTLING_QUOTA_EXCEEDED (CreateTopics v6+, CreatePartitions v3+,
// DeleteTopics v5+) are strict: once the quota is used up the remaining
// topics are refused with it. Older versions are permissive: everything is
// done, and the client is throttled by the debt.
class ControllerMutationQuota {
 public:
  explicit ControllerMutationQuota(const RequestContext& ctx);
  // False: refuse this topic with THROTTLING_QUOTA_EXCEEDED.
  bool admits();
  // The topic's partitions were created or deleted.
  void record(int64_t partitions);

 private:
  QuotaThrottler* throttler_;
  RequestQuota* quota_;
  bool strict_;
};

// The handlers' calls (null `q` or no throttler: 0). A produce request was
// appended: its bytes count against producer_byte_rate and, unless acks=0
// (Kafka exempts those, which get no response), its handler time so far
// against request_percentage, here rather than in end_request_quota. The
// answer is the larger throttle time, for throttle_time_ms (Kafka's
// max(bandwidth, request) throttle).
int32_t throttle_produce(const Services& services, RequestQuota* q, int16_t acks);
// A consumer fetch's answer would be `response_bytes`: 0, or the throttle
// time, and the fetch is answered empty (the router writes the time).
int64_t throttle_consumer_fetch(const Services& services, RequestQuota* q, int64_t response_bytes);

// The most one consumer fetch may return: consumer_byte_rate's worth of
// samples - 1 windows (Kafka's getMaxValueInQuotaWindow), so that an answer
// is never too big to fit the quota at all; INT32_MAX without a quota.
int32_t consumer_fetch_max_bytes(const Services& services, RequestQuota* q);

// After the handler returned: its time counts against request_percentage
// (for the APIs request_quota_applies names; Produce records its own in
// throttle_produce). Null `q` or throttler: nothing.
void end_request_quota(QuotaThrottler* throttler, RequestQuota* q, int16_t api_key);

}  // namespace keel::server
