// RequestMetrics ErrorsPerSec and ReplicaFetcherManager MaxLag.
//
// ErrorsPerSec{request,error}: Kafka counts every error code a response
// carries, NONE included (dashboards filter error!="NONE"). Keel reads the
// response's top-level error_code from the encoded bytes, for the APIs whose
// response has one right after the header or after throttle_time_ms (table
// below, derived from the protocol JSON in shared/kafka-protocol/messages).
// Responses whose errors sit per topic or partition (Produce, Metadata,
// ListOffsets, OffsetCommit, CreateTopics, ...) are not counted here; their
// failures show in BrokerTopicMetrics Failed*RequestsPerSec.

#include <algorithm>

#include "cluster/replica_manager.h"
#include "protocol/error_code.h"
#include "protocol/generated/api.h"
#include "server/broker_metrics.h"

namespace keel::server {
namespace {

using metrics::Desc;
using metrics::Kind;

struct TopLevelError {
  int16_t api_key;
  int16_t throttle_from;  // throttle_time_ms precedes error_code from this version; -1: never
  int16_t from;           // the versions that have the top-level error_code
  int16_t to;
};

constexpr int16_t kAll = INT16_MAX;

// From the response schemas: a top-level ErrorCode preceded by nothing or by
// ThrottleTimeMs only.
constexpr TopLevelError kTopLevelErrors[] = {
    {1, 1, 7, kAll},   {4, -1, 0, kAll},  {5, -1, 0, kAll},  {6, -1, 0, kAll},  {7, -1, 0, kAll},
    {10, 1, 0, 3},     {11, 2, 0, kAll},  {12, 1, 0, kAll},  {13, 1, 0, kAll},  {14, 1, 0, kAll},
    {16, 1, 0, kAll},  {17, -1, 0, kAll}, {18, -1, 0, kAll}, {22, 0, 0, kAll},  {24, 0, 4, kAll},
    {25, 0, 0, kAll},  {26, 0, 0, kAll},  {29, 0, 0, kAll},  {35, 0, 3, kAll},  {36, -1, 0, kAll},
    {38, -1, 0, kAll}, {39, -1, 0, kAll}, {40, -1, 0, kAll}, {41, -1, 0, kAll}, {43, 0, 1, kAll},
    {45, 0, 0, kAll},  {46, 0, 0, kAll},  {47, -1, 0, kAll}, {48, 0, 0, kAll},  {50, 0, 0, kAll},
    {56, 0, 0, kAll},  {57, 0, 0, kAll},  {60, 0, 0, kAll},  {62, 0, 0, kAll},  {63, 0, 0, kAll},
    {64, 0, 0, kAll},  {66, 0, 0, kAll},  {67, 0, 0, kAll},  {68, 0, 0, kAll},  {71, 0, 0, kAll},
    {72, 0, 0, kAll},
};

// The byte at `at` of the response's chunks (size prefix included), -1 past the end.
int byte_at(const net::Response& r, size_t at) {
  for (const Bytes& c : r.chunks) {
    if (at < c.size()) return c[at];
    at -= c.size();
  }
  return -1;
}

}  // namespace

std::optional<int16_t> top_level_error(int16_t api_key, int16_t api_version, const net::Response& response) {
  const auto* e = std::find_if(std::begin(kTopLevelErrors), std::end(kTopLevelErrors),
                               [&](const TopLevelError& t) { return t.api_key == api_key; });
  if (e == std::end(kTopLevelErrors) || api_version < e->from || api_version > e->to) return std::nullopt;
  // Size prefix, correlation id, the flexible header's (empty) tagged fields.
  size_t at = 4 + 4 + (protocol::response_header_version(api_key, api_version) >= 1 ? 1 : 0);
  if (e->throttle_from >= 0 && api_version >= e->throttle_from) at += 4;
  const int hi = byte_at(response, at);
  const int lo = byte_at(response, at + 1);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<int16_t>((hi << 8) | lo);
}

void BrokerMetrics::register_error_metrics() {
  Desc d;
  d.kind = Kind::kMeter;
  d.domain = "kafka.network";
  d.type = "RequestMetrics";
  d.name = "ErrorsPerSec";
  d.help = "Responses by API and top-level error code (NONE included, as Kafka counts them).";
  d.labels = {"request", "error"};
  errors_ = &registry_.counter(d);

  Desc zk;
  zk.kind = Kind::kTimer;
  zk.domain = "kafka.server";
  zk.type = "ZooKeeperClientMetrics";
  zk.name = "ZooKeeperRequestLatencyMs";
  zk.help = "Time of one ZooKeeper request, in ms (quantiles of the last 30-60 s).";
  zk_latency_ = &registry_.timer(zk).with(metrics::LabelValues{});
}

void BrokerMetrics::response_errors(int16_t api_key, int16_t api_version, bool from_follower,
                                    const net::Response& response) {
  const auto error = top_level_error(api_key, api_version, response);
  if (!error || api_key < 0 || static_cast<size_t>(api_key) >= kFetchFollower) return;
  const size_t slot = api_key == 1 && from_follower ? kFetchFollower : static_cast<size_t>(api_key);
  if (*error == 0) {
    if (metrics::Counter* none = none_counts_[slot].load(std::memory_order_acquire)) {
      none->inc();
      return;
    }
  }
  std::lock_guard lock(errors_mu_);
  auto& counter = error_counts_[{slot, *error}];
  if (!counter) counter = &errors_->with({request_name(slot), std::string(protocol::error_name(*error))});
  if (*error == 0) none_counts_[slot].store(counter, std::memory_order_release);
  counter->inc();
}

void BrokerMetrics::register_fetcher_metrics() {
  Desc d;
  d.kind = Kind::kGauge;
  d.domain = "kafka.server";
  d.type = "ReplicaFetcherManager";
  d.name = "MaxLag";
  d.help = "Largest lag in messages of a partition this broker follows behind its leader's high watermark.";
  d.labels = {"clientId"};
  registry_.callback(d, [this](const metrics::Emit& emit) {
    int64_t lag = 0;
    // Under the sources lock: detach() waits for this read to end.
    with_sources([&](const Sources& s) {
      if (s.replicas) lag = s.replicas->fetcher_max_lag();
    });
    emit({"Replica"}, static_cast<double>(lag));
  });
}

}  // namespace keel::server
